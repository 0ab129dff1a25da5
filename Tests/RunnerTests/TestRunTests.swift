import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// Test runs (issue 15): a session's document against its question's tests, one job per run,
/// compiled once, one sandbox step per case; per-case results streamed; hidden cases never shown
/// to candidates, on any route or channel.
final class TestRunTests: RunnerTestCase {
    override class var runnerArguments: [[String]] { [["--concurrency", "2", "--languages", "python,c"]] }

    static var fastLimits: [String: Any] { ["cpu_time_ms": 1000, "wall_time_ms": 3000] }

    static let python = """
    import sys
    line = sys.stdin.readline().strip()
    if line == "loop":
        while True:
            pass
    if line == "crash":
        raise ValueError("crashing on purpose")
    print(int(line) * 2)
    """

    static let c = """
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    int main(void) {
        char line[256] = {0};
        if (!fgets(line, sizeof line, stdin)) return 2;
        line[strcspn(line, "\\n")] = 0;
        if (!strcmp(line, "loop")) { volatile unsigned long n = 0; for (;;) n++; }
        if (!strcmp(line, "crash")) { fprintf(stderr, "crashing on purpose\\n"); fflush(stderr); abort(); }
        printf("%ld\\n", atol(line) * 2);
        return 0;
    }
    """

    /// Passing, failing (wrong output), timing-out and crashing cases, and a hidden one listed
    /// second in the question (it runs last).
    static var mixedTests: [[String: Any]] { [
        ["name": "doubles", "stdin": "21\n", "expected_stdout": "42\n"],
        ["name": "secret", "stdin": "50\n", "expected_stdout": "100\n", "hidden": true],
        ["name": "wrong answer", "stdin": "3\n", "expected_stdout": "7\n"],
        ["name": "spins", "stdin": "loop\n", "expected_stdout": "0\n"],
        ["name": "crashes", "stdin": "crash\n", "expected_stdout": "0\n"],
    ] }

    func testPythonRunReportsEachCaseAndStreamsThemOnBothChannels() throws {
        let session = try interview(language: "python", code: Self.python)
        try setQuestion(session.id, tests: Self.mixedTests)
        let channels = try SessionChannels(redis: redis, session: session.id)
        defer { channels.stop() }

        let response = try startTestRun(session.id, token: session.candidate, body: ["limits": Self.fastLimits])
        XCTAssertEqual(response.status, 202, "\(response)")
        let runID = try XCTUnwrap(response.object["id"] as? String)
        XCTAssertTrue(runID.hasPrefix("t_"), runID)
        XCTAssertEqual(response.header("Location"), "/api/v1/sessions/\(session.id)/test-runs/\(runID)")
        XCTAssertEqual(response.object["total"] as? Int, 5)
        XCTAssertEqual(response.object["compare"] as? String, "trailing_whitespace", "the default comparison")
        let queuedCases = try XCTUnwrap(response.object["cases"] as? [[String: Any]])
        XCTAssertEqual(queuedCases.compactMap { $0["name"] as? String }, ["doubles", "wrong answer", "spins", "crashes", "secret"],
                       "visible cases run first, hidden ones after")

        let run = try waitForTestRun(session.id, runID, token: session.host)
        XCTAssertEqual(run["status"] as? String, "failed")
        XCTAssertEqual(run["passed"] as? Int, 2)
        XCTAssertEqual(run["total"] as? Int, 5)
        XCTAssertEqual(run["user_id"] as? String, session.candidateID)
        XCTAssertTrue(run["compile_output"] is NSNull, "Python compiles nothing")
        let doubles = try testCase(run, "doubles")
        XCTAssertEqual(doubles["status"] as? String, "passed")
        XCTAssertEqual(doubles["actual_stdout"] as? String, "42\n")
        XCTAssertEqual(doubles["stdin"] as? String, "21\n")
        XCTAssertTrue(doubles["diff"] is NSNull)
        XCTAssertNotNil(doubles["time_ms"] as? Int)
        XCTAssertGreaterThan(doubles["memory_kb"] as? Int ?? 0, 0)
        let wrong = try testCase(run, "wrong answer")
        XCTAssertEqual(wrong["status"] as? String, "failed")
        XCTAssertEqual(wrong["actual_stdout"] as? String, "6\n")
        XCTAssertEqual(wrong["expected_stdout"] as? String, "7\n")
        let diff = try XCTUnwrap(wrong["diff"] as? [String: Any])
        XCTAssertEqual(diff["line"] as? Int, 1)
        XCTAssertEqual(diff["expected"] as? [String], ["7"])
        XCTAssertEqual(diff["actual"] as? [String], ["6"])
        let spins = try testCase(run, "spins")
        XCTAssertEqual(spins["status"] as? String, "time_limit_exceeded", "\(spins)")
        XCTAssertGreaterThanOrEqual(spins["time_ms"] as? Int ?? 0, 1000)
        let crashes = try testCase(run, "crashes")
        XCTAssertEqual(crashes["status"] as? String, "runtime_error", "\(crashes)")
        XCTAssertTrue((crashes["stderr"] as? String ?? "").contains("ValueError: crashing on purpose"), "\(crashes)")
        XCTAssertEqual(crashes["exit_code"] as? Int, 1)
        XCTAssertEqual(try testCase(run, "secret")["status"] as? String, "passed", "the hidden case ran after the failures")

        // Every member heard it: started, one result per case as each finished, then the run's result.
        let events = try channels.waitForRunResult(runID)
        XCTAssertEqual(channels.types(channels.events), ["test-run-started"] + Array(repeating: "test-case-result", count: 5) + ["test-run-result"])
        XCTAssertEqual(channels.types(channels.privateFrames), Array(repeating: "test-case-result", count: 5) + ["test-run-result"])
        let started = try XCTUnwrap(events.first?.frame["data"] as? [String: Any])
        XCTAssertEqual(started["run_id"] as? String, runID)
        XCTAssertEqual(started["language"] as? String, "python")
        XCTAssertEqual(started["user_id"] as? String, session.candidateID)
        XCTAssertEqual(started["name"] as? String, "Grace")
        XCTAssertEqual((started["cases"] as? [[String: Any]])?.count, 5)
        XCTAssertEqual(events.first?.exclude, "", "test-run-started is the same for everyone")
        let caseResults = events.filter { $0.type == "test-case-result" }
        XCTAssertEqual(caseResults.map(\.exclude), Array(repeating: "~interviewers", count: 5), "candidates' copies")
        XCTAssertEqual(caseResults.compactMap { ($0.frame["data"] as? [String: Any])?["index"] as? Int }, [0, 1, 2, 3, 4])
        XCTAssertEqual(caseResults.compactMap { ($0.frame["data"] as? [String: Any])?["name"] as? String },
                       ["doubles", "wrong answer", "spins", "crashes", "secret"])
        // Streamed: the first case was out while the time-limited one still spun (a second of CPU).
        let firstAt = caseResults.first?.frame["timestamp"] as? Int ?? 0
        let resultAt = events.last?.frame["timestamp"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(resultAt - firstAt, 900, "the first case's result went out before the run ended")
        let finalData = try XCTUnwrap(channels.privateFrames.last?.frame["data"] as? [String: Any])
        XCTAssertEqual(finalData["status"] as? String, "failed")
        XCTAssertEqual(finalData["passed"] as? Int, 2)

        // The run is listed; an execution it is not.
        let list = try call("GET", "/sessions/\(session.id)/test-runs", token: session.candidate, timeout: 5)
        XCTAssertEqual(list.status, 200, "\(list)")
        let runs = try XCTUnwrap(list.object["test_runs"] as? [[String: Any]])
        XCTAssertEqual(runs.first?["id"] as? String, runID)
        XCTAssertEqual(runs.first?["status"] as? String, "failed")
        XCTAssertEqual((runs.first?["cases"] as? [[String: Any]])?.compactMap { $0["status"] as? String },
                       ["passed", "failed", "time_limit_exceeded", "runtime_error", "passed"])
        XCTAssertEqual(try call("GET", "/executions/\(runID)", timeout: 5).status, 404)
        let executions = try call("GET", "/sessions/\(session.id)/executions", timeout: 5).object
        XCTAssertEqual(executions["count"] as? Int, 0, "test runs are not in the executions' history")
    }

    func testCompiledLanguageRunsEveryKindOfCaseAfterOneCompile() throws {
        let session = try interview(language: "c", code: Self.c)
        try setQuestion(session.id, tests: Self.mixedTests)
        let response = try startTestRun(session.id, token: session.interviewer, body: ["limits": Self.fastLimits])
        XCTAssertEqual(response.status, 202, "\(response)")
        let run = try waitForTestRun(session.id, try XCTUnwrap(response.object["id"] as? String), token: session.host)
        XCTAssertEqual(run["language"] as? String, "c")
        XCTAssertEqual(run["status"] as? String, "failed")
        XCTAssertEqual(run["passed"] as? Int, 2)
        XCTAssertEqual(try testCase(run, "doubles")["status"] as? String, "passed")
        XCTAssertEqual(try testCase(run, "doubles")["actual_stdout"] as? String, "42\n")
        XCTAssertEqual(try testCase(run, "wrong answer")["status"] as? String, "failed")
        XCTAssertEqual(try testCase(run, "spins")["status"] as? String, "time_limit_exceeded")
        let crashes = try testCase(run, "crashes")
        XCTAssertEqual(crashes["status"] as? String, "runtime_error")
        XCTAssertEqual(crashes["signal_name"] as? String, "SIGABRT")
        XCTAssertEqual(crashes["stderr"] as? String, "crashing on purpose\n")
        XCTAssertEqual(try testCase(run, "secret")["status"] as? String, "passed")
        XCTAssertEqual(run["compile_output"] as? String, "", "a clean compile prints nothing")
    }

    func testOutputAndMemoryLimitsStopACaseAndTheNextStillRuns() throws {
        let code = """
        import sys
        line = sys.stdin.readline().strip()
        if line == "flood":
            while True:
                sys.stdout.write("x" * 65536)
        if line == "hog":
            hog = bytearray(512 * 1024 * 1024)
        print(line)
        """
        let session = try interview(language: "python", code: code)
        try setQuestion(session.id, tests: [
            ["name": "floods", "stdin": "flood\n", "expected_stdout": "x\n"],
            ["name": "hogs", "stdin": "hog\n", "expected_stdout": "hog\n"],
            ["name": "fine", "stdin": "fine\n", "expected_stdout": "fine\n"],
        ])
        let runID = try startedRun(session.id, body: ["limits": ["output_kb": 256, "memory_kb": 131_072, "wall_time_ms": 10_000]])
        let run = try waitForTestRun(session.id, runID, token: session.host)
        let floods = try testCase(run, "floods")
        XCTAssertEqual(floods["status"] as? String, "output_limit_exceeded", "\(floods)")
        XCTAssertLessThanOrEqual((floods["actual_stdout"] as? String ?? "").utf8.count, 64 * 1024 + 1, "stdout kept is bounded")
        XCTAssertEqual(floods["stdout_truncated"] as? Bool, true)
        XCTAssertEqual(try testCase(run, "hogs")["status"] as? String, "memory_limit_exceeded")
        XCTAssertEqual(try testCase(run, "fine")["status"] as? String, "passed", "a failing case does not stop the next")
        XCTAssertEqual(run["passed"] as? Int, 1)
    }

    func testCompileErrorFailsEveryCaseWithOneCompileOutput() throws {
        let session = try interview(language: "c", code: "int main(void) { return missing_name; }\n")
        try setQuestion(session.id, tests: Self.mixedTests)
        let channels = try SessionChannels(redis: redis, session: session.id)
        defer { channels.stop() }
        let response = try startTestRun(session.id, token: session.candidate)
        XCTAssertEqual(response.status, 202, "\(response)")
        let runID = try XCTUnwrap(response.object["id"] as? String)
        let run = try waitForTestRun(session.id, runID, token: session.host)
        XCTAssertEqual(run["status"] as? String, "compile_error")
        XCTAssertEqual(run["passed"] as? Int, 0)
        let output = try XCTUnwrap(run["compile_output"] as? String)
        XCTAssertTrue(output.contains("missing_name") && output.contains("error"), output)
        let cases = try XCTUnwrap(run["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 5)
        for item in cases {
            XCTAssertEqual(item["status"] as? String, "compile_error", "\(item)")
            XCTAssertFalse(String(describing: item).contains("missing_name"), "the compile output is on the run, once: \(item)")
        }
        // Each case still gets its one test-case-result, before the run's result.
        _ = try channels.waitForRunResult(runID)
        let statuses = channels.privateFrames.filter { $0.type == "test-case-result" }
            .compactMap { ($0.frame["data"] as? [String: Any])?["status"] as? String }
        XCTAssertEqual(statuses, Array(repeating: "compile_error", count: 5))
        XCTAssertEqual(channels.types(channels.privateFrames).last, "test-run-result")
    }

    func testTrailingWhitespaceComparisonAgainstExact() throws {
        let session = try interview(language: "python", code: "print('1  \\n2\\t\\n\\n')\n")
        try setQuestion(session.id, tests: [
            ["name": "plain", "stdin": "", "expected_stdout": "1\n2"],
            ["name": "as printed", "stdin": "", "expected_stdout": "1  \n2\t\n\n\n"],
        ])
        let loose = try waitForTestRun(session.id, try startedRun(session.id, body: [:]), token: session.host)
        XCTAssertEqual(loose["compare"] as? String, "trailing_whitespace")
        XCTAssertEqual(try testCase(loose, "plain")["status"] as? String, "passed", "trailing blanks and newlines do not count")
        XCTAssertEqual(try testCase(loose, "as printed")["status"] as? String, "passed")

        let exact = try waitForTestRun(session.id, try startedRun(session.id, body: ["compare": "exact"]), token: session.host)
        XCTAssertEqual(exact["compare"] as? String, "exact")
        let plain = try testCase(exact, "plain")
        XCTAssertEqual(plain["status"] as? String, "failed")
        let diff = try XCTUnwrap(plain["diff"] as? [String: Any])
        XCTAssertEqual(diff["line"] as? Int, 1)
        XCTAssertEqual(diff["actual"] as? [String], ["1  ", "2\t", "", "", ""], "the lines as printed, up to the last newline")
        XCTAssertEqual(diff["expected"] as? [String], ["1", "2"])
        XCTAssertEqual(try testCase(exact, "as printed")["status"] as? String, "passed", "byte for byte")
    }

    func testHiddenCasesNeverReachACandidate() throws {
        // The program echoes its input reversed to stdout and to stderr: a hidden case's input,
        // expected output, output and errors each carry a marker no candidate may see.
        let code = "import sys\ndata = sys.stdin.read().strip()\nprint('OUT:' + data[::-1])\nprint('ERR:' + data[::-1], file=sys.stderr)\n"
        let session = try interview(language: "python", code: code)
        let hiddenMarkers = ["HIDDENSTDIN4711", "1174NIDTSNEDDIH", "HIDDENEXPECTED0815"]
        try setQuestion(session.id, tests: [
            ["name": "visible one", "stdin": "VISIBLEIN", "expected_stdout": "OUT:NIELBISIV\n"],
            ["name": "hidden one", "stdin": "HIDDENSTDIN4711", "expected_stdout": "HIDDENEXPECTED0815\n", "hidden": true],
        ])
        let channels = try SessionChannels(redis: redis, session: session.id)
        defer { channels.stop() }
        let response = try startTestRun(session.id, token: session.candidate)
        XCTAssertEqual(response.status, 202)
        for marker in hiddenMarkers { XCTAssertFalse(response.text.contains(marker), "the POST's answer: \(response.text)") }
        let runID = try XCTUnwrap(response.object["id"] as? String)
        let full = try waitForTestRun(session.id, runID, token: session.host)
        XCTAssertEqual(try testCase(full, "hidden one")["status"] as? String, "failed")

        // Interviewers see everything (so the markers are there to be leaked).
        for token in [session.host, session.interviewer] {
            let text = try call("GET", "/sessions/\(session.id)/test-runs/\(runID)", token: token, timeout: 5).text
            for marker in hiddenMarkers { XCTAssertTrue(text.contains(marker), "an interviewer sees \(marker): \(text)") }
        }
        // A candidate's token, or none: the hidden case by name, status, time and memory only.
        for token in [session.candidate, nil] {
            let response = try call("GET", "/sessions/\(session.id)/test-runs/\(runID)", token: token, timeout: 5)
            XCTAssertEqual(response.status, 200)
            for marker in hiddenMarkers { XCTAssertFalse(response.text.contains(marker), "a candidate's view: \(response.text)") }
            XCTAssertTrue(response.text.contains("NIELBISIV"), "visible cases are shown whole")
            let hidden = try testCase(response.object, "hidden one")
            XCTAssertEqual(Set(hidden.keys), ["name", "hidden", "status", "time_ms", "memory_kb"], "\(hidden)")
            let list = try call("GET", "/sessions/\(session.id)/test-runs", token: token, timeout: 5).text
            for marker in hiddenMarkers { XCTAssertFalse(list.contains(marker), "the list: \(list)") }
        }
        // The events channel reaches every member: no frame on it carries a marker; the
        // interviewers' channel does.
        _ = try channels.waitForRunResult(runID)
        XCTAssertFalse(channels.events.isEmpty)
        for message in channels.events {
            for marker in hiddenMarkers { XCTAssertFalse(message.payload.contains(marker), "on the events channel: \(message.payload)") }
        }
        let privateText = channels.privateFrames.map(\.payload).joined()
        for marker in hiddenMarkers { XCTAssertTrue(privateText.contains(marker), "the private channel carries \(marker)") }
        XCTAssertTrue(channels.privateFrames.allSatisfy { $0.exclude == "" })
        XCTAssertTrue(channels.events.filter { $0.type != "test-run-started" }.allSatisfy { $0.exclude == "~interviewers" })
    }

    func testCasesFindNothingOfOtherCasesInputs() throws {
        // Each case lists and reads whatever it can of the sandbox's writable places and of the
        // supervisor (which holds every case's input).
        let code = #"""
        import os, sys
        own = sys.stdin.read()
        out = ["OWN:" + own]
        def listing(path):
            try:
                out.append("ls %s: %s" % (path, " ".join(sorted(os.listdir(path)))))
            except OSError as e:
                out.append("ls %s: errno %d" % (path, e.errno))
        def dump(path):
            try:
                with open(path, "rb") as f:
                    out.append(path + ": " + f.read(4096).decode("utf-8", "replace"))
            except OSError as e:
                out.append("%s: errno %d" % (path, e.errno))
        for d in ["/work", "/tmp", "/dev/shm", "/proc/1/fd", "/proc/self/fd", "/proc/1/map_files"]:
            listing(d)
        for top in ["/work", "/tmp", "/dev/shm"]:
            for root, dirs, files in os.walk(top):
                for name in files:
                    dump(os.path.join(root, name))
        for name in ["environ", "cmdline", "mem", "maps", "fd/0", "fd/3", "fd/4"]:
            dump("/proc/1/" + name)
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for fd in ["0", "3", "4"]:
                    dump("/proc/%s/fd/%s" % (pid, fd))
        print("\n".join(out))
        """#
        let session = try interview(language: "python", code: code)
        let count = 4
        try setQuestion(session.id, tests: (0..<count).map { index in
            ["name": "case \(index)", "stdin": "CASEINPUT-\(index)-Q7", "expected_stdout": "CASEEXPECTED-\(index)-Q7", "hidden": index >= 2]
        })
        let run = try waitForTestRun(session.id, try startedRun(session.id, body: [:]), token: session.host)
        let cases = try XCTUnwrap(run["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, count)
        for (index, item) in cases.enumerated() {
            let output = try XCTUnwrap(item["actual_stdout"] as? String)
            XCTAssertTrue(output.contains("OWN:CASEINPUT-\(index)-Q7"), "the case reads its own input: \(output)")
            XCTAssertTrue(output.contains("ls /work: main.py\n"), "nothing but the program in /work: \(output)")
            XCTAssertTrue(output.contains("ls /tmp: \n") && output.contains("ls /dev/shm: \n"), "nothing in /tmp or /dev/shm: \(output)")
            XCTAssertTrue(output.contains("ls /proc/1/fd: errno 13"), "the supervisor's descriptors are out of reach: \(output)")
            XCTAssertTrue(output.contains("/proc/1/mem: errno 13"), "and its memory: \(output)")
            for other in 0..<count where other != index {
                XCTAssertFalse(output.contains("CASEINPUT-\(other)-"), "case \(index) found case \(other)'s input: \(output)")
            }
            XCTAssertFalse(output.contains("CASEEXPECTED-"), "expected outputs never enter the sandbox: \(output)")
        }
    }

    func testAVisibleCaseCannotPrintWhatAHiddenCaseLeftInTmp() throws {
        // Each case prints what earlier cases left in /tmp, then leaves its own input there.
        let code = """
        import sys
        own = sys.stdin.read().strip()
        try:
            seen = open('/tmp/leak').read().replace('\\n', ',')
        except FileNotFoundError:
            seen = ''
        print('SEEN:' + seen)
        with open('/tmp/leak', 'a') as f:
            f.write(own + '\\n')
        """
        let session = try interview(language: "python", code: code)
        try setQuestion(session.id, tests: [
            ["name": "h1", "stdin": "HIDDENLEAK-1", "expected_stdout": "x", "hidden": true],
            ["name": "v1", "stdin": "VISIBLE-1", "expected_stdout": "SEEN:"],
            ["name": "h2", "stdin": "HIDDENLEAK-2", "expected_stdout": "x", "hidden": true],
            ["name": "v2", "stdin": "VISIBLE-2", "expected_stdout": "SEEN:VISIBLE-1,"],
        ])
        let runID = try startedRun(session.id, body: [:])
        let full = try waitForTestRun(session.id, runID, token: session.host)
        XCTAssertEqual((full["cases"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["v1", "v2", "h1", "h2"])
        XCTAssertEqual(try testCase(full, "v1")["status"] as? String, "passed")
        XCTAssertEqual(try testCase(full, "v2")["status"] as? String, "passed")
        // /tmp does carry over from case to case: the hidden cases saw the visible ones' input.
        XCTAssertEqual(try testCase(full, "h1")["actual_stdout"] as? String, "SEEN:VISIBLE-1,VISIBLE-2,\n")
        let candidate = try call("GET", "/sessions/\(session.id)/test-runs/\(runID)", token: session.candidate, timeout: 5).text
        XCTAssertFalse(candidate.contains("HIDDENLEAK"), candidate)
    }

    func testResultsOfFinishedCasesShowWhileTheRunGoesOn() throws {
        let code = "import sys, time\nline = sys.stdin.read().strip()\nif line == 'slow':\n    time.sleep(4)\nprint(line)\n"
        let session = try interview(language: "python", code: code)
        try setQuestion(session.id, tests: [
            ["name": "fast", "stdin": "fast", "expected_stdout": "fast\n"],
            ["name": "slow", "stdin": "slow", "expected_stdout": "slow\n"],
        ])
        let channels = try SessionChannels(redis: redis, session: session.id)
        defer { channels.stop() }
        let runID = try startedRun(session.id, body: ["limits": ["wall_time_ms": 20_000]])
        let first = try channels.waitFor { $0.type == "test-case-result" }
        XCTAssertEqual((first.frame["data"] as? [String: Any])?["name"] as? String, "fast")
        let midway = try call("GET", "/sessions/\(session.id)/test-runs/\(runID)", token: session.candidate, timeout: 5).object
        XCTAssertEqual(midway["state"] as? String, "running", "\(midway)")
        XCTAssertEqual(try testCase(midway, "fast")["status"] as? String, "passed")
        XCTAssertEqual(try testCase(midway, "fast")["actual_stdout"] as? String, "fast\n")
        XCTAssertTrue(try testCase(midway, "slow")["status"] is NSNull, "not finished yet: \(midway)")
        let done = try waitForTestRun(session.id, runID, token: session.candidate)
        XCTAssertEqual(done["status"] as? String, "passed")
    }

    func testNoQuestionOrNoTestsIs409() throws {
        let session = try interview(language: "python", code: "print(1)")
        let none = try startTestRun(session.id, token: session.candidate)
        XCTAssertEqual(none.status, 409, "\(none)")
        XCTAssertEqual(none.header("Content-Type"), "application/problem+json")
        XCTAssertTrue((none.object["detail"] as? String ?? "").contains("no question"), none.text)
        try setQuestion(session.id, tests: [])
        let empty = try startTestRun(session.id, token: session.candidate)
        XCTAssertEqual(empty.status, 409, "\(empty)")
        XCTAssertTrue((empty.object["detail"] as? String ?? "").contains("no tests"), empty.text)
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/test-runs", timeout: 5).object["count"] as? Int, 0, "nothing was queued")
    }

    func testBadRequestsAreRefusedAndChangeNothing() throws {
        let session = try interview(language: "python", code: "print(1)")
        try setQuestion(session.id, tests: [["name": "one", "stdin": "", "expected_stdout": "1\n"]])
        func expect(_ body: [String: Any], _ status: Int, field: String?, file: StaticString = #filePath, line: UInt = #line) throws {
            let response = try startTestRun(session.id, token: session.candidate, body: body)
            XCTAssertEqual(response.status, status, "\(body) -> \(response)", file: file, line: line)
            XCTAssertEqual(response.header("Content-Type"), "application/problem+json", file: file, line: line)
            if let field { XCTAssertEqual(response.object["field"] as? String, field, response.text, file: file, line: line) }
        }
        try expect(["compare": 5], 422, field: "compare")
        try expect(["compare": "fuzzy"], 422, field: "compare")
        try expect(["language": "cobol"], 422, field: "language")
        try expect(["language": ["python"]], 422, field: "language")
        try expect(["limits": 5], 422, field: "limits")
        try expect(["limits": ["cpu_time_ms": 999_999]], 422, field: "limits.cpu_time_ms")
        try expect(["limits": ["bogus": 1]], 422, field: "limits.bogus")
        try expect(["comparison": "exact"], 422, field: "comparison")
        let path = "/api/v1/sessions/\(session.id)/test-runs"
        func raw(_ body: [UInt8], type: String = "application/json") throws -> HTTPResponse {
            let client = try HTTPClient(port: gateway.port, timeout: 10)
            defer { client.close() }
            return try client.request("POST", path, headers: [("Content-Type", type)], body: body)
        }
        XCTAssertEqual(try raw(Array("{\"compare\": ".utf8)).status, 400, "malformed JSON")
        XCTAssertEqual(try raw(Array("[]".utf8)).status, 400, "not an object")
        XCTAssertEqual(try raw(Array("compare=exact".utf8), type: "text/plain").status, 415)
        XCTAssertEqual(try raw(Array("{\"compare\": \"\(String(repeating: "x", count: 512 << 10))\"}".utf8)).status, 422)
        // Past the body limit: the answer comes from Content-Length alone.
        let client = try HTTPClient(port: gateway.port, timeout: 10)
        defer { client.close() }
        try client.send(raw: "POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1048577\r\n\r\n")
        XCTAssertEqual(try client.readResponse(method: "POST").status, 413)
        // Tokens and sessions.
        let other = try interview(language: "python", code: "print(1)")
        XCTAssertEqual(try startTestRun(session.id, token: other.candidate).status, 403, "a token of another session")
        XCTAssertEqual(try startTestRun("AAAAAAAAAAAAAAAAAAAAAA", token: nil).status, 404)
        XCTAssertEqual(try startTestRun("not-a-session", token: nil).status, 404)
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/test-runs/t_000000000000000000000000", timeout: 5).status, 404)
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/test-runs/nonsense", timeout: 5).status, 404)
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/test-runs?limit=0", timeout: 5).status, 422)
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/test-runs", token: other.host, timeout: 5).status, 403)
        // None of that queued anything.
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/test-runs", timeout: 5).object["count"] as? Int, 0)
        // A run of one session is not another's; an ended session runs nothing more but keeps its runs.
        let runID = try startedRun(session.id, body: [:])
        _ = try waitForTestRun(session.id, runID, token: session.host)
        XCTAssertEqual(try call("GET", "/sessions/\(other.id)/test-runs/\(runID)", token: other.host, timeout: 5).status, 404)
        XCTAssertEqual(try call("PATCH", "/sessions/\(session.id)", json: ["status": "completed"], token: session.host, timeout: 5).status, 200)
        XCTAssertEqual(try startTestRun(session.id, token: session.candidate).status, 410)
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/test-runs/\(runID)", token: session.candidate, timeout: 5).status, 200)
        assertRunnerStillServes()
    }
}
