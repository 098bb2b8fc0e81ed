import EFTHF
import Foundation
import Testing

/// Tasks decoded from JSON (what the C interface and the Python package send): defaults for
/// absent members, an error naming an unknown member or a wrong value, round trips, the model
/// options of pyhf's `Workspace.model`, and the grid-interpolated limit of pyhf's linear_grid_scan.
@Suite struct TaskCodingTests {
    static func path(_ relative: String) -> String { TaskTests.path(relative) }

    @Test("absent members take the task's defaults; encoded tasks decode to themselves")
    func defaultsAndRoundTrips() throws {
        #expect(try TaskCoding.decode(FitTask.self, from: "", what: "fit") == FitTask())
        #expect(try TaskCoding.decode(HypotestTask.self, from: "{}", what: "hypotest") == HypotestTask())
        #expect(try TaskCoding.decode(LimitTask.self, from: #"{"scan": [0, 1, 2]}"#, what: "limit") == LimitTask(scan: [0, 1, 2]))
        let fit = FitTask(ops: ["cHW"], fix: ParameterValues([.init(name: "gamma", values: [1, 1.1])]),
                          uncertainties: false, overrides: ParameterOverrides(inits: [1, 2], bounds: [[0, 3], [1, 4]], fixed: [false, true]))
        let text = String(decoding: try JSONEncoder().encode(fit), as: UTF8.self)
        #expect(try TaskCoding.decode(FitTask.self, from: text, what: "fit") == fit)
        let scan = try ScanTask(axes: [GridAxis(name: "cHW", lower: -1, upper: 1, count: 5)], adaptive: true, maxPoints: 20)
        #expect(try TaskCoding.decode(ScanTask.self, from: String(decoding: try JSONEncoder().encode(scan), as: UTF8.self), what: "scan") == scan)
    }

    @Test("unknown members, wrong types and invalid grids are refused with their JSON path")
    func errors() throws {
        #expect { try TaskCoding.decode(FitTask.self, from: #"{"op": ["cHW"]}"#, what: "fit options") } throws: { error in
            "\(error)".contains("fit options") && "\(error)".contains("/op") && "\(error)".contains("unknown member")
        }
        #expect { try TaskCoding.decode(HypotestTask.self, from: #"{"poi_value": "one"}"#, what: "hypotest options") } throws: { error in
            "\(error)".contains("/poi_value") && "\(error)".contains("a number")
        }
        #expect { try TaskCoding.decode(ScanTask.self, from: #"{"axes": [{"name": "cHW", "lower": 1, "upper": -1, "count": 5}]}"#, what: "scan") } throws: { error in
            "\(error)".contains("lower end")
        }
        #expect { try TaskCoding.decode(FitTask.self, from: "{", what: "fit") } throws: { error in "\(error)".contains("not valid JSON") }
    }

    @Test("model options as pyhf's Workspace.model keywords: patches, poi_name, modifier settings")
    func modelOptions() throws {
        let workspace = try Workspace(contentsOf: Self.path("Data/example/workspace.json"), modifiers: .efthf)
        let options = try ModelOptions(json: JSONParser.parse(#"""
            {"poi_name": "mu", "modifier_settings": {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
             "patches": [[{"op": "replace", "path": "/observations/0/data/0", "value": 1}]]}
            """#))
        let loaded = try options.load(workspace)
        #expect(loaded.model.interpolation == (try InterpolationSettings(normsys: .code1, histosys: .code0)))
        let k = try #require(loaded.model.channels.firstIndex(of: "SR_pTV"))
        #expect(loaded.data.main[loaded.model.channelBinCounts[..<k].reduce(0, +)] == 1)
        #expect(throws: HistFactoryError.self) { try ModelOptions(json: JSONParser.parse(#"{"modifier_settings": {"normsys": {"interpcode": "code4p"}}}"#)) }
        #expect { try ModelOptions(json: JSONParser.parse(#"{"measurement": "x"}"#)) } throws: { error in "\(error)".contains("measurement_name") }
    }

    @Test("a limit on a POI grid interpolates CLs as numpy.interp (pyhf's linear_grid_scan)")
    func gridLimit() throws {
        let loaded = try ModelSource(workspace: Self.path("Data/example/workspace.json")).load()
        let grid = Array(stride(from: 0.0, through: 3.0, by: 0.25))
        let report = try LimitTask(scan: grid).run(on: loaded)
        let hypotests = try #require(report.scan)
        #expect(hypotests.count == grid.count)
        // The observed limit lies between the neighbouring grid points whose CLs bracket 0.05, on the chord.
        let k = try #require(hypotests.firstIndex { $0.clsObserved < 0.05 })
        let (a, b) = (hypotests[k - 1], hypotests[k])
        let chord = grid[k - 1] + (0.05 - a.clsObserved) / (b.clsObserved - a.clsObserved) * (grid[k] - grid[k - 1])
        #expect(abs(report.observed - chord) < 1e-12)
        // And close to the root-found limit (the grid is coarse: 2 % of the limit).
        let exact = try LimitTask().run(on: loaded)
        #expect(abs(report.observed / exact.observed - 1) < 0.02)
    }
}
