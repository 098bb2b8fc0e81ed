import EFTHF
import Foundation
import Testing

/// The archive readers (tar, gzip, ZIP) on archives made by Python's tarfile and zipfile, and
/// on hostile and damaged ones: every problem is one ``ArchiveError`` naming the member.
@Suite struct ArchiveTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// ../shared/reference/workspaces (or $EFTHF_REFERENCE_DIR/workspaces), or nil.
    static let reference: URL? = {
        let candidates = [ProcessInfo.processInfo.environment["EFTHF_REFERENCE_DIR"].map { URL(fileURLWithPath: $0) },
                          repository.deletingLastPathComponent().appendingPathComponent("shared/reference")].compactMap { $0 }
        return candidates.map { $0.appendingPathComponent("workspaces") }.first { FileManager.default.fileExists(atPath: $0.path) }
    }()

    /// Runs a Python script (tarfile, zipfile: the archivers' reference implementation) in a new
    /// directory and returns the directory.
    static func make(_ script: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efthf-archive-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import io, os, tarfile, zipfile, gzip, stat\n" + script]
        process.currentDirectoryURL = directory
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python3 failed making the test archives")
        return directory
    }

    static let members = """
        ws = b'{"channels": [], "measurements": [], "observations": [], "version": "1.0.0"}'
        files = {'lh/BkgOnly.json': ws, 'lh/README.md': b'# readme', 'lh/sub/x.json': b'[1, 2]'}
        def add_tar(t):
            d = tarfile.TarInfo('lh'); d.type = tarfile.DIRTYPE; t.addfile(d)
            for n, b in files.items():
                i = tarfile.TarInfo(n); i.size = len(b); t.addfile(i, io.BytesIO(b))
        """

    @Test("tar, tar.gz and zip made by Python give the same JSON members, and only those")
    func readsTheThreeFormats() throws {
        let d = try Self.make(Self.members + "\n" + """
            with tarfile.open('a.tar', 'w') as t: add_tar(t)
            with tarfile.open('a.tar.gz', 'w:gz') as t: add_tar(t)
            with tarfile.open('long.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT) as t:
                n = 'd' * 120 + '/BkgOnly.json'; i = tarfile.TarInfo(n); i.size = len(ws); t.addfile(i, io.BytesIO(ws))
            with tarfile.open('gnu.tar', 'w', format=tarfile.GNU_FORMAT) as t:
                n = 'e' * 120 + '/BkgOnly.json'; i = tarfile.TarInfo(n); i.size = len(ws); t.addfile(i, io.BytesIO(ws))
            with zipfile.ZipFile('a.zip', 'w', zipfile.ZIP_DEFLATED) as z:
                z.writestr('lh/', b'')
                for n, b in files.items(): z.writestr(n, b)
            with zipfile.ZipFile('stored.zip', 'w', zipfile.ZIP_STORED) as z:
                for n, b in files.items(): z.writestr(n, b)
            """)
        defer { try? FileManager.default.removeItem(at: d) }
        let expected = ["lh/BkgOnly.json": #"{"channels": [], "measurements": [], "observations": [], "version": "1.0.0"}"#, "lh/sub/x.json": "[1, 2]"]
        for (file, format) in [("a.tar", ArchiveFormat.tar), ("a.tar.gz", .tarGzip), ("a.zip", .zip), ("stored.zip", .zip)] {
            let result = try ArchiveReader.read(path: d.appendingPathComponent(file).path) { $0.hasSuffix(".json") }
            #expect(result.format == format, "\(file)")
            #expect(Dictionary(uniqueKeysWithValues: result.members.map { ($0.name, String(decoding: $0.data, as: UTF8.self)) }) == expected, "\(file)")
        }
        // Names over 100 bytes: a pax extended header, a GNU long name.
        let pax = try ArchiveReader.read(path: d.appendingPathComponent("long.tar.gz").path) { _ in true }
        #expect(pax.members.map(\.name) == [String(repeating: "d", count: 120) + "/BkgOnly.json"])
        let gnu = try ArchiveReader.read(path: d.appendingPathComponent("gnu.tar").path) { _ in true }
        #expect(gnu.members.map(\.name) == [String(repeating: "e", count: 120) + "/BkgOnly.json"])
    }

    /// The error reading `file` of `directory` throws, or nil when it reads.
    static func error(_ directory: URL, _ file: String, limits: ArchiveLimits = ArchiveLimits()) -> ArchiveError? {
        do { _ = try ArchiveReader.read(path: directory.appendingPathComponent(file).path, limits: limits) { _ in true }; return nil } catch { return error }
    }

    @Test("path traversal, absolute paths, links and devices are refused, naming the member")
    func refusesUnsafeMembers() throws {
        let d = try Self.make("""
            def tar(name, entry, data=b'{}'):
                with tarfile.open(name, 'w:gz') as t:
                    if entry.type == tarfile.REGTYPE: entry.size = len(data); t.addfile(entry, io.BytesIO(data))
                    else: t.addfile(entry)
            tar('dotdot.tar.gz', tarfile.TarInfo('lh/../../evil.json'))
            tar('absolute.tar.gz', tarfile.TarInfo('/etc/evil.json'))
            s = tarfile.TarInfo('lh/link.json'); s.type = tarfile.SYMTYPE; s.linkname = '/etc/passwd'; tar('symlink.tar.gz', s)
            h = tarfile.TarInfo('lh/hard.json'); h.type = tarfile.LNKTYPE; h.linkname = 'lh/BkgOnly.json'; tar('hardlink.tar.gz', h)
            f = tarfile.TarInfo('lh/fifo'); f.type = tarfile.FIFOTYPE; tar('fifo.tar.gz', f)
            with zipfile.ZipFile('dotdot.zip', 'w') as z: z.writestr('../evil.json', b'{}')
            with zipfile.ZipFile('backslash.zip', 'w') as z: z.writestr('lh\\\\..\\\\..\\\\evil.json', b'{}')
            with zipfile.ZipFile('symlink.zip', 'w') as z:
                i = zipfile.ZipInfo('lh/link.json'); i.create_system = 3; i.external_attr = (stat.S_IFLNK | 0o777) << 16
                z.writestr(i, '/etc/passwd')
            """)
        defer { try? FileManager.default.removeItem(at: d) }
        for (file, member) in [("dotdot.tar.gz", "lh/../../evil.json"), ("absolute.tar.gz", "/etc/evil.json"), ("symlink.tar.gz", "lh/link.json"),
                               ("hardlink.tar.gz", "lh/hard.json"), ("fifo.tar.gz", "lh/fifo"), ("dotdot.zip", "../evil.json"),
                               ("backslash.zip", #"lh\..\..\evil.json"#), ("symlink.zip", "lh/link.json")] {
            let error = try #require(Self.error(d, file), "\(file) was read")
            #expect(error.code == .unsafe, "\(file): \(error)")
            #expect(error.member == member, "\(file): \(error)")
        }
    }

    @Test("decompression bombs stop at the ratio, member-size, total-size and entry-count limits")
    func refusesBombs() throws {
        let d = try Self.make("""
            zeros = bytes(64 << 20)
            with tarfile.open('bomb.tar.gz', 'w:gz') as t:
                i = tarfile.TarInfo('lh/BkgOnly.json'); i.size = len(zeros); t.addfile(i, io.BytesIO(zeros))
            with zipfile.ZipFile('bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z: z.writestr('lh/BkgOnly.json', zeros)
            with zipfile.ZipFile('many.zip', 'w') as z:
                for k in range(50): z.writestr(f'lh/{k}.json', b'{}')
            with tarfile.open('big.tar', 'w') as t:
                b = os.urandom(300000); i = tarfile.TarInfo('lh/big.json'); i.size = len(b); t.addfile(i, io.BytesIO(b))
            """)
        defer { try? FileManager.default.removeItem(at: d) }
        for file in ["bomb.tar.gz", "bomb.zip"] {
            let error = try #require(Self.error(d, file), "\(file) was read")
            #expect(error.code == .limit && error.description.contains("decompression bomb"), "\(file): \(error)")
        }
        let many = try #require(Self.error(d, "many.zip", limits: ArchiveLimits(maximumEntries: 20)))
        #expect(many.code == .limit && many.message.contains("more than 20"), "\(many)")
        let member = try #require(Self.error(d, "big.tar", limits: ArchiveLimits(maximumMemberBytes: 100_000)))
        #expect(member.code == .limit && member.member == "lh/big.json" && member.message.contains("300000"), "\(member)")
        let total = try #require(Self.error(d, "big.tar", limits: ArchiveLimits(maximumTotalBytes: 200_000)))
        #expect(total.code == .limit, "\(total)")
    }

    @Test("truncated and corrupt archives give one error, at every cut")
    func refusesDamagedArchives() throws {
        let d = try Self.make(Self.members + "\n" + """
            with tarfile.open('a.tar.gz', 'w:gz') as t: add_tar(t)
            with tarfile.open('a.tar', 'w') as t: add_tar(t)
            with zipfile.ZipFile('a.zip', 'w', zipfile.ZIP_DEFLATED) as z:
                for n, b in files.items(): z.writestr(n, b * 50)
            """)
        defer { try? FileManager.default.removeItem(at: d) }
        for (file, format) in [("a.tar.gz", "gz"), ("a.tar", "tar"), ("a.zip", "zip")] {
            let whole = try Data(contentsOf: d.appendingPathComponent(file))
            // Cut anywhere: a clear error (truncated, or for a header cut short a corrupt checksum), never a crash.
            for cut in stride(from: 1, to: whole.count - 1, by: max(1, whole.count / 97)) {
                if let error = Self.error(whole.prefix(cut)) {
                    #expect([.truncated, .corrupt, .format].contains(error.code), "\(file) cut at \(cut): \(error)")
                } else {
                    // A tar cut after its first end-of-archive block still holds every member; nothing else may read.
                    #expect(format == "tar" && cut >= 8 * 512, "\(file) cut at \(cut) of \(whole.count) was read")
                }
            }
        }
        // Flipped bytes inside the compressed data: zlib's or the CRC's complaint.
        var zip = try Data(contentsOf: d.appendingPathComponent("a.zip"))
        zip[zip.startIndex + 60] ^= 0xFF
        zip[zip.startIndex + 61] ^= 0xFF
        let damaged = try #require(Self.error(zip), "a damaged zip was read")
        #expect(damaged.code == .corrupt || damaged.code == .truncated, "\(damaged)")
        #expect(damaged.member == "lh/BkgOnly.json", "\(damaged)")
        var gz = try Data(contentsOf: d.appendingPathComponent("a.tar.gz"))
        for k in 20..<40 { gz[gz.startIndex + k] ^= 0x5A }
        // zlib refuses the data, or what it makes of it is no tar header: an error either way.
        #expect(Self.error(gz) != nil, "a damaged tar.gz was read")
        let json = try #require(Self.error(Data("{\"not\": \"an archive\"}".utf8)), "JSON was read as an archive")
        #expect(json.code == .format && json.message.contains("7b 22 6e 6f"), "\(json)")
    }

    /// The error reading `data` throws, or nil when it reads.
    static func error(_ data: Data) -> ArchiveError? {
        do { _ = try ArchiveReader.read(data) { _ in true }; return nil } catch { return error }
    }

    @Test("a HEPData archive: the patch set is paired with its background-only workspace by digest and applies as pyhf's PatchSet.apply",
          .enabled(if: reference != nil, "the shared reference folder (../shared/reference or $EFTHF_REFERENCE_DIR) is absent"))
    func hepDataArchive() throws {
        let example = Self.reference!.appendingPathComponent("01_pyhf_example").path
        let d = try Self.make("""
            with tarfile.open('lh.tar.gz', 'w:gz') as t:
                t.add('\(example)/example_bkgonly.json', 'lh/BkgOnly.json')
                t.add('\(example)/example_patchset.json', 'lh/patchset.json')
                i = tarfile.TarInfo('lh/README.md'); i.size = 2; t.addfile(i, io.BytesIO(b'hi'))
            with tarfile.open('broken.tar.gz', 'w:gz') as t:
                t.add('\(example)/example_bkgonly.json', 'lh/BkgOnly.json')
                i = tarfile.TarInfo('lh/patchset.json'); b = b'{"metadata": {}, "patches": []}'; i.size = len(b); t.addfile(i, io.BytesIO(b))
            with tarfile.open('none.tar.gz', 'w:gz') as t:
                i = tarfile.TarInfo('lh/notes.json'); i.size = 2; t.addfile(i, io.BytesIO(b'{}'))
            """)
        defer { try? FileManager.default.removeItem(at: d) }
        let archive = try HEPDataArchive(path: d.appendingPathComponent("lh.tar.gz").path)
        #expect(archive.workspaces.map { $0.member } == ["lh/BkgOnly.json"])
        #expect(archive.patchSets.map { $0.member } == ["lh/patchset.json"] && archive.patchSets.first?.workspace == "lh/BkgOnly.json")
        let listing = archive.listing
        #expect(listing["patchsets"]?.arrayValue?.first?["patches"]?.arrayValue?.first?["name"]?.stringValue == "patch_channel1_signal_syst1")
        let patched = try archive.workspace(patch: "patch_channel1_signal_syst1")
        let set = try PatchSet(contentsOf: example + "/example_patchset.json")
        let expected = try set.apply(try set.patch(named: "patch_channel1_signal_syst1"), to: try Workspace(json: try loadJSON(example + "/example_bkgonly.json"), modifiers: .efthf))
        #expect(patched.json == expected.json)
        #expect(try archive.workspace().json == (try Workspace(json: try loadJSON(example + "/example_bkgonly.json"), modifiers: .efthf)).json)
        let unknownError = Self.failure { () throws(ArchiveError) in _ = try archive.workspace(patch: "no_such_patch") }
        let unknown = try #require(unknownError, "an unknown patch applied")
        #expect(unknown.member == "lh/patchset.json" && unknown.message.contains("no_such_patch"), "\(unknown)")
        let brokenError = Self.failure { () throws(ArchiveError) in _ = try HEPDataArchive(path: d.appendingPathComponent("broken.tar.gz").path) }
        let broken = try #require(brokenError, "an invalid patch set was read")
        #expect(broken.code == .content && broken.member == "lh/patchset.json", "\(broken)")
        let noneError = Self.failure { () throws(ArchiveError) in _ = try HEPDataArchive(path: d.appendingPathComponent("none.tar.gz").path) }
        let none = try #require(noneError, "an archive without workspace was read")
        #expect(none.code == .content && none.message.contains("no pyhf workspace") && none.message.contains("lh/notes.json"), "\(none)")
    }

    @Test("a model read straight from an archive (efthf fit ARCHIVE --patch NAME) has pyhf's logpdf of the patched workspace, to 1e-12")
    func modelFromAnArchive() throws {
        let example = Self.repository.appendingPathComponent("Data/example/workspace.json").path
        // pyhf makes the background-only workspace, a patch set of two signal strengths and the
        // reference logpdf at the suggested inits of each patched model.
        let d = try Self.make("""
            import json, pyhf
            full = json.load(open('\(example)'))
            signal = full['channels'][0]['samples'][0]
            bkg = json.loads(json.dumps(full)); del bkg['channels'][0]['samples'][0]
            patches = []
            for name, scale in (('sig_1', 1.0), ('sig_2', 2.0)):
                s = json.loads(json.dumps(signal)); s['data'] = [scale * x for x in s['data']]
                patches.append({'metadata': {'name': name, 'values': [scale]}, 'patch': [{'op': 'add', 'path': '/channels/0/samples/0', 'value': s}]})
            ps = {'metadata': {'description': 'signal strengths', 'digests': {'sha256': pyhf.utils.digest(bkg)}, 'labels': ['scale'], 'references': {'hepdata': 'ins0000000'}},
                  'patches': patches, 'version': '1.0.0'}
            expected = {}
            for name in ('sig_1', 'sig_2'):
                ws = pyhf.PatchSet(ps).apply(pyhf.Workspace(bkg), name)
                m = ws.model()
                expected[name] = float(m.logpdf(m.config.suggested_init(), ws.data(m))[0])
            with tarfile.open('likelihood.tar.gz', 'w:gz') as t:
                for n, doc in (('lh/BkgOnly.json', bkg), ('lh/patchset.json', ps)):
                    b = json.dumps(doc).encode(); i = tarfile.TarInfo(n); i.size = len(b); t.addfile(i, io.BytesIO(b))
            json.dump(expected, open('expected.json', 'w'))
            """)
        let archive = d.appendingPathComponent("likelihood.tar.gz").path
        let expected = try JSONParser.parse(Data(contentsOf: d.appendingPathComponent("expected.json")))
        for (patch, name) in [("sig_1", "sig_1"), ("lh/patchset.json:sig_2", "sig_2")] {
            let loaded = try ModelSource(workspace: archive, patch: patch).load()
            let ours = loaded.model.logLikelihood(loaded.model.suggestedInits, data: loaded.data)
            let theirs = try #require(expected[name]?.doubleValue)
            #expect(abs(ours - theirs) <= 1e-12 * abs(theirs), "\(patch): \(ours) vs pyhf \(theirs)")
        }
        // The two patches differ, so the comparison can fail.
        #expect(expected["sig_1"] != expected["sig_2"])
        // An unknown patch: one error naming the archive, the member and the patch.
        do {
            _ = try ModelSource(workspace: archive, patch: "sig_3").load()
            Issue.record("an unknown patch was accepted")
        } catch {
            #expect(error.message.contains(archive) && error.message.contains("lh/patchset.json") && error.message.contains("sig_3"), "\(error.message)")
        }
    }

    /// The error `body` throws, or nil.
    static func failure(_ body: () throws(ArchiveError) -> Void) -> ArchiveError? {
        do { try body(); return nil } catch { return error }
    }
}
