import EFTJSON
import Foundation
import Testing

@Suite struct JSONTests {
    /// Python's repr(float), checked against CPython 3.11 output.
    @Test(arguments: [
        (1e-05, "1e-05"), (1e16, "1e+16"), (0.0001, "0.0001"), (123.0, "123.0"), (0.1, "0.1"), (1e15, "1000000000000000.0"),
        (123456789012345678.0, "1.2345678901234568e+17"), (1.5e-7, "1.5e-07"), (-2.5e21, "-2.5e+21"), (0.017, "0.017"),
        (99.99999999999999, "99.99999999999999"), (-0.0, "-0.0"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
    ])
    func floatsAreWrittenAsPythonRepr(value: Double, python: String) {
        #expect(JSON.pythonRepr(value) == python)
    }

    @Test func integersAndFloatsStayDistinct() throws {
        let json = try JSONParser.parse("{\"b\": [1, 1.0, -0, 2e3], \"a\": \"x\\u00e9\\n\"}")
        #expect(json["b"] == [.integer(1), .number(1.0), .integer(0), .number(2000)])
        #expect(json.serialized(.pythonSortedKeys) == "{\"a\": \"xé\\n\", \"b\": [1, 1.0, 0, 2000.0]}")
    }

    /// RFC 6902 Appendix A examples.
    @Test func jsonPatchFollowsRFC6902() throws {
        let doc = try JSONParser.parse("{\"foo\": [\"bar\", \"baz\"], \"q\": {\"x\": 1}}")
        let patch = try JSONParser.parse("""
            [{"op": "add", "path": "/foo/1", "value": "qux"}, {"op": "remove", "path": "/foo/0"},
             {"op": "replace", "path": "/q/x", "value": 2}, {"op": "copy", "from": "/q", "path": "/r"},
             {"op": "move", "from": "/r/x", "path": "/y"}, {"op": "test", "path": "/y", "value": 2},
             {"op": "add", "path": "/foo/-", "value": "end"}, {"op": "add", "path": "/a~1b", "value": true}]
            """)
        let result = try doc.applyingPatch(patch)
        #expect(result == (try JSONParser.parse("{\"foo\": [\"qux\", \"baz\", \"end\"], \"q\": {\"x\": 2}, \"r\": {}, \"y\": 2, \"a/b\": true}")))
    }

    @Test(arguments: [
        ("[{\"op\": \"remove\", \"path\": \"/nope\"}]", "operation 0"),
        ("[{\"op\": \"test\", \"path\": \"/a\", \"value\": 2}]", "test failed"),
        ("[{\"op\": \"add\", \"path\": \"/list/5\", \"value\": 2}]", "past the end"),
        ("[{\"op\": \"frobnicate\", \"path\": \"/a\"}]", "unknown op"),
        ("{\"op\": \"add\"}", "must be an array"),
    ])
    func badPatchesFailWithTheOperation(patch: String, fragment: String) throws {
        let doc = try JSONParser.parse("{\"a\": 1, \"list\": [1]}")
        #expect {
            try doc.applyingPatch(try JSONParser.parse(patch))
        } throws: { error in
            "\(error)".contains(fragment)
        }
    }

    @Test func syntaxErrorsGiveLineAndColumn() {
        do {
            _ = try JSONParser.parse("{\n  \"a\": [1, 2,,]\n}")
            Issue.record("accepted")
        } catch {
            #expect(error.line == 2)
            #expect(error.description.hasPrefix("line 2, column"))
        }
    }
}
