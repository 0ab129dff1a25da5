import Foundation
import XCTest
@testable import TestSupport

/// GET/POST /sessions/{id}/code and GET /sessions/{id}/history.
final class CodeAndHistoryTests: GatewayTestCase {
    override class var gatewayConfigurations: [String: [String]] {
        ["main": [], "history5": ["--history-limit", "5"], "smallcode": ["--max-code-bytes", "1024"]]
    }

    private func events(_ api: API, _ id: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let r = try api.history(id)
        assertStatus(r, 200, "history", file: file, line: line)
        return try XCTUnwrap(r.object["events"] as? [[String: Any]], "events array: \(r.text)", file: file, line: line)
    }

    func testGetCodeOfNewSession() throws {
        let s = try api.newSession(["code": "x = 1\n", "language": "python"])
        let r = try api.getCode(s.id)
        assertStatus(r, 200)
        XCTAssertEqual(r.object["code"] as? String, "x = 1\n")
        XCTAssertEqual(r.object["language"] as? String, "python")
        XCTAssertEqual(r.object["revision"] as? Int, 0)
        XCTAssertTrue(isJSONInteger(r.object["updated_at"]))
    }

    func testSaveBumpsRevision() throws {
        let s = try api.newSession()
        var r = try api.saveCode(s.id, "a = 1")
        assertStatus(r, 200)
        XCTAssertEqual(r.object["code"] as? String, "a = 1")
        XCTAssertEqual(r.object["language"] as? String, "python")
        XCTAssertEqual(r.object["revision"] as? Int, 1)
        XCTAssertTrue(isJSONInteger(r.object["updated_at"]))
        r = try api.saveCode(s.id, "a = 1")
        XCTAssertEqual(r.object["revision"] as? Int, 2, "each save bumps, even with the same code")
        r = try api.saveCode(s.id, "let a = 1;", language: "javascript")
        assertStatus(r, 200)
        XCTAssertEqual(r.object["language"] as? String, "javascript")
        XCTAssertEqual(r.object["revision"] as? Int, 3, "one save with a language change bumps once")
        let g = try api.getCode(s.id)
        XCTAssertEqual(g.object["code"] as? String, "let a = 1;")
        XCTAssertEqual(g.object["language"] as? String, "javascript")
        XCTAssertEqual(g.object["revision"] as? Int, 3)
        let session = try api.getSession(s.id).object
        XCTAssertEqual(session["revision"] as? Int, 3)
        XCTAssertEqual(session["code"] as? String, "let a = 1;")
    }

    func testSaveKeepsUnicodeExactly() throws {
        let s = try api.newSession()
        let code = "print(\"héllo wörld ✓ 🚀\")\n\t# tab\r\n\u{0}end"
        assertStatus(try api.saveCode(s.id, code), 200)
        XCTAssertEqual(try api.getCode(s.id).object["code"] as? String, code)
    }

    func testSaveValidation() throws {
        let s = try api.newSession()
        let path = "/sessions/\(s.id)/code"
        assertProblem(try api.api("POST", path, json: [String: Any]()), status: 422, slug: "validation", field: "code")
        assertProblem(try api.api("POST", path, json: ["code": 1]), status: 422, slug: "validation", field: "code")
        assertProblem(try api.saveCode(s.id, "x", language: "brainfuck"), status: 422, slug: "validation", field: "language")
        assertProblem(try api.api("POST", path, headers: [("Content-Type", "application/json")], body: Array("{".utf8)),
                      status: 400, slug: "bad-request")
        XCTAssertEqual(try api.getCode(s.id).object["revision"] as? Int, 0, "rejected saves change nothing")
    }

    func testCodeOverLimitIs413NamingField() throws {
        let s = try api.newSession()
        let limit = 262_144
        assertStatus(try api.saveCode(s.id, String(repeating: "a", count: limit)), 200, "exactly the limit is fine")
        let r = try api.saveCode(s.id, String(repeating: "b", count: limit + 1))
        assertProblem(r, status: 413, slug: "payload-too-large", field: "code",
                      instance: "/api/v1/sessions/\(s.id)/code")
        XCTAssertEqual(try api.getCode(s.id).object["revision"] as? Int, 1)
    }

    func testMaxCodeBytesOption() throws {
        let small = gateway("smallcode").api()
        let s = try small.newSession()
        assertStatus(try small.saveCode(s.id, String(repeating: "c", count: 1024)), 200)
        assertProblem(try small.saveCode(s.id, String(repeating: "c", count: 1025)), status: 413,
                      slug: "payload-too-large", field: "code")
    }

    func testHistoryOrder() throws {
        let s = try api.newSession()
        let bob = try api.joined(s.id, name: "Bob")
        assertStatus(try api.saveCode(s.id, "x = 1", token: bob.token), 200)
        assertStatus(try api.leave(s.id, user: bob.id, token: bob.token), 204)
        assertStatus(try api.patchSession(s.id, ["language": "ruby"]), 200)

        let ev = try events(api, s.id)
        XCTAssertEqual(ev.compactMap { $0["type"] as? String },
                       ["created", "joined", "code_saved", "left", "language_changed"], "events: \(ev)")
        guard ev.count == 5 else { return }
        let at = ev.compactMap { $0["at"] as? Int }
        XCTAssertEqual(at.count, 5, "every event has an integer at")
        XCTAssertEqual(at, at.sorted(), "newest last")
        XCTAssertEqual(ev[1]["user_id"] as? String, bob.id)
        XCTAssertEqual(ev[1]["name"] as? String, "Bob")
        XCTAssertEqual(ev[2]["revision"] as? Int, 1)
        XCTAssertEqual(ev[2]["user_id"] as? String, bob.id, "the participant token attributes the save")
        XCTAssertEqual(ev[3]["user_id"] as? String, bob.id)
        XCTAssertEqual(ev[4]["language"] as? String, "ruby")
    }

    func testHistoryIsCapped() throws {
        let capped = gateway("history5").api()
        let s = try capped.newSession()
        for i in 1...8 { assertStatus(try capped.saveCode(s.id, "v\(i)"), 200) }
        let ev = try events(capped, s.id)
        XCTAssertEqual(ev.count, 5, "--history-limit 5: \(ev)")
        XCTAssertEqual(ev.compactMap { $0["type"] as? String }, Array(repeating: "code_saved", count: 5))
        XCTAssertEqual(ev.compactMap { $0["revision"] as? Int }, [4, 5, 6, 7, 8], "the newest 5, newest last")
    }
}
