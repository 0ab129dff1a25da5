import Foundation
import XCTest
@testable import TestSupport

/// The execution API: waiting and not, reading jobs, limits, sessions and their WebSocket events.
final class ExecutionAPITests: RunnerTestCase {
    func testWaitFalseAnswers202ThenTheJobCarriesTheResult() throws {
        let response = try submit("python", "import time\ntime.sleep(0.3)\nprint('late')\n", wait: false)
        XCTAssertEqual(response.status, 202, "\(response)")
        let job = response.object
        let id = try XCTUnwrap(job["job_id"] as? String)
        XCTAssertTrue(id.hasPrefix("j_"), id)
        XCTAssertEqual(response.header("Location"), "/api/v1/executions/\(id)")
        XCTAssertTrue(["queued", "running"].contains(job["state"] as? String ?? ""), "\(job)")
        XCTAssertTrue(job["result"] is NSNull)
        let done = try waitForJob(id)
        XCTAssertEqual(done["state"] as? String, "done")
        XCTAssertEqual(done["attempts"] as? Int, 1)
        XCTAssertEqual(done["runner_id"] as? String, runner.nodeID)
        XCTAssertNotNil(done["finished_at"] as? Int)
        let result = try XCTUnwrap(done["result"] as? [String: Any])
        assertStatus(result, "ok")
        XCTAssertEqual(result["stdout"] as? String, "late\n")
        XCTAssertEqual(result["job_id"] as? String, id)
        // The same job through the /api alias; HEAD works too.
        let alias = try HTTPClient(port: gateway.port).request("GET", "/api/executions/\(id)")
        XCTAssertEqual(alias.status, 200)
        XCTAssertEqual(try call("HEAD", "/executions/\(id)").status, 200)
    }

    func testUnknownJobsAre404() throws {
        XCTAssertEqual(try call("GET", "/executions/j_000000000000000000000000").status, 404)
        let malformed = try call("GET", "/executions/not-a-job")
        XCTAssertEqual(malformed.status, 404)
        XCTAssertEqual(malformed.header("Content-Type"), "application/problem+json")
    }

    func testInvalidRequestsAre4xxNamingTheField() throws {
        func expect(_ body: [String: Any], _ status: Int, field: String?, file: StaticString = #filePath, line: UInt = #line) throws {
            let response = try call("POST", "/execute", json: body)
            XCTAssertEqual(response.status, status, "\(body) -> \(response)", file: file, line: line)
            XCTAssertEqual(response.header("Content-Type"), "application/problem+json", file: file, line: line)
            if let field { XCTAssertEqual(response.object["field"] as? String, field, "\(response.text)", file: file, line: line) }
        }
        let ok: [String: Any] = ["language": "python", "code": "print(1)"]
        func with(_ extra: [String: Any]) -> [String: Any] { ok.merging(extra) { $1 } }
        try expect(["language": "python"], 422, field: "code")
        try expect(["code": "print(1)"], 422, field: "language")
        try expect(with(["language": "cobol"]), 422, field: "language")
        try expect(with(["code": 5]), 422, field: "code")
        try expect(with(["stdin": ["no"]]), 422, field: "stdin")
        try expect(with(["wait": "yes"]), 422, field: "wait")
        try expect(with(["limits": 5]), 422, field: "limits")
        try expect(with(["limits": ["cpu_time_ms": 999_999]]), 422, field: "limits.cpu_time_ms")
        try expect(with(["limits": ["cpu_time_ms": 10]]), 422, field: "limits.cpu_time_ms")
        try expect(with(["limits": ["wall_time_ms": 60_001]]), 422, field: "limits.wall_time_ms")
        try expect(with(["limits": ["memory_kb": 1]]), 422, field: "limits.memory_kb")
        try expect(with(["limits": ["memory_kb": 4_000_000]]), 422, field: "limits.memory_kb")
        try expect(with(["limits": ["processes": 0]]), 422, field: "limits.processes")
        try expect(with(["limits": ["output_kb": 1.5]]), 422, field: "limits.output_kb")
        try expect(with(["limits": ["bogus": 1]]), 422, field: "limits.bogus")
        try expect(with(["code": String(repeating: "#", count: 300 * 1024)]), 413, field: "code")
        try expect(with(["stdin": String(repeating: "1", count: 300 * 1024)]), 413, field: "stdin")
        // A detail that says what is allowed.
        let response = try call("POST", "/execute", json: with(["limits": ["cpu_time_ms": 999_999]]))
        XCTAssertTrue((response.object["detail"] as? String ?? "").contains("20000"), "\(response.text)")
    }

    func testRequestedLimitsWithinTheMaximaApply() throws {
        let response = try submit("python", "print('x')", limits: ["cpu_time_ms": 700, "memory_kb": 131072, "processes": 8])
        XCTAssertEqual(response.status, 200)
        let limits = try XCTUnwrap(response.object["limits"] as? [String: Any])
        XCTAssertEqual(limits["cpu_time_ms"] as? Int, 700)
        XCTAssertEqual(limits["memory_kb"] as? Int, 131072)
        XCTAssertEqual(limits["processes"] as? Int, 8)
        XCTAssertEqual(limits["wall_time_ms"] as? Int, 10_000, "defaults fill the rest")
        let result = try XCTUnwrap(response.object["result"] as? [String: Any])
        XCTAssertEqual((result["limits"] as? [String: Any])?["cpu_time_ms"] as? Int, 700, "the runner applied them")
        // Higher than the default (up to the maximum) is allowed too.
        let slow = try run("python", "import time\ntime.sleep(0.2)\nprint('ok')", limits: ["wall_time_ms": 30_000])
        assertStatus(slow, "ok")
    }

    func testSessionRunReachesEveryParticipantsWebSocket() throws {
        let session = try createSession()
        let joined = try call("POST", "/sessions/\(session.id)/users", json: ["name": "Grace"], timeout: 5)
        let candidateToken = try XCTUnwrap(joined.object["participant_token"] as? String)
        let candidateID = try XCTUnwrap((joined.object["participant"] as? [String: Any])?["id"] as? String)

        let sockets = try [session.participant, candidateToken].map { token -> WebSocketClient in
            let socket = try WebSocketClient(port: gateway.port, sessionID: session.id)
            try socket.send(["type": "join", "data": ["participant_token": token]])
            _ = try socket.collect(timeout: 5) { messages in messages.contains { $0["type"] as? String == "welcome" } }
            return socket
        }
        defer { sockets.forEach { $0.close() } }

        let code = "import sys, time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.15)\nprint('oops', file=sys.stderr)\n"
        let response = try call("POST", "/sessions/\(session.id)/execute", json: ["code": code], token: candidateToken)
        XCTAssertEqual(response.status, 200, "\(response)")
        let job = response.object
        let id = try XCTUnwrap(job["job_id"] as? String)
        XCTAssertEqual(job["session_id"] as? String, session.id)
        XCTAssertEqual(job["user_id"] as? String, candidateID)
        XCTAssertEqual(job["name"] as? String, "Grace")

        for socket in sockets {
            let messages = try socket.collect(timeout: 10) { messages in
                messages.contains { $0["type"] as? String == "execution-result" }
            }.filter { ($0["type"] as? String ?? "").hasPrefix("execution-") }
            let types = messages.map { $0["type"] as? String ?? "" }
            XCTAssertEqual(types.first, "execution-started", "\(types)")
            XCTAssertEqual(types.last, "execution-result", "\(types)")
            XCTAssertEqual(types.filter { $0 == "execution-result" }.count, 1)
            let started = messages[0]["data"] as? [String: Any]
            XCTAssertEqual(started?["job_id"] as? String, id)
            XCTAssertEqual(started?["user_id"] as? String, candidateID)
            XCTAssertEqual(started?["language"] as? String, "python")
            let outputs = messages.filter { $0["type"] as? String == "execution-output" }.compactMap { $0["data"] as? [String: Any] }
            XCTAssertGreaterThanOrEqual(outputs.count, 2, "the output streams in chunks as it is printed: \(outputs)")
            let sequence = outputs.compactMap { $0["seq"] as? Int }
            XCTAssertEqual(sequence, sequence.sorted(), "chunks in order")
            let stdout = outputs.filter { $0["stream"] as? String == "stdout" }.compactMap { $0["chunk"] as? String }.joined()
            let stderr = outputs.filter { $0["stream"] as? String == "stderr" }.compactMap { $0["chunk"] as? String }.joined()
            XCTAssertEqual(stdout, "line 0\nline 1\nline 2\n")
            XCTAssertEqual(stderr, "oops\n")
            let result = messages.last?["data"] as? [String: Any]
            XCTAssertEqual(result?["status"] as? String, "ok")
            XCTAssertEqual(result?["job_id"] as? String, id)
            XCTAssertEqual(result?["stdout"] as? String, stdout)
            XCTAssertNotNil(messages.last?["timestamp"] as? Int)
        }

        let history = try call("GET", "/sessions/\(session.id)/executions", timeout: 5)
        XCTAssertEqual(history.status, 200)
        let executions = try XCTUnwrap(history.object["executions"] as? [[String: Any]])
        XCTAssertEqual(executions.first?["job_id"] as? String, id)
        XCTAssertEqual(executions.first?["status"] as? String, "ok")
        XCTAssertEqual(executions.first?["user_id"] as? String, candidateID)
        XCTAssertNil(executions.first?["stdout"], "the history carries no output")
    }

    func testSessionRunDefaultsToTheSessionsDocumentAndHistoryIsCapped() throws {
        let session = try createSession(language: "python", code: "print('from the document')\n")
        let result = try XCTUnwrap(try call("POST", "/sessions/\(session.id)/execute", json: [:]).object["result"] as? [String: Any])
        assertStatus(result, "ok")
        XCTAssertEqual(result["stdout"] as? String, "from the document\n")

        for index in 0..<3 {
            _ = try call("POST", "/sessions/\(session.id)/execute", json: ["code": "print(\(index))", "wait": false])
        }
        let limited = try call("GET", "/sessions/\(session.id)/executions?limit=2", timeout: 5).object
        XCTAssertEqual(limited["count"] as? Int, 2)
        let all = try call("GET", "/sessions/\(session.id)/executions", timeout: 5).object
        XCTAssertEqual(all["count"] as? Int, 4, "newest first, every run of the session")
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/executions?limit=0").status, 422)
    }

    func testSessionRunErrors() throws {
        let unknown = "AAAAAAAAAAAAAAAAAAAAAA"
        XCTAssertEqual(try call("POST", "/sessions/\(unknown)/execute", json: ["code": "print(1)"]).status, 404)
        XCTAssertEqual(try call("GET", "/sessions/\(unknown)/executions").status, 404)
        let session = try createSession()
        let other = try createSession()
        let foreign = try call("POST", "/sessions/\(session.id)/execute", json: ["code": "print(1)"], token: other.participant)
        XCTAssertEqual(foreign.status, 403, "a token of another session: \(foreign)")
        // An ended session runs nothing more, but its history stays readable.
        XCTAssertEqual(try call("PATCH", "/sessions/\(session.id)", json: ["status": "completed"], token: session.host, timeout: 5).status, 200)
        XCTAssertEqual(try call("POST", "/sessions/\(session.id)/execute", json: ["code": "print(1)"]).status, 410)
        XCTAssertEqual(try call("GET", "/sessions/\(session.id)/executions").status, 200)
    }
}
