import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// Test runs are jobs like any other: the queue bound and the rate limits of runs apply, and a
/// runner killed mid-run hands the run to another with exactly one result.
final class TestRunAdmissionTests: RunnerTestCase {
    /// Runners are started by each test.
    override class var runnerArguments: [[String]] { [] }
    static let fast = ["--lease", "2000", "--heartbeat", "500", "--concurrency", "1", "--languages", "python"]

    func testFullQueueIs503AndRateLimitsAre429() throws {
        _ = try startRunner("admission", arguments: Self.fast)
        let small = try startGateway(arguments: ["--max-queued-jobs", "1"])
        let session = try createSession(language: "python", code: "print(input())\n")
        try setQuestion(session.id, tests: [["name": "echo", "stdin": "hi\n", "expected_stdout": "hi\n"]])

        // The runner's one slot is busy; one job may wait; the next is refused.
        let busy = try submit("python", "import time\ntime.sleep(2)\nprint('busy')", wait: false, port: small.port)
        let busyID = try XCTUnwrap(busy.object["job_id"] as? String, "\(busy)")
        _ = try waitForJob(busyID) { $0["state"] as? String == "running" }
        let waiting = try call("POST", "/sessions/\(session.id)/test-runs", json: [:], port: small.port, timeout: 10)
        XCTAssertEqual(waiting.status, 202, "\(waiting)")
        let refused = try call("POST", "/sessions/\(session.id)/test-runs", json: [:], port: small.port, timeout: 10)
        XCTAssertEqual(refused.status, 503, "\(refused)")
        XCTAssertEqual(refused.header("Retry-After"), "2")
        XCTAssertTrue((refused.object["detail"] as? String ?? "").contains("queue"), refused.text)
        // The admitted run still runs.
        let waitingID = try XCTUnwrap(waiting.object["id"] as? String)
        XCTAssertEqual(try waitForTestRun(session.id, waitingID, token: nil)["status"] as? String, "passed")

        // Per session, test runs count with the session's runs.
        let limited = try startGateway(arguments: ["--rate-limits", "on", "--rate-session-executions", "2/60"])
        let statuses = try (0..<3).map { _ in
            try call("POST", "/sessions/\(session.id)/test-runs", json: [:], port: limited.port, timeout: 10)
        }
        XCTAssertEqual(statuses.map(\.status), [202, 202, 429], "\(statuses.last.map { "\($0)" } ?? "")")
        XCTAssertNotNil(statuses.last?.header("Retry-After"))
        let execute = try call("POST", "/sessions/\(session.id)/execute", json: ["code": "print(1)", "wait": false], port: limited.port)
        XCTAssertEqual(execute.status, 429, "runs and test runs share the session's budget")
    }

    func testRunnerKilledMidRunHandsItOnWithOneResult() throws {
        let doomed = try startRunner("tr-doomed", arguments: Self.fast)
        let code = "import sys, time\nline = sys.stdin.read().strip()\nif line == 'slow':\n    time.sleep(4)\nprint(line)\n"
        let session = try createSession(language: "python", code: code)
        try setQuestion(session.id, tests: [["name": "fast", "stdin": "fast", "expected_stdout": "fast\n"],
                                            ["name": "slow", "stdin": "slow", "expected_stdout": "slow\n", "hidden": true]])
        let channels = try SessionChannels(redis: redis, session: session.id)
        defer { channels.stop() }
        let response = try call("POST", "/sessions/\(session.id)/test-runs", json: ["limits": ["wall_time_ms": 20_000]], timeout: 10)
        XCTAssertEqual(response.status, 202, "\(response)")
        let runID = try XCTUnwrap(response.object["id"] as? String)
        // The first case is done on the doomed runner; the second is sleeping there.
        _ = try channels.waitFor { $0.type == "test-case-result" }
        let midway = try call("GET", "/sessions/\(session.id)/test-runs/\(runID)", timeout: 5).object
        XCTAssertEqual(midway["runner_id"] as? String, doomed.nodeID)
        XCTAssertEqual(midway["state"] as? String, "running")
        let survivor = try startRunner("tr-survivor", arguments: Self.fast)
        kill(doomed.pid, SIGKILL)
        XCTAssertEqual(doomed.waitForExit(timeout: 5), .signaled(SIGKILL))

        let run = try waitForTestRun(session.id, runID, token: session.host, timeout: 60)
        XCTAssertEqual(run["status"] as? String, "passed", "\(run)")
        XCTAssertEqual(run["attempts"] as? Int, 2)
        XCTAssertEqual(run["runner_id"] as? String, survivor.nodeID)
        _ = try channels.waitForRunResult(runID)
        Thread.sleep(forTimeInterval: 1)
        let starts = channels.events.filter { $0.type == "test-run-started" }
        XCTAssertEqual(starts.compactMap { ($0.frame["data"] as? [String: Any])?["attempt"] as? Int }, [1, 2])
        XCTAssertEqual(channels.events.filter { $0.type == "test-run-result" }.count, 1, "\(channels.types(channels.events))")
        XCTAssertEqual(channels.privateFrames.filter { $0.type == "test-run-result" }.count, 1)
        let final = try XCTUnwrap(channels.privateFrames.last?.frame["data"] as? [String: Any])
        XCTAssertEqual(final["runner_id"] as? String, survivor.nodeID)
        XCTAssertEqual(final["attempt"] as? Int, 2)
    }
}
