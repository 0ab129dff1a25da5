import Interview
import Stores
import JSON
import XCTest

/// How a test case's output is compared and shown: the two comparisons, the bounded diff, the
/// candidates' view of hidden cases, and the order cases run in.
final class TestRunComparisonTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testTrailingWhitespaceIgnoresBlanksAtLineEndsAndEmptyLinesAtTheEnd() {
        let loose = OutputComparison.trailingWhitespace
        XCTAssertTrue(loose.matches(expected: bytes("1\n2\n"), actual: bytes("1 \t\n2\r\n\n\n")))
        XCTAssertTrue(loose.matches(expected: bytes("1\n2"), actual: bytes("1\n2\n")))
        XCTAssertTrue(loose.matches(expected: bytes(""), actual: bytes("\n\n  \n")))
        XCTAssertFalse(loose.matches(expected: bytes("1\n2\n"), actual: bytes(" 1\n2\n")), "leading blanks count")
        XCTAssertFalse(loose.matches(expected: bytes("1\n\n2\n"), actual: bytes("1\n2\n")), "empty lines inside count")
        XCTAssertFalse(loose.matches(expected: bytes("a b\n"), actual: bytes("a  b\n")), "blanks inside a line count")
    }

    func testExactIsByteForByte() {
        let exact = OutputComparison.exact
        XCTAssertTrue(exact.matches(expected: bytes("1\n2\n"), actual: bytes("1\n2\n")))
        XCTAssertFalse(exact.matches(expected: bytes("1\n2\n"), actual: bytes("1\n2")))
        XCTAssertFalse(exact.matches(expected: bytes("1\n"), actual: bytes("1 \n")))
        XCTAssertNil(exact.diff(expected: bytes("same"), actual: bytes("same")))
        let diff = exact.diff(expected: bytes("1\n2\n"), actual: bytes("1\n2"))
        XCTAssertEqual(diff?["line"]?.intValue, 3, "the expected output has an empty third line the output lacks")
        XCTAssertEqual(diff?["expected_lines"]?.intValue, 3)
        XCTAssertEqual(diff?["actual_lines"]?.intValue, 2)
    }

    func testDiffIsBoundedAroundTheFirstDifference() throws {
        let expected = (1...200).map { "line \($0)" }.joined(separator: "\n")
        var lines = (1...200).map { "line \($0)" }
        lines[99] = "wrong " + String(repeating: "é", count: 500)
        let diff = try XCTUnwrap(OutputComparison.exact.diff(expected: bytes(expected), actual: bytes(lines.joined(separator: "\n"))))
        XCTAssertEqual(diff["line"]?.intValue, 100)
        XCTAssertEqual(diff["from_line"]?.intValue, 80)
        let shownExpected = try XCTUnwrap(diff["expected"]?.arrayValue?.compactMap(\.stringValue))
        let shownActual = try XCTUnwrap(diff["actual"]?.arrayValue?.compactMap(\.stringValue))
        XCTAssertEqual(shownExpected.count, 41, "20 lines each side of the first difference")
        XCTAssertEqual(shownExpected.first, "line 80")
        XCTAssertEqual(shownExpected.last, "line 120")
        XCTAssertEqual(shownActual[20].count, 201, "a line is cut at 200 characters (and marked)")
        XCTAssertTrue(shownActual[20].hasSuffix("…"))
        // Near the start, and past the end of the shorter side.
        let early = try XCTUnwrap(OutputComparison.exact.diff(expected: bytes("a\nb"), actual: bytes("a\nb\nc\nd")))
        XCTAssertEqual(early["line"]?.intValue, 3)
        XCTAssertEqual(early["from_line"]?.intValue, 1)
        XCTAssertEqual(early["expected"]?.arrayValue?.count, 2)
        XCTAssertEqual(early["actual"]?.arrayValue?.count, 4)
    }

    func testCandidatesSeeOfAHiddenCaseItsNameStatusTimeAndMemoryOnly() {
        let hidden: JSON = ["name": "secret", "hidden": true, "status": "failed", "time_ms": 5, "memory_kb": 100, "wall_ms": 9,
                            "stdin": "in", "expected_stdout": "out", "actual_stdout": "act", "stderr": "err", "diff": ["line": 1],
                            "message": "the output differs"]
        let visible: JSON = ["name": "open", "hidden": false, "status": "passed", "stdin": "in", "actual_stdout": "act"]
        XCTAssertEqual(TestRunView.testCase(hidden, forInterviewer: false),
                       ["name": "secret", "hidden": true, "status": "failed", "time_ms": 5, "memory_kb": 100])
        XCTAssertEqual(TestRunView.testCase(hidden, forInterviewer: true), hidden)
        XCTAssertEqual(TestRunView.testCase(visible, forInterviewer: false), visible)
        let run: JSON = ["run_id": "t_1", "cases": [visible, hidden], "compile_output": ""]
        let view = TestRunView.run(run, forInterviewer: false)
        XCTAssertEqual(view["cases"]?.arrayValue?[1]["stdin"], nil)
        XCTAssertEqual(view["cases"]?.arrayValue?[0]["stdin"], "in")
        // A case whose hidden flag is missing or not a boolean is treated as hidden.
        XCTAssertEqual(TestRunView.testCase(["name": "odd", "stdin": "x"], forInterviewer: false), ["name": "odd"])
    }

    func testVisibleCasesRunBeforeHiddenOnesInTheQuestionsOrder() {
        let tests = [TestCase(name: "h1", stdin: "", expectedStdout: "", hidden: true),
                     TestCase(name: "v1", stdin: "", expectedStdout: "", hidden: false),
                     TestCase(name: "h2", stdin: "", expectedStdout: "", hidden: true),
                     TestCase(name: "v2", stdin: "", expectedStdout: "", hidden: false)]
        let spec = TestRunSpec(tests: tests, compare: .exact)
        XCTAssertEqual(spec.tests.map(\.name), ["v1", "v2", "h1", "h2"])
        XCTAssertEqual(spec.casesJSON, [["name": "v1", "hidden": false], ["name": "v2", "hidden": false],
                                        ["name": "h1", "hidden": true], ["name": "h2", "hidden": true]])
        XCTAssertEqual(TestRunSpec.tests(json: spec.testsJSON), spec.tests, "the job's copy reads back whole")
    }
}
