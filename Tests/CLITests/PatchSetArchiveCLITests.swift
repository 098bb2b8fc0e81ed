import EFTHF
import Foundation
import Testing

/// `efthf export --patchset -o likelihood.tar.gz` as a user runs it, from a directory outside the
/// repository: GNU tar and Python's `tarfile` (the sources of truth for the format) unpack exactly
/// the two files of the directory export, stock pyhf applies a patch of the unpacked set to its
/// background-only workspace, and efthf reads the archive back as a model source.
@Suite struct PatchSetArchiveCLITests {
    @Test("the .tar.gz patch-set export unpacks with tar and tarfile to the directory export byte for byte; pyhf and efthf read it")
    func archiveExport() throws {
        let scratch = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.copyItem(atPath: CLI.repository.appendingPathComponent("Data/vh/workspace_morphing.json").path,
                                         toPath: scratch.appendingPathComponent("workspace.json").path)
        let grid = ["--patchset", "--grid", "cHW=-0.4:0.4:3,cHq3=-0.02:0.02:2", "--poi", "lumi"]
        let archive = try CLI.run(["export", "workspace.json"] + grid + ["-o", "likelihood.tar.gz"], workingDirectory: scratch)
        #expect(archive.status == 0 && archive.stdout.contains("likelihood.tar.gz") && archive.stdout.contains("6 patches"), "\(archive.stdout)\(archive.stderr)")
        let directory = try CLI.run(["export", "workspace.json"] + grid + ["-o", "dir"], workingDirectory: scratch)
        #expect(directory.status == 0, "\(directory.stderr)")

        // GNU tar lists exactly the two members and unpacks them to the directory export's bytes.
        let listed = try CLI.runProcess("/usr/bin/env", ["tar", "-tzvf", "likelihood.tar.gz"], workingDirectory: scratch)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.split(separator: "\n").map { String($0.split(separator: " ").last ?? "") } == ["BkgOnly.json", "patchset.json"], "\(listed.stdout)")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("unpacked"), withIntermediateDirectories: true)
        let unpacked = try CLI.runProcess("/usr/bin/env", ["tar", "-xzf", "../likelihood.tar.gz"], workingDirectory: scratch.appendingPathComponent("unpacked"))
        #expect(unpacked.status == 0 && unpacked.stderr.isEmpty, "\(unpacked.stderr)")
        for name in ["BkgOnly.json", "patchset.json"] {
            let a = try Data(contentsOf: scratch.appendingPathComponent("unpacked/" + name)), b = try Data(contentsOf: scratch.appendingPathComponent("dir/" + name))
            #expect(a == b, "\(name): \(a.count) bytes from the archive, \(b.count) in the directory")
        }

        // Python's tarfile and stock pyhf: the members as files, a patch applied to the workspace.
        let script = """
            import json, sys, tarfile
            with tarfile.open("likelihood.tar.gz", "r:gz") as t:
                members = {m.name: t.extractfile(m).read() for m in t.getmembers()}
            assert sorted(members) == ["BkgOnly.json", "patchset.json"], sorted(members)
            assert members["BkgOnly.json"] == open("dir/BkgOnly.json", "rb").read()
            try:
                import pyhf
            except ImportError:
                print("no pyhf"); sys.exit(0)
            ws = pyhf.Workspace(json.loads(members["BkgOnly.json"]))
            ps = pyhf.PatchSet(json.loads(members["patchset.json"]))
            patched = ps.apply(ws, ps.patches[0].name)
            m = patched.model()
            print(ps.patches[0].name, repr(float(m.logpdf(m.config.suggested_init(), patched.data(m))[0])))
            """
        let python = try CLI.runProcess("/usr/bin/env", ["python3", "-c", script], workingDirectory: scratch)
        #expect(python.status == 0, "\(python.stderr)")
        // efthf reads the archive as a model source: the same ln L at the inits as pyhf's, to 1e-12.
        let fields = python.stdout.split(separator: " ")
        if fields.count == 2, let pyhfValue = Double(fields[1].trimmingCharacters(in: .whitespacesAndNewlines)) {
            let eval = try CLI.run(["eval", "likelihood.tar.gz", "--patch", String(fields[0])], workingDirectory: scratch)
            #expect(eval.status == 0, "\(eval.stderr)")
            let ours = try #require(try JSONParser.parse(Data(eval.stdout.utf8))["logpdf"]?.doubleValue)
            #expect(abs(ours - pyhfValue) <= 1e-12 * abs(pyhfValue), "efthf \(ours), pyhf \(pyhfValue)")
        } else {
            #expect(python.stdout.hasPrefix("no pyhf"), "\(python.stdout)")
        }

        // A bad destination: one error line, nothing half-written.
        let bad = try CLI.run(["export", "workspace.json"] + grid + ["-o", "/proc/efthf/likelihood.tar.gz"], workingDirectory: scratch)
        #expect(bad.status != 0 && bad.stderrLines.count == 1, "\(bad.stderr)")
    }
}
