import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// What the test-run suites share: an interview (host, interviewer, candidate), its question set
/// directly in Redis (as the question routes store it), starting and awaiting runs, and the
/// session's two channels recorded.
struct Interview {
    var id: String
    var host: String
    /// The creator's participant token (an interviewer).
    var interviewer: String
    var candidate: String
    var candidateID: String
}

extension RunnerTestCase {
    /// A session with an interviewer (the creator) and a candidate.
    func interview(language: String, code: String) throws -> Interview {
        let session = try createSession(language: language, code: code)
        let joined = try call("POST", "/sessions/\(session.id)/users", json: ["name": "Grace"], timeout: 5)
        guard joined.status == 201, let token = joined.object["participant_token"] as? String,
              let id = (joined.object["participant"] as? [String: Any])?["id"] as? String else {
            throw HarnessError("joining failed: \(joined)")
        }
        return Interview(id: session.id, host: session.host, interviewer: session.participant, candidate: token, candidateID: id)
    }

    /// Sets the session's question as the questions routes store it (ci:{id}:question).
    func setQuestion(_ id: String, tests: [[String: Any]]) throws {
        let question: [String: Any] = ["title": "Doubling", "prompt": "Print twice the number.", "starter_code": [:], "tests": tests]
        let text = String(decoding: try JSONSerialization.data(withJSONObject: question), as: UTF8.self)
        let client = try RedisClient(port: redis.port)
        defer { client.close() }
        XCTAssertEqual(try client.command(["SET", "ci:{\(id)}:question", text, "EX", "3600"]), .simple("OK"))
    }

    func startTestRun(_ id: String, token: String?, body: [String: Any] = [:]) throws -> HTTPResponse {
        try call("POST", "/sessions/\(id)/test-runs", json: body, token: token, timeout: 10)
    }

    /// Starts a run (as the host) and returns its id.
    func startedRun(_ id: String, body: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let response = try call("POST", "/sessions/\(id)/test-runs", json: body, timeout: 10)
        XCTAssertEqual(response.status, 202, "\(response)", file: file, line: line)
        return try XCTUnwrap(response.object["id"] as? String, file: file, line: line)
    }

    /// GET the run until it is done.
    func waitForTestRun(_ id: String, _ runID: String, token: String?, timeout: TimeInterval = 90) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try call("GET", "/sessions/\(id)/test-runs/\(runID)", token: token, timeout: 5).object
            if last["state"] as? String == "done" { return last }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw HarnessError("test run \(runID) not done within \(timeout) s: \(last)")
    }

    func testCase(_ run: [String: Any], _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let cases = (run["cases"] as? [[String: Any]]) ?? []
        return try XCTUnwrap(cases.first { $0["name"] as? String == name }, "no case \(name) in \(run)", file: file, line: line)
    }
}

/// A session's two channels, recorded with a real Redis client: every member's (`events`) and
/// the interviewers' (`private`), each message with its ChannelMessage header.
final class SessionChannels {
    struct Message {
        var exclude: String
        var payload: String
        var frame: [String: Any]
        var type: String { frame["type"] as? String ?? "" }
    }

    private let eventsRecorder: ChannelRecorder
    private let privateRecorder: ChannelRecorder

    init(redis: RedisServer, session: String) throws {
        eventsRecorder = try ChannelRecorder(port: redis.port, channel: "ci:{\(session)}:events")
        privateRecorder = try ChannelRecorder(port: redis.port, channel: "ci:{\(session)}:private")
    }

    private static func parse(_ payloads: [String]) -> [Message] {
        payloads.compactMap { payload in
            guard let newline = payload.firstIndex(of: "\n") else { return nil }
            let header = payload[..<newline]
            let exclude = header.split(separator: " ", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let json = payload[payload.index(after: newline)...]
            guard let frame = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else { return nil }
            return Message(exclude: exclude, payload: payload, frame: frame)
        }
    }

    /// The test-run frames on the events channel (executions and joins left out).
    var events: [Message] { Self.parse(eventsRecorder.messages).filter { $0.type.hasPrefix("test-") } }
    var privateFrames: [Message] { Self.parse(privateRecorder.messages) }

    func types(_ messages: [Message]) -> [String] { messages.map(\.type) }

    /// Waits for a frame on the private channel.
    func waitFor(timeout: TimeInterval = 60, _ condition: (Message) -> Bool) throws -> Message {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let found = privateFrames.first(where: condition) { return found }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("no such frame on the private channel within \(timeout) s: \(types(privateFrames))")
    }

    /// Waits for the run's test-run-result on both channels; the events channel's messages.
    func waitForRunResult(_ runID: String, timeout: TimeInterval = 60) throws -> [Message] {
        let deadline = Date().addingTimeInterval(timeout)
        func done(_ messages: [Message]) -> Bool {
            messages.contains { $0.type == "test-run-result" && ($0.frame["data"] as? [String: Any])?["run_id"] as? String == runID }
        }
        while Date() < deadline {
            let events = self.events
            if done(events), done(privateFrames) { return events }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("no test-run-result for \(runID) within \(timeout) s: events \(types(events)), private \(types(privateFrames))")
    }

    func stop() {
        eventsRecorder.stop()
        privateRecorder.stop()
    }
}
