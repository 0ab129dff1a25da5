import Foundation
import XCTest
@testable import TestSupport

/// POST/GET/PATCH/DELETE /sessions: body shapes, defaults, validation, auth, ending.
final class SessionTests: GatewayTestCase {
    override class var gatewayConfigurations: [String: [String]] {
        [
            "main": [],
            // Short TTL, public URL and per-session defaults/limits from the command line.
            "custom": ["--session-ttl", "2", "--public-url", "https://interview.example",
                       "--max-participants", "3", "--max-participants-limit", "5"],
        ]
    }

    private let sessionIDPattern = "[A-Za-z0-9_-]{22}"
    private let participantIDPattern = "u_[0-9a-f]{16}"
    private let colorPattern = "#[0-9a-fA-F]{6}"

    private func template(_ language: String) throws -> String? {
        try api.template(language).object["template"] as? String
    }

    /// Checks every member of a Session object.
    private func assertSessionShape(_ s: [String: Any], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(matches(s["id"] as? String, sessionIDPattern), "id: \(s["id"] ?? "nil")", file: file, line: line)
        XCTAssertTrue(s["name"] is String || s["name"] is NSNull, "name string|null: \(s["name"] ?? "missing")",
                      file: file, line: line)
        XCTAssertNotNil(s["join_url"] as? String, "join_url", file: file, line: line)
        XCTAssertNotNil(s["code"] as? String, "code", file: file, line: line)
        XCTAssertNotNil(s["language"] as? String, "language", file: file, line: line)
        XCTAssertTrue(isJSONInteger(s["revision"]), "revision int: \(s["revision"] ?? "missing")", file: file, line: line)
        XCTAssertTrue(["active", "completed"].contains(s["status"] as? String ?? ""), "status", file: file, line: line)
        for key in ["created_at", "updated_at", "expires_at", "max_participants"] {
            XCTAssertTrue(isJSONInteger(s[key]), "\(key) int: \(s[key] ?? "missing")", file: file, line: line)
        }
        XCTAssertNotNil(s["participants"] as? [Any], "participants array", file: file, line: line)
    }

    // MARK: create

    func testCreateWithEmptyObjectUsesDefaults() throws {
        let before = nowMs
        let r = try api.createSession([:], headers: [("Host", "interview.test:4242")])
        let after = nowMs
        assertStatus(r, 201)
        let s = r.object
        assertSessionShape(s)
        let id = try XCTUnwrap(s["id"] as? String)
        XCTAssertTrue(s["name"] is NSNull, "name should be null without a session name: \(r.text)")
        XCTAssertEqual(s["language"] as? String, "python")
        XCTAssertEqual(s["code"] as? String, try template("python"), "code defaults to the python template")
        XCTAssertEqual(s["revision"] as? Int, 0)
        XCTAssertEqual(s["status"] as? String, "active")
        XCTAssertEqual(s["max_participants"] as? Int, 10)
        XCTAssertEqual((s["participants"] as? [Any])?.count, 0)
        let created = try XCTUnwrap(s["created_at"] as? Int)
        XCTAssertGreaterThanOrEqual(created, before - 1000)
        XCTAssertLessThanOrEqual(created, after + 1000)
        let expires = try XCTUnwrap(s["expires_at"] as? Int)
        XCTAssertEqual(Double(expires - created), 86_400_000, accuracy: 1000, "expires_at = now + 24 h")
        XCTAssertNotNil(s["host_token"] as? String)
        XCTAssertNil(s["participant_token"], "no participant_token without a creator")
        XCTAssertNil(s["participant_id"], "no participant_id without a creator")
        let joinURL = try XCTUnwrap(s["join_url"] as? String)
        XCTAssertTrue(joinURL.contains(id), "join_url \(joinURL) contains the id")
        XCTAssertTrue(joinURL.contains("interview.test:4242"), "join_url \(joinURL) built from the Host header")
        XCTAssertTrue(r.header("Location")?.hasSuffix("/api/v1/sessions/\(id)") ?? false,
                      "Location: \(r.header("Location") ?? "missing")")
        XCTAssertTrue(r.header("Content-Type")?.lowercased().hasPrefix("application/json") ?? false)
    }

    func testCreateWithEmptyBodyCountsAsEmptyObject() throws {
        let r = try api.api("POST", "/sessions", body: [])
        assertStatus(r, 201)
        XCTAssertEqual(r.object["language"] as? String, "python")
        XCTAssertEqual(r.object["max_participants"] as? Int, 10)
    }

    func testCreateWithCreatorShape() throws {
        let r = try api.createSession([
            "creator": ["id": "client-chosen-id", "name": "Alice", "color": "not-a-color"],
            "code": "console.log(1)\n",
            "language": "javascript",
            "unknown_field": [1, 2, 3],
        ])
        assertStatus(r, 201)
        let s = r.object
        assertSessionShape(s)
        XCTAssertEqual(s["code"] as? String, "console.log(1)\n")
        XCTAssertEqual(s["language"] as? String, "javascript")
        let participants = try XCTUnwrap(s["participants"] as? [[String: Any]])
        XCTAssertEqual(participants.count, 1)
        let p = try XCTUnwrap(participants.first)
        XCTAssertEqual(p["name"] as? String, "Alice")
        XCTAssertEqual(p["role"] as? String, "interviewer")
        XCTAssertTrue(matches(p["id"] as? String, participantIDPattern), "server-assigned id: \(p["id"] ?? "nil")")
        XCTAssertTrue(matches(p["color"] as? String, colorPattern), "server-assigned color: \(p["color"] ?? "nil")")
        XCTAssertTrue(isJSONInteger(p["joined_at"]))
        XCTAssertNotNil(s["host_token"] as? String)
        XCTAssertNotNil(s["participant_token"] as? String)
        XCTAssertEqual(s["participant_id"] as? String, p["id"] as? String)
    }

    func testCreateWithHostNameShape() throws {
        let r = try api.createSession([
            "host_name": "Hank", "session_name": "Onsite loop", "initial_language": "go", "max_participants": 4,
        ])
        assertStatus(r, 201)
        let s = r.object
        assertSessionShape(s)
        XCTAssertEqual(s["name"] as? String, "Onsite loop")
        XCTAssertEqual(s["language"] as? String, "go")
        XCTAssertEqual(s["code"] as? String, try template("go"), "code defaults to the language's template")
        XCTAssertEqual(s["max_participants"] as? Int, 4)
        let participants = try XCTUnwrap(s["participants"] as? [[String: Any]])
        XCTAssertEqual(participants.count, 1)
        XCTAssertEqual(participants.first?["name"] as? String, "Hank")
        XCTAssertEqual(participants.first?["role"] as? String, "interviewer")
        XCTAssertNotNil(s["participant_token"] as? String)
        XCTAssertEqual(s["participant_id"] as? String, participants.first?["id"] as? String)
    }

    func testCreateAcceptsCharsetParameter() throws {
        let r = try api.api("POST", "/sessions", headers: [("Content-Type", "application/json; charset=utf-8")],
                            body: Array(#"{"session_name":"x"}"#.utf8))
        assertStatus(r, 201)
        XCTAssertEqual(r.object["name"] as? String, "x")
    }

    func testSessionIDsAreDistinct() throws {
        var ids = Set<String>()
        for _ in 0..<5 { ids.insert(try api.newSession().id) }
        XCTAssertEqual(ids.count, 5)
    }

    // MARK: create: errors

    func testCreateValidationErrorsName422Field() throws {
        let cases: [([String: Any], String)] = [
            (["max_participants": 0], "max_participants"),
            (["max_participants": 51], "max_participants"),
            (["max_participants": "ten"], "max_participants"),
            (["max_participants": 2.5], "max_participants"),
            (["language": "cobol"], "language"),
            (["language": 7], "language"),
            (["code": 42], "code"),
        ]
        for (body, field) in cases {
            let r = try api.createSession(body)
            assertProblem(r, status: 422, slug: "validation", field: field, instance: "/api/v1/sessions")
        }
        // Boundaries are accepted.
        assertStatus(try api.createSession(["max_participants": 1]), 201)
        assertStatus(try api.createSession(["max_participants": 50]), 201)
    }

    func testCreateMalformedJSONIs400() throws {
        for raw in ["{", "{\"a\":}", "nope", "[]", "\"string\"", "42"] {
            let r = try api.api("POST", "/sessions", headers: [("Content-Type", "application/json")],
                                body: Array(raw.utf8))
            assertProblem(r, status: 400, slug: "bad-request", instance: "/api/v1/sessions")
        }
    }

    func testCreateWrongContentTypeIs415() throws {
        for ct in ["text/plain", "application/x-www-form-urlencoded"] {
            let r = try api.api("POST", "/sessions", headers: [("Content-Type", ct)], body: Array("{}".utf8))
            assertProblem(r, status: 415, slug: "unsupported-media-type")
        }
    }

    // MARK: get

    func testGetSessionReturnsSameSession() throws {
        let created = try api.newSession(["session_name": "Round 1"])
        let r = try api.getSession(created.id)
        assertStatus(r, 200)
        assertSessionShape(r.object)
        XCTAssertEqual(r.object["id"] as? String, created.id)
        XCTAssertEqual(r.object["name"] as? String, "Round 1")
        XCTAssertNil(r.object["host_token"], "GET must not reveal the host token")
        for key in ["code", "language", "revision", "status", "created_at", "expires_at", "max_participants"] {
            XCTAssertEqual("\(r.object[key] ?? "nil")", "\(created.object[key] ?? "nil")", key)
        }
    }

    func testUnknownSessionIs404() throws {
        let id = "AAAAAAAAAAAAAAAAAAAAAA"
        assertProblem(try api.getSession(id), status: 404, slug: "not-found", instance: "/api/v1/sessions/\(id)")
        assertProblem(try api.patchSession(id, ["code": "x"]), status: 404, slug: "not-found")
        assertProblem(try api.join(id, name: "Bob"), status: 404, slug: "not-found")
        assertProblem(try api.users(id), status: 404, slug: "not-found")
        assertProblem(try api.getCode(id), status: 404, slug: "not-found")
        assertProblem(try api.saveCode(id, "x"), status: 404, slug: "not-found")
        assertProblem(try api.history(id), status: 404, slug: "not-found")
    }

    // MARK: patch

    func testPatchCodeBumpsRevisionLanguageDoesNot() throws {
        let s = try api.newSession()
        var r = try api.patchSession(s.id, ["code": "print('a')"])
        assertStatus(r, 200)
        assertSessionShape(r.object)
        XCTAssertEqual(r.object["code"] as? String, "print('a')")
        XCTAssertEqual(r.object["revision"] as? Int, 1)
        r = try api.patchSession(s.id, ["language": "ruby"])
        assertStatus(r, 200)
        XCTAssertEqual(r.object["language"] as? String, "ruby")
        XCTAssertEqual(r.object["revision"] as? Int, 1, "revisions number the text; a language change is not one")
        r = try api.patchSession(s.id, ["code": "puts 1"])
        XCTAssertEqual(r.object["revision"] as? Int, 2)
        r = try api.patchSession(s.id, ["name": "Renamed"], token: s.hostToken)
        assertStatus(r, 200)
        XCTAssertEqual(r.object["name"] as? String, "Renamed")
        XCTAssertEqual(r.object["revision"] as? Int, 2, "a name change is not a code change")
        let g = try api.getSession(s.id)
        XCTAssertEqual(g.object["code"] as? String, "puts 1")
        XCTAssertEqual(g.object["language"] as? String, "ruby")
        XCTAssertEqual(g.object["name"] as? String, "Renamed")
        XCTAssertEqual(g.object["revision"] as? Int, 2)
        XCTAssertGreaterThanOrEqual(g.object["updated_at"] as? Int ?? 0, s.object["created_at"] as? Int ?? .max)
    }

    func testRenameNeedsTheHostToken() throws {
        // Configuring a session is the host's: a candidate with the link may not rename it.
        let s = try api.newSession(["session_name": "Before"])
        assertProblem(try api.patchSession(s.id, ["name": "After"]), status: 401, slug: "unauthorized")
        let joined = try api.join(s.id, name: "Cand")
        let candidateToken = joined.object["participant_token"] as? String
        assertProblem(try api.patchSession(s.id, ["name": "After"], token: candidateToken), status: 403, slug: "forbidden")
        XCTAssertEqual(try api.getSession(s.id).object["name"] as? String, "Before")
        let r = try api.patchSession(s.id, ["name": "After"], token: s.hostToken)
        assertStatus(r, 200)
        XCTAssertEqual(r.object["name"] as? String, "After")
        XCTAssertEqual(try api.getSession(s.id).object["name"] as? String, "After")
    }

    func testPatchValidation() throws {
        let s = try api.newSession()
        assertProblem(try api.patchSession(s.id, ["language": "cobol"]), status: 422, slug: "validation", field: "language")
        assertProblem(try api.patchSession(s.id, ["code": 5]), status: 422, slug: "validation", field: "code")
        assertProblem(try api.patchSession(s.id, ["status": "paused"], token: s.hostToken),
                      status: 422, slug: "validation", field: "status")
        let bad = try api.api("PATCH", "/sessions/\(s.id)", headers: [("Content-Type", "application/json")],
                              body: Array("{oops".utf8))
        assertProblem(bad, status: 400, slug: "bad-request")
        let wrongType = try api.api("PATCH", "/sessions/\(s.id)", headers: [("Content-Type", "text/plain")],
                                    body: Array("{}".utf8))
        assertProblem(wrongType, status: 415, slug: "unsupported-media-type")
        // Nothing changed.
        let g = try api.getSession(s.id)
        XCTAssertEqual(g.object["revision"] as? Int, 0)
        XCTAssertEqual(g.object["language"] as? String, "python")
        XCTAssertEqual(g.object["status"] as? String, "active")
    }

    func testEndingNeedsHostToken() throws {
        let s = try api.newSession()
        let p = try api.joined(s.id, name: "Cara")
        assertProblem(try api.patchSession(s.id, ["status": "completed"]), status: 401, slug: "unauthorized")
        assertProblem(try api.patchSession(s.id, ["status": "completed"], token: p.token), status: 403, slug: "forbidden")
        assertProblem(try api.patchSession(s.id, ["status": "completed"], token: "not-a-real-token"),
                      status: 403, slug: "forbidden")
        XCTAssertEqual(try api.getSession(s.id).object["status"] as? String, "active")
    }

    func testEndedSessionIsGone() throws {
        let s = try api.newSession()
        let r = try api.endSession(s)
        assertStatus(r, 200)
        XCTAssertEqual(r.object["status"] as? String, "completed")
        assertProblem(try api.getSession(s.id), status: 410, slug: "gone", instance: "/api/v1/sessions/\(s.id)")
        assertProblem(try api.patchSession(s.id, ["code": "x"]), status: 410, slug: "gone")
        assertProblem(try api.endSession(s), status: 410, slug: "gone")
        assertProblem(try api.join(s.id, name: "Late"), status: 410, slug: "gone")
    }

    // MARK: delete

    func testDeleteNeedsHostTokenThenGone() throws {
        let s = try api.newSession()
        let p = try api.joined(s.id, name: "Dan")
        assertProblem(try api.deleteSession(s.id), status: 401, slug: "unauthorized")
        assertProblem(try api.deleteSession(s.id, token: p.token), status: 403, slug: "forbidden")
        assertStatus(try api.getSession(s.id), 200, "still there after refused deletes")
        let r = try api.deleteSession(s.id, token: s.hostToken)
        assertStatus(r, 204)
        XCTAssertTrue(r.body.isEmpty)
        assertProblem(try api.getSession(s.id), status: 410, slug: "gone")
        assertProblem(try api.join(s.id, name: "Late"), status: 410, slug: "gone")
    }

    // MARK: gateway options

    func testExpiredSessionIsGone() throws {
        let custom = gateway("custom").api()
        let s = try custom.newSession()
        let created = try XCTUnwrap(s.object["created_at"] as? Int)
        let expires = try XCTUnwrap(s.object["expires_at"] as? Int)
        XCTAssertEqual(Double(expires - created), 2000, accuracy: 1000, "--session-ttl 2")
        assertStatus(try custom.getSession(s.id), 200)
        Thread.sleep(forTimeInterval: 3.2)
        assertProblem(try custom.getSession(s.id), status: 410, slug: "gone")
    }

    func testPublicURLAndParticipantDefaultsFromOptions() throws {
        let custom = gateway("custom").api()
        let s = try custom.newSession()
        let joinURL = try XCTUnwrap(s.object["join_url"] as? String)
        XCTAssertTrue(joinURL.hasPrefix("https://interview.example"), "join_url from --public-url: \(joinURL)")
        XCTAssertTrue(joinURL.contains(s.id))
        XCTAssertEqual(s.object["max_participants"] as? Int, 3, "--max-participants 3")
        assertStatus(try custom.createSession(["max_participants": 5]), 201)
        assertProblem(try custom.createSession(["max_participants": 6]), status: 422, slug: "validation",
                      field: "max_participants")
    }
}
