import Foundation
import XCTest
@testable import TestSupport

/// POST/GET/DELETE /sessions/{id}/users (and the /participants alias).
final class ParticipantTests: GatewayTestCase {
    private let colorPattern = "#[0-9a-fA-F]{6}"

    func testJoinDefaultsToCandidate() throws {
        let s = try api.newSession()
        let before = nowMs
        let r = try api.join(s.id, name: "Bob")
        assertStatus(r, 201)
        let p = try XCTUnwrap(r.object["participant"] as? [String: Any])
        XCTAssertTrue(matches(p["id"] as? String, "u_[0-9a-f]{16}"), "id: \(p["id"] ?? "nil")")
        XCTAssertEqual(p["name"] as? String, "Bob")
        XCTAssertEqual(p["role"] as? String, "candidate")
        XCTAssertTrue(matches(p["color"] as? String, colorPattern), "color: \(p["color"] ?? "nil")")
        let joinedAt = try XCTUnwrap(p["joined_at"] as? Int)
        XCTAssertGreaterThanOrEqual(joinedAt, before - 1000)
        XCTAssertLessThanOrEqual(joinedAt, nowMs + 1000)
        XCTAssertFalse((r.object["participant_token"] as? String ?? "").isEmpty)

        let users = try api.users(s.id)
        assertStatus(users, 200)
        XCTAssertEqual(users.object["count"] as? Int, 1)
        XCTAssertEqual(users.object["max_participants"] as? Int, 10)
        let list = try XCTUnwrap(users.object["participants"] as? [[String: Any]])
        XCTAssertEqual(list.map { $0["id"] as? String }, [p["id"] as? String])
        // The session object lists the participant too.
        let session = try api.getSession(s.id).object
        XCTAssertEqual((session["participants"] as? [[String: Any]])?.first?["name"] as? String, "Bob")
    }

    func testParticipantsAliasMatchesUsers() throws {
        let s = try api.newSession()
        _ = try api.joined(s.id, name: "Eve")
        _ = try api.joined(s.id, name: "Finn")
        let users = try api.users(s.id)
        let alias = try api.api("GET", "/sessions/\(s.id)/participants")
        assertStatus(alias, 200)
        XCTAssertEqual(alias.object["count"] as? Int, 2)
        XCTAssertEqual(alias.object["max_participants"] as? Int, 10)
        let a = (alias.object["participants"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        let u = (users.object["participants"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(a), Set(u))
        XCTAssertEqual(a.count, 2)
    }

    func testInterviewerRoleNeedsHostToken() throws {
        let s = try api.newSession()
        let candidate = try api.joined(s.id, name: "Cand")
        assertProblem(try api.join(s.id, name: "Ivan", role: "interviewer"), status: 403, slug: "forbidden")
        assertProblem(try api.join(s.id, name: "Ivan", role: "interviewer", token: candidate.token),
                      status: 403, slug: "forbidden")
        let r = try api.join(s.id, name: "Ivan", role: "interviewer", token: s.hostToken)
        assertStatus(r, 201)
        XCTAssertEqual((r.object["participant"] as? [String: Any])?["role"] as? String, "interviewer")
        let explicit = try api.join(s.id, name: "Cleo", role: "candidate")
        assertStatus(explicit, 201)
        XCTAssertEqual((explicit.object["participant"] as? [String: Any])?["role"] as? String, "candidate")
        XCTAssertEqual(try api.users(s.id).object["count"] as? Int, 3, "refused joins added nobody")
    }

    func testJoinValidation() throws {
        let s = try api.newSession()
        let path = "/api/v1/sessions/\(s.id)/users"
        let bad: [[String: Any]] = [
            [:], ["name": ""], ["name": "   "], ["name": String(repeating: "n", count: 65)],
            ["name": "bell\u{07}"], ["name": "new\nline"], ["name": 42], ["name": NSNull()],
        ]
        for body in bad {
            let r = try api.api("POST", "/sessions/\(s.id)/users", json: body)
            assertProblem(r, status: 422, slug: "validation", field: "name", instance: path)
        }
        assertProblem(try api.join(s.id, name: "Rita", role: "admin"), status: 422, slug: "validation", field: "role")
        let malformed = try api.api("POST", "/sessions/\(s.id)/users", headers: [("Content-Type", "application/json")],
                                    body: Array("{\"name\":".utf8))
        assertProblem(malformed, status: 400, slug: "bad-request")
        let wrongType = try api.api("POST", "/sessions/\(s.id)/users", headers: [("Content-Type", "text/plain")],
                                    body: Array("name=x".utf8))
        assertProblem(wrongType, status: 415, slug: "unsupported-media-type")
        XCTAssertEqual(try api.users(s.id).object["count"] as? Int, 0, "invalid joins added nobody")
        // 64 characters is the maximum.
        assertStatus(try api.join(s.id, name: String(repeating: "m", count: 64)), 201)
    }

    func testColorsAreDistinct() throws {
        let s = try api.newSession()
        var colors: [String] = []
        for i in 0..<8 { colors.append(try XCTUnwrap(try api.joined(s.id, name: "P\(i)").color)) }
        XCTAssertEqual(Set(colors.map { $0.lowercased() }).count, 8, "colors: \(colors)")
        for c in colors { XCTAssertTrue(matches(c, colorPattern), c) }
    }

    func testFullSessionIs409() throws {
        let s = try api.newSession(["max_participants": 2])
        _ = try api.joined(s.id, name: "One")
        let two = try api.joined(s.id, name: "Two")
        assertProblem(try api.join(s.id, name: "Three"), status: 409, slug: "conflict",
                      instance: "/api/v1/sessions/\(s.id)/users")
        assertProblem(try api.join(s.id, name: "Host", role: "interviewer", token: s.hostToken),
                      status: 409, slug: "conflict")
        let users = try api.users(s.id)
        XCTAssertEqual(users.object["count"] as? Int, 2)
        XCTAssertEqual(users.object["max_participants"] as? Int, 2)
        // Leaving frees the seat.
        assertStatus(try api.leave(s.id, user: two.id, token: two.token), 204)
        assertStatus(try api.join(s.id, name: "Three"), 201)
    }

    func testLeaveWithOwnToken() throws {
        let s = try api.newSession()
        let a = try api.joined(s.id, name: "Ann")
        let b = try api.joined(s.id, name: "Ben")
        let r = try api.leave(s.id, user: a.id, token: a.token)
        assertStatus(r, 204)
        XCTAssertTrue(r.body.isEmpty)
        let ids = (try api.users(s.id).object["participants"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, [b.id])
        // Gone now: leaving again is 404.
        assertProblem(try api.leave(s.id, user: a.id, token: s.hostToken), status: 404, slug: "not-found")
    }

    func testLeaveWithHostToken() throws {
        let s = try api.newSession()
        let a = try api.joined(s.id, name: "Ann")
        assertStatus(try api.leave(s.id, user: a.id, token: s.hostToken), 204)
        XCTAssertEqual(try api.users(s.id).object["count"] as? Int, 0)
    }

    func testLeaveAuthErrors() throws {
        let s = try api.newSession()
        let a = try api.joined(s.id, name: "Ann")
        let b = try api.joined(s.id, name: "Ben")
        assertProblem(try api.leave(s.id, user: a.id, token: nil), status: 401, slug: "unauthorized")
        assertProblem(try api.leave(s.id, user: a.id, token: b.token), status: 403, slug: "forbidden")
        assertProblem(try api.leave(s.id, user: a.id, token: "garbage"), status: 403, slug: "forbidden")
        assertProblem(try api.leave(s.id, user: "u_0000000000000000", token: s.hostToken), status: 404, slug: "not-found")
        XCTAssertEqual(try api.users(s.id).object["count"] as? Int, 2)
    }
}
