import Foundation
import XCTest
@testable import TestSupport

/// GET/PUT /sessions/{id}/notes: the interviewers' private notes over REST (the WebSocket side and
/// the candidates' view over two gateways are Tests/e2e/test_notes.py's).
final class NotesTests: GatewayTestCase {
    override class var gatewayConfigurations: [String: [String]] {
        ["main": [], "small": ["--max-notes-bytes", "16"]]
    }

    private func getNotes(_ api: API, _ id: String, token: String?) throws -> HTTPResponse {
        try api.api("GET", "/sessions/\(id)/notes", token: token)
    }

    private func putNotes(_ api: API, _ id: String, _ body: [String: Any], token: String?) throws -> HTTPResponse {
        try api.api("PUT", "/sessions/\(id)/notes", token: token, json: body)
    }

    func testNotesStartEmptyAndAReplaceIsOneRevision() throws {
        let s = try api.newSession(["host_name": "Ada"])
        var r = try getNotes(api, s.id, token: s.hostToken)
        assertStatus(r, 200)
        XCTAssertEqual(r.object["text"] as? String, "")
        XCTAssertEqual(r.object["revision"] as? Int, 0)
        XCTAssertTrue(isJSONInteger(r.object["updated_at"]), "never written: the session's creation time")
        let created = try XCTUnwrap(r.object["updated_at"] as? Int)

        r = try putNotes(api, s.id, ["text": "strong on ✓ tests\n"], token: s.participantToken)
        assertStatus(r, 200)
        XCTAssertEqual(r.object["text"] as? String, "strong on ✓ tests\n")
        XCTAssertEqual(r.object["revision"] as? Int, 1)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(r.object["updated_at"] as? Int), created)
        r = try putNotes(api, s.id, ["text": "", "revision": 1], token: s.hostToken)
        assertStatus(r, 200)
        XCTAssertEqual(r.object["revision"] as? Int, 2, "clearing is a revision too")
        r = try getNotes(api, s.id, token: s.participantToken)
        XCTAssertEqual(r.object["text"] as? String, "")
        XCTAssertEqual(r.object["revision"] as? Int, 2)

        // None of it shows in the session, its code or its history.
        XCTAssertEqual(try api.getSession(s.id).object["revision"] as? Int, 0)
        XCTAssertFalse(try api.getSession(s.id).text.contains("notes"))
        XCTAssertFalse(try api.history(s.id).text.contains("strong"))
        XCTAssertEqual(try api.getCode(s.id).object["revision"] as? Int, 0)
    }

    func testOnlyInterviewersMayReadOrWrite() throws {
        let s = try api.newSession(["host_name": "Ada"])
        let other = try api.newSession(["host_name": "Eve"])
        let candidate = try api.joined(s.id, name: "Bob")
        let interviewer = try api.joined(s.id, name: "Cy", role: "interviewer", token: s.hostToken)
        assertStatus(try putNotes(api, s.id, ["text": "private"], token: interviewer.token), 200)
        let path = "/api/v1/sessions/\(s.id)/notes"
        for (token, status, slug) in [(nil, 401, "unauthorized"), (candidate.token, 403, "forbidden"),
                                      (other.hostToken, 403, "forbidden"), (other.participantToken, 403, "forbidden")] {
            for r in [try getNotes(api, s.id, token: token), try putNotes(api, s.id, ["text": "changed"], token: token)] {
                assertProblem(r, status: status, slug: slug, instance: path)
                XCTAssertFalse(r.text.contains("private"), "a refusal shows nothing of the notes: \(r.text)")
                if status == 401 { XCTAssertEqual(r.header("WWW-Authenticate"), "Bearer") }
            }
        }
        let r = try getNotes(api, s.id, token: s.hostToken)
        XCTAssertEqual(r.object["text"] as? String, "private", "refused writes change nothing")
        XCTAssertEqual(r.object["revision"] as? Int, 1)
    }

    func testBadBodiesAreRefusedAndChangeNothing() throws {
        let s = try api.newSession()
        let path = "/sessions/\(s.id)/notes"
        assertStatus(try putNotes(api, s.id, ["text": "v1"], token: s.hostToken), 200)
        assertProblem(try putNotes(api, s.id, [:], token: s.hostToken), status: 422, slug: "validation", field: "text")
        assertProblem(try putNotes(api, s.id, ["text": ["a"]], token: s.hostToken), status: 422, slug: "validation", field: "text")
        assertProblem(try putNotes(api, s.id, ["text": "x", "revision": "1"], token: s.hostToken), status: 422, slug: "validation",
                      field: "revision")
        assertProblem(try putNotes(api, s.id, ["text": "x", "revision": -2], token: s.hostToken), status: 422, slug: "validation",
                      field: "revision")
        assertProblem(try putNotes(api, s.id, ["text": "x", "revision": 0], token: s.hostToken), status: 409, slug: "conflict")
        assertProblem(try api.api("PUT", path, token: s.hostToken, headers: [("Content-Type", "application/json")], body: Array("{".utf8)),
                      status: 400, slug: "bad-request")
        assertProblem(try api.api("PUT", path, token: s.hostToken, headers: [("Content-Type", "text/plain")], body: Array("x".utf8)),
                      status: 415, slug: "unsupported-media-type")
        let r = try getNotes(api, s.id, token: s.hostToken)
        XCTAssertEqual(r.object["text"] as? String, "v1")
        XCTAssertEqual(r.object["revision"] as? Int, 1)
    }

    func testMaxNotesBytesOption() throws {
        let small = gateway("small").api()
        let s = try small.newSession()
        assertStatus(try putNotes(small, s.id, ["text": String(repeating: "é", count: 8)], token: s.hostToken), 200, "16 bytes")
        assertProblem(try putNotes(small, s.id, ["text": String(repeating: "n", count: 17)], token: s.hostToken), status: 413,
                      slug: "payload-too-large", field: "text")
        // The code keeps its own, larger bound.
        assertStatus(try small.saveCode(s.id, String(repeating: "c", count: 1000)), 200)
        XCTAssertEqual(try getNotes(small, s.id, token: s.hostToken).object["revision"] as? Int, 1)
    }

    func testUnknownEndedAndDeletedSessions() throws {
        assertProblem(try getNotes(api, "AAAAAAAAAAAAAAAAAAAAAA", token: "x"), status: 404, slug: "not-found")
        assertProblem(try putNotes(api, "AAAAAAAAAAAAAAAAAAAAAA", ["text": "x"], token: "x"), status: 404, slug: "not-found")
        assertProblem(try getNotes(api, "short", token: "x"), status: 404, slug: "not-found")
        let s = try api.newSession()
        assertStatus(try putNotes(api, s.id, ["text": "verdict"], token: s.hostToken), 200)
        assertStatus(try api.endSession(s), 200)
        XCTAssertEqual(try getNotes(api, s.id, token: s.hostToken).object["text"] as? String, "verdict",
                       "the notes outlive the interview (for the write-up)")
        assertProblem(try putNotes(api, s.id, ["text": "later"], token: s.hostToken), status: 410, slug: "gone")
        let d = try api.newSession()
        assertStatus(try api.deleteSession(d.id, token: d.hostToken), 204)
        assertProblem(try getNotes(api, d.id, token: d.hostToken), status: 410, slug: "gone")
        assertProblem(try putNotes(api, d.id, ["text": "x"], token: d.hostToken), status: 410, slug: "gone")
    }
}
