import Foundation
import XCTest
@testable import TestSupport

/// The session-API convenience layer: one fresh connection per call.
struct API: Sendable {
    let port: UInt16
    /// "/api/v1" or "/api".
    let prefix: String

    init(port: UInt16, prefix: String = "/api/v1") {
        self.port = port
        self.prefix = prefix
    }

    /// A request on a new connection. `json` is serialized with Content-Type application/json.
    func call(_ method: String, _ path: String, token: String? = nil, headers: [(String, String)] = [],
              json: Any? = nil, body: [UInt8]? = nil, timeout: TimeInterval = 5) throws -> HTTPResponse {
        let client = try HTTPClient(port: port, timeout: timeout)
        defer { client.close() }
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        if let json { return try client.request(method, path, headers: all, json: json) }
        return try client.request(method, path, headers: all, body: body)
    }

    /// A request to `prefix + path`.
    func api(_ method: String, _ path: String, token: String? = nil, headers: [(String, String)] = [],
             json: Any? = nil, body: [UInt8]? = nil) throws -> HTTPResponse {
        try call(method, prefix + path, token: token, headers: headers, json: json, body: body)
    }

    // MARK: sessions

    func createSession(_ body: [String: Any] = [:], headers: [(String, String)] = []) throws -> HTTPResponse {
        try api("POST", "/sessions", headers: headers, json: body)
    }

    /// Creates a session and returns it; fails the test (throws) unless the answer is 201.
    func newSession(_ body: [String: Any] = [:], file: StaticString = #filePath,
                    line: UInt = #line) throws -> CreatedSession {
        let r = try createSession(body)
        guard r.status == 201, let id = r.object["id"] as? String, let host = r.object["host_token"] as? String else {
            XCTFail("creating a session: expected 201 with id and host_token, got \(r)", file: file, line: line)
            throw HarnessError("session creation failed")
        }
        return CreatedSession(id: id, hostToken: host, participantToken: r.object["participant_token"] as? String,
                              participantID: r.object["participant_id"] as? String, response: r)
    }

    func getSession(_ id: String, token: String? = nil) throws -> HTTPResponse {
        try api("GET", "/sessions/\(id)", token: token)
    }

    func patchSession(_ id: String, _ body: [String: Any], token: String? = nil) throws -> HTTPResponse {
        try api("PATCH", "/sessions/\(id)", token: token, json: body)
    }

    func deleteSession(_ id: String, token: String? = nil) throws -> HTTPResponse {
        try api("DELETE", "/sessions/\(id)", token: token)
    }

    /// Ends a session (PATCH status completed with the host token).
    func endSession(_ s: CreatedSession) throws -> HTTPResponse {
        try patchSession(s.id, ["status": "completed"], token: s.hostToken)
    }

    // MARK: participants

    func join(_ id: String, name: String, role: String? = nil, token: String? = nil) throws -> HTTPResponse {
        var body: [String: Any] = ["name": name]
        if let role { body["role"] = role }
        return try api("POST", "/sessions/\(id)/users", token: token, json: body)
    }

    /// Joins and returns the participant; fails the test (throws) unless the answer is 201.
    func joined(_ id: String, name: String, role: String? = nil, token: String? = nil,
                file: StaticString = #filePath, line: UInt = #line) throws -> JoinedParticipant {
        let r = try join(id, name: name, role: role, token: token)
        guard r.status == 201, let p = r.object["participant"] as? [String: Any],
              let pid = p["id"] as? String, let t = r.object["participant_token"] as? String else {
            XCTFail("joining \(name): expected 201 with participant and participant_token, got \(r)",
                    file: file, line: line)
            throw HarnessError("join failed")
        }
        return JoinedParticipant(id: pid, token: t, participant: p)
    }

    func users(_ id: String) throws -> HTTPResponse { try api("GET", "/sessions/\(id)/users") }

    func leave(_ id: String, user: String, token: String?) throws -> HTTPResponse {
        try api("DELETE", "/sessions/\(id)/users/\(user)", token: token)
    }

    // MARK: code, history, languages, health

    func getCode(_ id: String) throws -> HTTPResponse { try api("GET", "/sessions/\(id)/code") }

    func saveCode(_ id: String, _ code: String, language: String? = nil, token: String? = nil) throws -> HTTPResponse {
        var body: [String: Any] = ["code": code]
        if let language { body["language"] = language }
        return try api("POST", "/sessions/\(id)/code", token: token, json: body)
    }

    func history(_ id: String) throws -> HTTPResponse { try api("GET", "/sessions/\(id)/history") }

    func languages() throws -> HTTPResponse { try api("GET", "/languages") }

    func template(_ language: String) throws -> HTTPResponse { try api("GET", "/languages/\(language)/template") }

    func health(path: String = "/health", timeout: TimeInterval = 5) throws -> HTTPResponse {
        try call("GET", path, timeout: timeout)
    }
}

struct CreatedSession {
    let id: String
    let hostToken: String
    let participantToken: String?
    let participantID: String?
    let response: HTTPResponse
    var object: [String: Any] { response.object }
}

struct JoinedParticipant {
    let id: String
    let token: String
    let participant: [String: Any]
    var color: String? { participant["color"] as? String }
}

extension GatewayProcess {
    /// The convenience API layer on this gateway (`prefix` "/api/v1" or "/api").
    func api(prefix: String = "/api/v1") -> API { API(port: port, prefix: prefix) }
}
