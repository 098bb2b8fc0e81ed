import ArgumentParser
import EFTHF
import Foundation

extension EFTHFCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export an extended workspace as plain pyhf 1.0.0 (at a point, or background-only plus a PatchSet), its EFT polynomials as POPxf, or the whole likelihood as HS3.",
            discussion: """
                --at c1=v1,c2=v2 writes the workspace with every morphing and event-database sample evaluated at \
                that point (coefficients not named are 0; the MC-statistical uncertainty at the point is carried as \
                staterror). --patchset --grid c1=lo:hi:n,... writes DIR/BkgOnly.json and DIR/patchset.json, one \
                patch per grid point, or, when -o ends in .tar.gz or .tgz, one archive holding both, as HEPData \
                publishes likelihoods (efthf fit ARCHIVE --patch NAME reads it). --popxf --scale GEV writes the per-bin polynomials in the Wilson coefficients \
                as a POPxf 1.0 file (arXiv:2511.17348), per morphed sample or per channel (--observables), with \
                the MC statistics. --hs3 writes the whole likelihood in HS3 as ROOT 6.40 reads it, the Wilson \
                coefficients free (Specs/hs3.md; efthf reads such files back wherever it takes a workspace). \
                --combine-scaling writes DIR/scaling.json, CMS Combine's InterferenceModel scaling data of every \
                morphed sample (--PO scalingData=), and DIR/workspace.json with the SM templates (Specs/combine.md). \
                --measurement keeps only that measurement in the exported workspaces. Files are \
                written atomically (the pair of --patchset together).
                """
        )

        @OptionGroup var model: ModelOptions

        @Option(help: ArgumentHelp("The point, e.g. cHW=0.5,cHq3=-0.1.", valueName: "name=value,..."))
        var at: String?

        @Flag(help: "Write a background-only workspace and a pyhf PatchSet (needs --grid; -o is a directory).")
        var patchset = false

        @Option(help: ArgumentHelp("The grid: name=lower:upper:count per coefficient, e.g. cHW=-1:1:21,cHq3=-0.5:0.5:11.", valueName: "name=lo:hi:n,..."))
        var grid: String?

        @Flag(help: "With --patchset: leave out grid points where the evaluation fails (negative morphed yields) instead of stopping.")
        var skipInvalid = false

        @Flag(help: "Write the EFT polynomials as a POPxf 1.0 JSON file (needs --scale; -o is a file).")
        var popxf = false

        @Flag(help: "Write CMS Combine InterferenceModel scaling data and the SM-template workspace (-o is a directory).")
        var combineScaling = false

        @Flag(help: "Write the whole likelihood as an HS3 JSON file (ROOT 6.40's RooJSONFactoryWSTool reads it; -o is a file).")
        var hs3 = false

        @Option(help: ArgumentHelp("With --popxf: the renormalisation scale in GeV at which the coefficients are defined.", valueName: "GeV"))
        var scale: Double?

        @Option(help: ArgumentHelp("With --popxf: one observable per bin of each morphed sample (samples) or of each channel (channels).", valueName: "samples|channels"))
        var observables: String = "samples"

        @Option(help: ArgumentHelp("With --popxf: a WCxf basis for the coefficients, e.g. SMEFT:Warsaw (default: a custom basis, the workspace's names).", valueName: "eft:basis"))
        var wcxf: String?

        @Option(help: "A POI for the exported measurements (needed when the POI is a Wilson coefficient).")
        var poi: String?

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output file (--at), or directory or .tar.gz archive (--patchset).", valueName: "path"))
        var output: String

        func validate() throws {
            if combineScaling {
                if hs3 || popxf || patchset || at != nil || grid != nil || poi != nil || skipInvalid { throw ValidationError("--combine-scaling takes none of --hs3, --popxf, --patchset, --at, --grid, --poi, --skip-invalid") }
                if scale != nil || wcxf != nil || observables != "samples" { throw ValidationError("--scale, --observables and --wcxf need --popxf") }
                return
            }
            if hs3 {
                if popxf || patchset || at != nil || grid != nil || poi != nil || skipInvalid { throw ValidationError("--hs3 takes none of --popxf, --patchset, --at, --grid, --poi, --skip-invalid") }
                if scale != nil || wcxf != nil || observables != "samples" { throw ValidationError("--scale, --observables and --wcxf need --popxf") }
                return
            }
            if popxf {
                if patchset || at != nil || grid != nil { throw ValidationError("--popxf takes neither --at, --patchset nor --grid") }
                guard let scale, scale.isFinite, scale > 0 else { throw ValidationError("--popxf needs --scale (GeV, positive)") }
                guard POPxfOptions.Observables(rawValue: observables) != nil else { throw ValidationError("--observables must be samples or channels, found \"\(observables)\"") }
                if let wcxf, wcxf.split(separator: ":").count != 2 { throw ValidationError("--wcxf must be EFT:BASIS, e.g. SMEFT:Warsaw, found \"\(wcxf)\"") }
                return
            }
            if scale != nil || wcxf != nil || observables != "samples" { throw ValidationError("--scale, --observables and --wcxf need --popxf") }
            if patchset {
                if grid == nil { throw ValidationError("--patchset needs --grid") }
                if at != nil { throw ValidationError("give either --at or --patchset, not both") }
            } else {
                if at == nil { throw ValidationError("give --at (a point) or --patchset --grid") }
                if grid != nil { throw ValidationError("--grid needs --patchset") }
            }
        }

        func run() throws {
            try reportingErrors {
                let ws = try model.loadWorkspace()
                if combineScaling {
                    let export = try CombineScalingExportTask(measurement: model.measurement).run(on: ws)
                    try writeAtomically([
                        (output + "/scaling.json", export.scaling.serialized(.pretty)),
                        (output + "/workspace.json", export.templates.json.serialized(.pretty)),
                    ])
                    print("wrote \(output)/scaling.json (\(export.scaling.arrayValue?.count ?? 0) scaled processes) and \(output)/workspace.json (SM templates)")
                } else if hs3 {
                    let json = try HS3ExportTask(measurement: model.measurement).run(on: ws)
                    try writeAtomically(json.serialized(.pretty), to: output)
                    let samples = json["distributions"]?.arrayValue?.reduce(0) { $0 + ($1["samples"]?.arrayValue?.count ?? 0) } ?? 0
                    print("wrote \(output) (HS3 \(Workspace.hs3Version), \(samples) HistFactory samples\(ws.wilsonCoefficients.isEmpty ? "" : ", Wilson coefficients " + ws.wilsonCoefficients.joined(separator: ", ")))")
                } else if popxf {
                    let parts = wcxf?.split(separator: ":").map(String.init)
                    let options = POPxfOptions(observables: POPxfOptions.Observables(rawValue: observables)!, scale: scale!,
                                               basis: parts.map { .wcxf(eft: $0[0], basis: $0[1]) }, toolVersion: efthfVersion)
                    let json = try ws.popxf(options)
                    try writeAtomically(json.serialized(.pretty), to: output)
                    let count = json["metadata"]?["observable_names"]?.arrayValue?.count ?? 0
                    print("wrote \(output) (POPxf, \(count) observables in \(ws.wilsonCoefficients.joined(separator: ", ")))")
                } else if patchset {
                    let task = PatchSetTask(grid: try PatchSetTask.grid(parsing: grid!), poi: poi, measurement: model.measurement, skipInvalid: skipInvalid)
                    let points = task.grid.reduce(1) { $0 * $1.count }
                    let export = try Progress.run("patch set (\(points) grid points)", total: points) { progress in try task.run(on: ws, progress: progress.callback) }
                    try writePatchSet(export, to: output)
                } else {
                    let evaluated = try ExportTask(point: try ExportTask.point(parsing: at!), poi: poi, measurement: model.measurement).run(on: ws)
                    try writeAtomically(evaluated.json.serialized(.pretty), to: output)
                    print("wrote \(output)")
                }
            }
        }
    }
}

/// Every file the command line writes goes through ``AtomicFiles``.
func writeAtomically(_ text: String, to path: String) throws(HistFactoryError) {
    try AtomicFiles.write(text, to: path)
}

/// Text files written as one (each with a final newline).
func writeAtomically(_ files: [(path: String, text: String)]) throws(HistFactoryError) {
    try AtomicFiles.write(files.map { OutputFile(path: $0.path, text: $0.text) })
}

/// Writes a patch-set export as `efthf export --patchset -o OUTPUT` does and says what it wrote: one
/// `.tar.gz` (`.tgz`) archive, or a directory with both files (both or neither: a PatchSet's digest
/// names its background-only workspace).
func writePatchSet(_ export: PatchSetExport, to output: String) throws {
    let set = export.patchSet, skipped = export.skipped
    let what = "\(set.patches.count) patches\(skipped.isEmpty ? "" : ", \(skipped.count) grid points skipped (negative morphed yields)")"
    if PatchSetTask.isArchivePath(output) {
        let bytes: Data
        do { bytes = try PatchSetTask.archive(export) } catch { throw HistFactoryError(.io, "\(error)", file: output) }
        try AtomicFiles.write([OutputFile(path: output, contents: bytes)])
        print("wrote \(output) (BkgOnly.json and patchset.json, \(what), \(bytes.count) bytes)")
    } else {
        try writeAtomically(PatchSetTask.files(export).map { (path: output + "/" + $0.name, text: $0.text) })
        print("wrote \(output)/BkgOnly.json and \(output)/patchset.json (\(what))")
    }
}
