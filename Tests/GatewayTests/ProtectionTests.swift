import Foundation
import XCTest
@testable import TestSupport

/// Issue 5: rate limits shared through Redis, who the client is, tokens scoped to their session,
/// connection bounds, the WebSocket origin allow-list.
final class ProtectionTests: GatewayTestCase {
    static let limited = ["--rate-limits", "on", "--rate-sessions", "3/3600", "--rate-joins", "1000/60", "--rate-requests", "1000/60"]
    override class var gatewayConfigurations: [String: [String]] {
        [
            "a": limited,
            "b": limited,
            "proxied": ["--rate-limits", "on", "--rate-sessions", "2/3600", "--trusted-proxies", "127.0.0.1"],
            // The balancer is 127.0.0.41; the harness' own probes (from 127.0.0.1) speak plain HTTP.
            "proxy-protocol": ["--rate-limits", "on", "--rate-sessions", "1/3600", "--trusted-proxies", "127.0.0.41", "--proxy-protocol"],
            "bounded": ["--max-connections-per-address", "100"],
            "origins": ["--cors-origins", "http://allowed.example"],
            "main": [],
        ]
    }

    /// POST /api/v1/sessions from a chosen source address, with extra headers.
    private func create(_ gateway: GatewayProcess, from source: String, headers: [(String, String)] = []) throws -> HTTPResponse {
        let client = try HTTPClient(port: gateway.port, source: source)
        defer { client.close() }
        return try client.request("POST", "/api/v1/sessions", headers: headers, json: [String: Any]())
    }

    func testTwoGatewaysShareOneCounter() throws {
        let a = gateway("a"), b = gateway("b")
        let source = "127.0.0.11"
        assertStatus(try create(a, from: source), 201)
        assertStatus(try create(b, from: source), 201)
        let third = try create(a, from: source)
        assertStatus(third, 201)
        XCTAssertEqual(third.header("RateLimit-Policy"), "\"sessions\";q=3;w=3600", "\(third)")
        XCTAssertTrue(third.header("RateLimit")?.hasPrefix("\"sessions\";r=0;t=") == true, "\(third)")
        // The fourth, through either gateway, is over the limit.
        for gateway in [b, a] {
            let refused = try create(gateway, from: source)
            assertProblem(refused, status: 429, slug: "too-many-requests")
            let retry = Int(refused.header("Retry-After") ?? "") ?? 0
            XCTAssertGreaterThan(retry, 0, "Retry-After in seconds: \(refused)")
            XCTAssertLessThanOrEqual(retry, 1200, "one token comes back every 3600/3 s")
            XCTAssertEqual(refused.header("RateLimit-Policy"), "\"sessions\";q=3;w=3600")
        }
        // Another address is not affected, and other routes still work for this one.
        assertStatus(try create(a, from: "127.0.0.12"), 201)
        let client = try HTTPClient(port: a.port, source: source)
        defer { client.close() }
        assertStatus(try client.request("GET", "/api/v1/languages"), 200)
    }

    func testForwardedForIsIgnoredFromUntrustedPeers() throws {
        let g = gateway("proxied")
        // 127.0.0.21 is not a trusted proxy: its X-Forwarded-For is ignored, so every request
        // counts against 127.0.0.21 however the header changes.
        assertStatus(try create(g, from: "127.0.0.21", headers: [("X-Forwarded-For", "10.0.0.1")]), 201)
        assertStatus(try create(g, from: "127.0.0.21", headers: [("X-Forwarded-For", "10.0.0.2")]), 201)
        assertProblem(try create(g, from: "127.0.0.21", headers: [("X-Forwarded-For", "10.0.0.3")]), status: 429, slug: "too-many-requests")
        // 127.0.0.1 is trusted: the address it forwards is the client (rightmost untrusted hop).
        assertStatus(try create(g, from: "127.0.0.1", headers: [("X-Forwarded-For", "10.1.0.1")]), 201)
        assertStatus(try create(g, from: "127.0.0.1", headers: [("X-Forwarded-For", "203.0.113.9, 10.1.0.1")]), 201)
        assertProblem(try create(g, from: "127.0.0.1", headers: [("X-Forwarded-For", "10.1.0.1")]), status: 429, slug: "too-many-requests")
        assertStatus(try create(g, from: "127.0.0.1", headers: [("X-Forwarded-For", "10.1.0.2")]), 201)
    }

    func testProxyProtocolNamesTheClient() throws {
        let g = gateway("proxy-protocol")
        func viaProxy(_ source: String) throws -> HTTPResponse {
            let client = try HTTPClient(port: g.port, source: "127.0.0.41")
            defer { client.close() }
            try client.send(raw: "PROXY TCP4 \(source) 127.0.0.1 40000 \(g.port)\r\n")
            return try client.request("POST", "/api/v1/sessions", json: [String: Any]())
        }
        assertStatus(try viaProxy("198.51.100.7"), 201)
        assertProblem(try viaProxy("198.51.100.7"), status: 429, slug: "too-many-requests")
        assertStatus(try viaProxy("198.51.100.8"), 201)
        // From the balancer, a connection without a PROXY line is closed.
        let client = try HTTPClient(port: g.port, source: "127.0.0.41")
        defer { client.close() }
        try client.send(raw: "HELLO there\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(client.isClosedByPeer(within: 3), "a connection without a PROXY line is closed")
    }

    func testATokenOfOneSessionDoesNothingInAnother() throws {
        let mine = try api.newSession(["host_name": "Ada"])
        let theirs = try api.newSession(["host_name": "Eve"])
        let intruder = try api.joined(mine.id, name: "Mallory")
        let victim = try api.joined(theirs.id, name: "Bob")
        for token in [mine.hostToken, intruder.token] {
            assertProblem(try api.deleteSession(theirs.id, token: token), status: 403, slug: "forbidden")
            assertProblem(try api.patchSession(theirs.id, ["status": "completed"], token: token), status: 403, slug: "forbidden")
            assertProblem(try api.patchSession(theirs.id, ["name": "pwned"], token: token), status: 403, slug: "forbidden")
            assertProblem(try api.leave(theirs.id, user: victim.id, token: token), status: 403, slug: "forbidden")
            assertProblem(try api.join(theirs.id, name: "fake host", role: "interviewer", token: token), status: 403, slug: "forbidden")
            assertProblem(try api.saveCode(theirs.id, "x", token: token), status: 403, slug: "forbidden")
        }
        let after = try api.getSession(theirs.id)
        assertStatus(after, 200)
        XCTAssertEqual(after.object["status"] as? String, "active")
        XCTAssertEqual((after.object["participants"] as? [Any])?.count, 2, "Eve and Bob are still there")
    }

    func testConnectionsPerAddressAreBounded() throws {
        let g = gateway("bounded")
        var held: [HTTPClient] = []
        defer { held.forEach { $0.close() } }
        // 100 connections from one address are served; past that each new one is refused.
        for _ in 0..<100 { held.append(try HTTPClient(port: g.port, source: "127.0.0.31")) }
        assertStatus(try held[99].request("GET", "/health"), 200)
        var refused = 0
        for index in 0..<900 {
            let client = try HTTPClient(port: g.port, source: "127.0.0.31")
            held.append(client)
            if index % 100 == 0 {
                let answer = try client.readResponse()
                assertProblem(answer, status: 429, slug: "too-many-requests")
                XCTAssertTrue(client.isClosedByPeer(within: 3))
                refused += 1
            }
        }
        XCTAssertEqual(refused, 9)
        // Everyone else still gets in, while the 1,000 are open.
        let other = try HTTPClient(port: g.port, source: "127.0.0.32")
        defer { other.close() }
        assertStatus(try other.request("GET", "/health"), 200)
        // Closing frees the slots.
        held.forEach { $0.close() }
        held = []
        var again: HTTPResponse?
        for _ in 0..<50 {
            let client = try HTTPClient(port: g.port, source: "127.0.0.31")
            defer { client.close() }
            if let response = try? client.request("GET", "/health"), response.status == 200 { again = response; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(again?.status, 200, "the address can connect again once its connections closed")
    }

    func testWebSocketOriginAllowList() throws {
        let g = gateway("origins")
        let s = try g.api().newSession()
        func upgrade(origin: String?) throws -> HTTPResponse {
            let client = try HTTPClient(port: g.port)
            defer { client.close() }
            var headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                           ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]
            if let origin { headers.append(("Origin", origin)) }
            try client.send(bytes: client.serialize("GET", "/ws/sessions/\(s.id)", headers: headers))
            return try client.readResponse()
        }
        let evil = try upgrade(origin: "http://evil.example")
        assertProblem(evil, status: 403, slug: "forbidden")
        let good = try upgrade(origin: "http://allowed.example")
        XCTAssertEqual(good.status, 101, "\(good)")
        XCTAssertEqual(good.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC 6455's example key and answer")
        XCTAssertEqual(try upgrade(origin: nil).status, 101, "non-browser clients send no Origin")
        XCTAssertEqual(try upgrade(origin: "http://127.0.0.1:\(g.port)").status, 101, "same origin")
    }
}
