import Foundation
import XCTest
@testable import TestSupport

/// Redis goes away and comes back: the gateway answers 503 quickly, then recovers.
final class RedisOutageTests: GatewayTestCase {
    func testOutageGives503ThenRecovers() throws {
        let before = try api.newSession()

        redis.stop()

        // /health turns 503 within a couple of seconds; no request hangs (5 s socket timeout).
        var health: HTTPResponse?
        let turned = eventually(timeout: 3, interval: 0.1) {
            health = try? api.health(timeout: 5)
            return health?.status == 503
        }
        XCTAssertTrue(turned, "GET /health should answer 503 once Redis is down; last: \(health.map { "\($0)" } ?? "no answer")")
        if let h = health, h.status == 503 {
            XCTAssertEqual(h.object["status"] as? String, "unavailable")
            XCTAssertEqual(h.object["node_id"] as? String, gateway.nodeID)
            let redisInfo = h.object["redis"] as? [String: Any]
            XCTAssertEqual(redisInfo?["reachable"] as? Bool, false)
            XCTAssertNotNil(redisInfo?["error"] as? String, "redis.error: \(h.text)")
        }

        for (method, path, body) in [("GET", "/sessions/\(before.id)", nil), ("POST", "/sessions", [String: Any]()),
                                     ("POST", "/sessions/\(before.id)/users", ["name": "Nobody"])] as [(String, String, Any?)] {
            let start = Date()
            let r = try api.call(method, "/api/v1" + path, json: body, timeout: 5)
            XCTAssertLessThan(Date().timeIntervalSince(start), 3, "\(method) \(path) answered promptly")
            assertProblem(r, status: 503, slug: "unavailable", instance: "/api/v1" + path)
            XCTAssertEqual(r.header("Retry-After"), "1", "\(method) \(path) Retry-After")
            let detail = r.object["detail"] as? String ?? ""
            XCTAssertTrue(detail.hasPrefix("the session store is unreachable; retry shortly"), "detail: \(detail)")
        }

        XCTAssertTrue(gateway.isRunning, "the gateway survives the outage")

        try redis.restart()

        var last: HTTPResponse?
        let recovered = eventually(timeout: 5, interval: 0.1) {
            last = try? api.health(timeout: 5)
            return last?.status == 200
        }
        XCTAssertTrue(recovered, "GET /health 200 within 5 s of Redis coming back; last: \(last.map { "\($0)" } ?? "no answer")")
        XCTAssertEqual(last?.object["redis"].flatMap { ($0 as? [String: Any])?["reachable"] as? Bool }, true)

        // The restarted Redis is empty (no persistence): its scripts are gone too, and the
        // gateway must still be able to change state.
        let after = try api.createSession(["host_name": "Back"])
        assertStatus(after, 201, "creating a session after the restart")
        if let id = after.object["id"] as? String {
            assertStatus(try api.join(id, name: "Again"), 201, "joining after the restart")
            assertStatus(try api.saveCode(id, "ok = True"), 200, "saving after the restart")
        }
    }
}
