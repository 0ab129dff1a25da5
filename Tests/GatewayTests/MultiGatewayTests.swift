import Foundation
import XCTest
@testable import TestSupport

/// Two gateways on one Redis: any gateway serves any session; capacity holds under races.
final class MultiGatewayTests: GatewayTestCase {
    override class var gatewayConfigurations: [String: [String]] { ["main": [], "second": []] }

    func testEitherGatewayServesAnySession() throws {
        let a = gateway("main").api()
        let b = gateway("second").api()
        XCTAssertNotEqual(gateway("main").port, gateway("second").port)
        let s = try a.newSession(["session_name": "shared"])
        let got = try b.getSession(s.id)
        assertStatus(got, 200)
        XCTAssertEqual(got.object["name"] as? String, "shared")
        let p = try b.joined(s.id, name: "Via B")
        assertStatus(try a.saveCode(s.id, "z = 3", token: p.token), 200)
        let code = try b.getCode(s.id)
        XCTAssertEqual(code.object["code"] as? String, "z = 3")
        XCTAssertEqual(code.object["revision"] as? Int, 1)
        assertStatus(try b.leave(s.id, user: p.id, token: s.hostToken), 204)
        XCTAssertEqual(try a.users(s.id).object["count"] as? Int, 0)
        XCTAssertEqual(try b.health().object["node_id"] as? String, gateway("second").nodeID)
    }

    func testRacingJoinsRespectCapacity() throws {
        let ports = [gateway("main").port, gateway("second").port]
        let s = try api.newSession(["max_participants": 10])
        let path = "/api/v1/sessions/\(s.id)/users"

        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var statuses: [Int] = []
            var errors: [String] = []
            func add(_ s: Int) { lock.lock(); statuses.append(s); lock.unlock() }
            func fail(_ e: String) { lock.lock(); errors.append(e); lock.unlock() }
        }
        let results = Results()
        let count = 30
        // Connect every client first, then release them together so the joins really race.
        var clients: [HTTPClient] = []
        for i in 0..<count { clients.append(try HTTPClient(port: ports[i % 2], timeout: 10)) }
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for (i, client) in clients.enumerated() {
            let request = client.serialize("POST", path, headers: [("Content-Type", "application/json")],
                                           body: jsonBytes(["name": "racer \(i)"]))
            done.enter()
            let t = Thread {
                go.wait()
                do {
                    try client.send(bytes: request)
                    results.add(try client.readResponse(method: "POST").status)
                } catch {
                    results.fail("client \(i): \(error)")
                }
                done.leave()
            }
            t.start()
        }
        for _ in 0..<count { go.signal() }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "all joins answered")
        clients.forEach { $0.close() }

        XCTAssertEqual(results.errors, [])
        XCTAssertEqual(results.statuses.filter { $0 == 201 }.count, 10, "statuses: \(results.statuses.sorted())")
        XCTAssertEqual(results.statuses.filter { $0 == 409 }.count, 20, "statuses: \(results.statuses.sorted())")

        for port in ports {
            let users = try API(port: port).users(s.id)
            assertStatus(users, 200)
            XCTAssertEqual(users.object["count"] as? Int, 10)
            let list = users.object["participants"] as? [[String: Any]] ?? []
            XCTAssertEqual(list.count, 10)
            let colors = list.compactMap { ($0["color"] as? String)?.lowercased() }
            XCTAssertEqual(Set(colors).count, 10, "10 distinct colors: \(colors)")
            XCTAssertEqual(Set(list.compactMap { $0["id"] as? String }).count, 10)
        }
    }

    func testReusePortLetsGatewaysShareAPort() throws {
        let shared = gateway("main").port
        // Returns once the new process itself answered /health on the shared port (its node id).
        let extra = try startGateway(nodeID: "reuse-port-extra", port: shared)
        XCTAssertTrue(extra.isRunning, "a second gateway binds the same port (--reuse-port is the default)")
        // The kernel spreads new connections over both listeners.
        var seen = Set<String>()
        for _ in 0..<40 where seen.count < 2 {
            if let id = try API(port: shared).health().object["node_id"] as? String { seen.insert(id) }
        }
        XCTAssertEqual(seen, [gateway("main").nodeID, "reuse-port-extra"])
    }

    func testNoReusePortRefusesATakenPort() throws {
        let shared = gateway("main").port
        // It must fail to start: nothing to wait for but its exit.
        let extra = try startGateway(arguments: ["--no-reuse-port"], nodeID: "no-reuse-port", port: shared, waitUntilReady: false)
        let status = extra.waitForExit(timeout: 5)
        XCTAssertNotEqual(status, .stillRunning, "--no-reuse-port on a taken port must fail to start")
        XCTAssertNotEqual(status, .exited(0), "and say so with a non-zero status")
    }

    func testOptionsFromEnvironment() throws {
        let g = try startGateway(environment: ["CODEINTERVIEW_MAX_PARTICIPANTS": "4",
                                               "CODEINTERVIEW_HISTORY_LIMIT": "2"])
        let s = try g.api().newSession()
        XCTAssertEqual(s.object["max_participants"] as? Int, 4, "CODEINTERVIEW_MAX_PARTICIPANTS")
        for i in 1...3 { assertStatus(try g.api().saveCode(s.id, "v\(i)"), 200) }
        XCTAssertEqual((try g.api().history(s.id).object["events"] as? [Any])?.count, 2, "CODEINTERVIEW_HISTORY_LIMIT")
    }
}
