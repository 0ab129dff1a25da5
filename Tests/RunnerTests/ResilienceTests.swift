import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// Several runners: a runner killed mid-job, a runner stopped with SIGTERM, many jobs at once.
final class ResilienceTests: RunnerTestCase {
    /// Runners are started by each test (short leases, so a dead runner's jobs come back quickly).
    override class var runnerArguments: [[String]] { [] }
    static let fast = ["--lease", "2000", "--heartbeat", "500", "--concurrency", "2", "--languages", "python"]

    func testKillDashNineMidJobFinishesOnAnotherRunnerWithExactlyOneResult() throws {
        let doomed = try startRunner("doomed", arguments: Self.fast)
        let session = try createSession()
        let events = try ChannelRecorder(port: redis.port, channel: "ci:{\(session.id)}:events")
        defer { events.stop() }

        // The client waits for the result over HTTP while the runner holding its job dies.
        let code = "import time\nprint('start', flush=True)\ntime.sleep(4)\nprint('done')\n"
        let answer = Answer()
        let port = gateway.port, path = "/api/v1/sessions/\(session.id)/execute"
        let client = Thread {
            answer.set(Result {
                let http = try HTTPClient(port: port, timeout: 60)
                defer { http.close() }
                return try http.request("POST", path, json: ["code": code])
            })
        }
        client.start()
        let id = try waitForRunningJob(on: doomed.nodeID, session: session.id)
        let survivor = try startRunner("survivor", arguments: Self.fast)
        let state = try call("GET", "/executions/\(id)", timeout: 5).object
        XCTAssertEqual(state["runner_id"] as? String, doomed.nodeID, "still held by the doomed runner: \(state)")
        XCTAssertEqual(state["state"] as? String, "running")
        kill(doomed.pid, SIGKILL)
        XCTAssertEqual(doomed.waitForExit(timeout: 5), .signaled(SIGKILL))

        let response = try answer.wait(timeout: 60)
        XCTAssertEqual(response.status, 200, "\(response)")
        let job = response.object
        XCTAssertEqual(job["job_id"] as? String, id)
        XCTAssertEqual(job["attempts"] as? Int, 2, "run again after the lease ran out")
        let result = try XCTUnwrap(job["result"] as? [String: Any])
        assertStatus(result, "ok")
        XCTAssertEqual(result["runner_id"] as? String, survivor.nodeID)
        XCTAssertEqual(result["stdout"] as? String, "start\ndone\n")
        XCTAssertEqual(result["attempt"] as? Int, 2)

        // Exactly one result reached the session; the job reads the same afterwards.
        Thread.sleep(forTimeInterval: 1.5)
        let frames = events.frames
        let results = frames.filter { $0["type"] as? String == "execution-result" }
        XCTAssertEqual(results.count, 1, "types: \(frames.map { $0["type"] ?? "?" })")
        XCTAssertEqual((results.first?["data"] as? [String: Any])?["runner_id"] as? String, survivor.nodeID)
        let starts = frames.filter { $0["type"] as? String == "execution-started" }
        XCTAssertEqual(starts.compactMap { ($0["data"] as? [String: Any])?["attempt"] as? Int }, [1, 2])
        let again = try call("GET", "/executions/\(id)", timeout: 5).object
        XCTAssertEqual((again["result"] as? [String: Any])?["runner_id"] as? String, survivor.nodeID)
        // The dead runner left the registry's live set; the survivor serves on.
        XCTAssertFalse(doomed.isRegistered)
        assertRunnerStillServes(survivor)
    }

    func testTwoHundredJobsOverTwoRunnersEachGetItsOwnOutput() throws {
        let first = try startRunner("many-1", arguments: Self.fast)
        let second = try startRunner("many-2", arguments: Self.fast)
        let count = 200
        var ids: [String] = []
        for index in 0..<count {
            let response = try submit("python", "n = int(input())\nprint('job', n, n * n)\n", stdin: "\(index)\n", wait: false)
            XCTAssertEqual(response.status, 202, "job \(index): \(response)")
            ids.append(try XCTUnwrap(response.object["job_id"] as? String))
        }
        XCTAssertEqual(Set(ids).count, count)
        var byRunner: [String: Int] = [:]
        for (index, id) in ids.enumerated() {
            let job = try waitForJob(id, timeout: 120)
            let result = try XCTUnwrap(job["result"] as? [String: Any])
            assertStatus(result, "ok")
            XCTAssertEqual(result["stdout"] as? String, "job \(index) \(index * index)\n")
            XCTAssertEqual(job["attempts"] as? Int, 1)
            byRunner[result["runner_id"] as? String ?? "?", default: 0] += 1
        }
        XCTAssertEqual(byRunner.values.reduce(0, +), count)
        XCTAssertEqual(Set(byRunner.keys), [first.nodeID, second.nodeID], "both runners took jobs: \(byRunner)")
        XCTAssertTrue(first.isRunning && second.isRunning)
    }

    func testSIGTERMFinishesHeldJobsAndPullsNoMore() throws {
        let leaving = try startRunner("leaving", arguments: ["--concurrency", "1"])
        let held = try submit("python", "import time\ntime.sleep(1.5)\nprint('finished anyway')\n", wait: false)
        let heldID = try XCTUnwrap(held.object["job_id"] as? String)
        _ = try waitForJob(heldID) { $0["state"] as? String == "running" }
        // Queued behind the held job (the runner runs one at a time).
        let later = try submit("python", "print('later')\n", wait: false)
        let laterID = try XCTUnwrap(later.object["job_id"] as? String, "\(later)")
        leaving.signal(SIGTERM)
        // A draining runner offers nothing: no new job is accepted for it alone.
        XCTAssertTrue(eventually(timeout: 3) { (try? self.availableLanguages()) == [] }, "the draining runner still offers languages")
        let refused = try submit("python", "print('refused')\n", wait: false)
        XCTAssertEqual(refused.status, 503, "\(refused)")

        XCTAssertEqual(leaving.waitForExit(timeout: 15), .exited(0), leaving.logTail())
        let heldJob = try waitForJob(heldID, timeout: 5)
        let heldResult = try XCTUnwrap(heldJob["result"] as? [String: Any])
        assertStatus(heldResult, "ok")
        XCTAssertEqual(heldResult["runner_id"] as? String, leaving.nodeID)
        XCTAssertEqual(heldResult["stdout"] as? String, "finished anyway\n")
        XCTAssertFalse(leaving.isRegistered, "a stopped runner leaves the registry")
        XCTAssertEqual(try call("GET", "/executions/\(laterID)", timeout: 5).object["state"] as? String, "queued",
                       "a stopping runner takes no new job")

        let next = try startRunner("next", arguments: ["--concurrency", "1"])
        let laterResult = try XCTUnwrap(try waitForJob(laterID)["result"] as? [String: Any])
        XCTAssertEqual(laterResult["runner_id"] as? String, next.nodeID)
        XCTAssertEqual(laterResult["stdout"] as? String, "later\n")
    }

    // MARK: helpers

    /// Waits until the session's newest job is running on `runner`; its id.
    private func waitForRunningJob(on runner: String, session: String, timeout: TimeInterval = 20) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let executions = try call("GET", "/sessions/\(session)/executions", timeout: 5).object["executions"] as? [[String: Any]] ?? []
            if let id = executions.first?["job_id"] as? String {
                let job = try call("GET", "/executions/\(id)", timeout: 5).object
                if job["state"] as? String == "running", job["runner_id"] as? String == runner { return id }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("no job of session \(session) started running on \(runner)")
    }
}

/// A value handed from a background thread.
final class Answer: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Result<HTTPResponse, Error>?

    func set(_ result: Result<HTTPResponse, Error>) {
        condition.lock()
        value = result
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: TimeInterval) throws -> HTTPResponse {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while value == nil {
            guard condition.wait(until: deadline) else { throw HarnessError("no answer within \(timeout) s") }
        }
        return try value!.get()
    }
}
