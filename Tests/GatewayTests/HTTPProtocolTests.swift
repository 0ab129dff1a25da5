import Foundation
import XCTest
@testable import TestSupport

/// HTTP/1.1 behaviour: keep-alive, pipelining, chunked bodies, 100-continue, limits,
/// timeouts and CORS.
final class HTTPProtocolTests: GatewayTestCase {
    static let allowedOrigin = "http://allowed.example"

    override class var gatewayConfigurations: [String: [String]] {
        [
            "main": ["--cors-origins", allowedOrigin],
            "limits": ["--max-header-bytes", "1024", "--max-body-bytes", "4096"],
            "timeouts": ["--header-timeout", "1", "--idle-timeout", "1"],
        ]
    }

    private let json = [("Content-Type", "application/json")]

    // MARK: connections

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        let c = try gateway.client()
        let created = try c.request("POST", "/api/v1/sessions", json: ["session_name": "ka"])
        assertStatus(created, 201)
        let id = try XCTUnwrap(created.object["id"] as? String)
        assertStatus(try c.request("GET", "/api/v1/sessions/\(id)"), 200)
        assertStatus(try c.request("POST", "/api/v1/sessions/\(id)/users", json: ["name": "Kay"]), 201)
        let users = try c.request("GET", "/api/v1/sessions/\(id)/users")
        assertStatus(users, 200)
        XCTAssertEqual(users.object["count"] as? Int, 1)
        assertProblem(try c.request("GET", "/api/v1/nope"), status: 404, slug: "not-found")
        let last = try c.request("GET", "/health")
        assertStatus(last, 200, "an error response does not end the connection")
        XCTAssertNotEqual(last.header("Connection")?.lowercased(), "close")
        XCTAssertFalse(c.isClosedByPeer(within: 0.2))
    }

    func testConnectionCloseIsHonoured() throws {
        let c = try gateway.client()
        let r = try c.request("GET", "/health", headers: [("Connection", "close")])
        assertStatus(r, 200)
        XCTAssertTrue(c.isClosedByPeer(within: 2), "the server closes after answering Connection: close")
    }

    func testPipelinedRequestsAnswerInOrder() throws {
        let c = try gateway.client()
        let body = Array(#"{"session_name":"piped"}"#.utf8)
        let bytes = c.serialize("GET", "/api/v1/languages/go/template")
            + c.serialize("POST", "/api/v1/sessions", headers: json, body: body)
            + c.serialize("GET", "/api/v1/languages")
        try c.send(bytes: bytes)
        let first = try c.readResponse()
        let second = try c.readResponse()
        let third = try c.readResponse()
        assertStatus(first, 200)
        XCTAssertEqual(first.object["language"] as? String, "go")
        assertStatus(second, 201)
        XCTAssertEqual(second.object["name"] as? String, "piped")
        assertStatus(third, 200)
        XCTAssertEqual((third.object["languages"] as? [Any])?.count, 8)
        assertStatus(try c.request("GET", "/health"), 200, "still usable afterwards")
    }

    func testChunkedRequestBody() throws {
        let c = try gateway.client()
        let head = "POST /api/v1/sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n"
        let parts = [#"{"session_name":"#, #""chunky","max_"#, #"participants":7}"#]
        try c.send(raw: head)
        for p in parts {
            Thread.sleep(forTimeInterval: 0.05)
            try c.send(raw: String(p.utf8.count, radix: 16) + ";ext=1\r\n" + p + "\r\n")
        }
        try c.send(raw: "0\r\n\r\n")
        let r = try c.readResponse(method: "POST")
        assertStatus(r, 201)
        XCTAssertEqual(r.object["name"] as? String, "chunky")
        XCTAssertEqual(r.object["max_participants"] as? Int, 7)
        assertStatus(try c.request("GET", "/health"), 200, "keep-alive after a chunked request")
    }

    func testExpect100Continue() throws {
        let c = try gateway.client()
        let body = #"{"session_name":"expect"}"#
        try c.send(raw: "POST /api/v1/sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
        let interim = try c.readResponse(method: "POST")
        XCTAssertEqual(interim.status, 100, "100 Continue before the body is sent; got \(interim)")
        try c.send(raw: body)
        let r = try c.readResponse(method: "POST")
        assertStatus(r, 201)
        XCTAssertEqual(r.object["name"] as? String, "expect")
    }

    // MARK: limits

    func testHeaderBlockTooLargeIs431() throws {
        let g = gateway("limits")
        let ok = try g.client().request("GET", "/health", headers: [("X-Fill", String(repeating: "a", count: 500))])
        assertStatus(ok, 200, "a header block under --max-header-bytes 1024")
        let c = try g.client()
        let r = try c.request("GET", "/health", headers: [("X-Fill", String(repeating: "a", count: 2000))])
        assertProblem(r, status: 431, slug: "header-fields-too-large")
    }

    func testURLTooLongIs414() throws {
        let ok = try gateway.client().request("GET", "/api/v1/languages?q=" + String(repeating: "q", count: 7000))
        assertStatus(ok, 200, "a 7 KB URL is under the 8 KiB default")
        let r = try gateway.client().request("GET", "/api/v1/languages?q=" + String(repeating: "q", count: 9000))
        assertProblem(r, status: 414, slug: "uri-too-long")
    }

    func testBodyTooLargeByContentLengthIs413() throws {
        let c = try gateway.client()
        // Only the head is sent: the answer must come from Content-Length alone.
        try c.send(raw: "POST /api/v1/sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   + "Content-Length: 1048577\r\n\r\n")
        let r = try c.readResponse(method: "POST")
        assertProblem(r, status: 413, slug: "payload-too-large")
    }

    func testChunkedBodyOverLimitIs413() throws {
        let g = gateway("limits")
        let c = try g.client()
        let chunk = "{\"code\":\"" + String(repeating: "z", count: 2990)
        var raw = "POST /api/v1/sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n"
        raw += String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n"
        let more = String(repeating: "z", count: 3000)
        raw += String(more.utf8.count, radix: 16) + "\r\n" + more + "\r\n"
        raw += "1\r\n}\r\n0\r\n\r\n"
        try c.send(raw: raw)
        let r = try c.readResponse(method: "POST")
        assertProblem(r, status: 413, slug: "payload-too-large")
        // Within the limit, a chunked body is fine on the same gateway.
        let small = Array(#"{"session_name":"small"}"#.utf8)
        let ok = try g.client().request("POST", "/api/v1/sessions",
                                        headers: json + [("Transfer-Encoding", "chunked")],
                                        body: Array((String(small.count, radix: 16) + "\r\n").utf8) + small
                                            + Array("\r\n0\r\n\r\n".utf8))
        assertStatus(ok, 201)
    }

    // MARK: timeouts

    func testHeaderReadTimeout() throws {
        let g = gateway("timeouts")
        let c = try g.client(timeout: 6)
        try c.send(raw: "GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        let start = Date()
        let r = try c.readResponseOrClose()
        let elapsed = Date().timeIntervalSince(start)
        if let r {
            assertProblem(r, status: 408, slug: "request-timeout")
            XCTAssertTrue(c.isClosedByPeer(within: 2), "closed after the 408")
        }
        XCTAssertGreaterThanOrEqual(elapsed, 0.5, "not before the header timeout (1 s)")
        XCTAssertLessThanOrEqual(elapsed, 3.0, "within --header-timeout 1 plus margin")
    }

    func testIdleKeepAliveConnectionIsClosed() throws {
        let g = gateway("timeouts")
        let c = try g.client(timeout: 6)
        assertStatus(try c.request("GET", "/health"), 200)
        let start = Date()
        XCTAssertTrue(c.isClosedByPeer(within: 4), "an idle keep-alive connection is closed (--idle-timeout 1)")
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 0.5, "not before the idle timeout")
        XCTAssertLessThanOrEqual(elapsed, 3.0, "within --idle-timeout 1 plus margin")
    }

    func testActiveConnectionOutlivesIdleTimeout() throws {
        let g = gateway("timeouts")
        let c = try g.client()
        // Requests every 0.4 s for 2.4 s: never idle for 1 s.
        for _ in 0..<6 {
            assertStatus(try c.request("GET", "/health"), 200)
            Thread.sleep(forTimeInterval: 0.4)
        }
    }

    // MARK: CORS

    func testCORSAllowedOrigin() throws {
        let r = try api.call("POST", "/api/v1/sessions", headers: [("Origin", Self.allowedOrigin)], json: [:])
        assertStatus(r, 201)
        XCTAssertEqual(r.header("Access-Control-Allow-Origin"), Self.allowedOrigin)
        XCTAssertTrue(r.headerTokens("Vary").map { $0.lowercased() }.contains("origin"), "Vary: Origin; \(r)")
        let exposed = Set(r.headerTokens("Access-Control-Expose-Headers").map { $0.lowercased() })
        XCTAssertTrue(exposed.isSuperset(of: ["location", "retry-after"]), "Expose-Headers: \(exposed)")
        // Errors carry CORS headers too, so browsers can read them.
        let e = try api.call("GET", "/api/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA", headers: [("Origin", Self.allowedOrigin)])
        assertStatus(e, 404)
        XCTAssertEqual(e.header("Access-Control-Allow-Origin"), Self.allowedOrigin)
    }

    func testCORSDisallowedOrigin() throws {
        let r = try api.call("GET", "/api/v1/languages", headers: [("Origin", "http://evil.example")])
        assertStatus(r, 200, "CORS does not block the request itself")
        XCTAssertNil(r.header("Access-Control-Allow-Origin"), "no ACAO for a foreign origin: \(r.headers)")
        let pre = try api.call("OPTIONS", "/api/v1/sessions", headers: [
            ("Origin", "http://evil.example"), ("Access-Control-Request-Method", "POST"),
        ])
        XCTAssertNil(pre.header("Access-Control-Allow-Origin"), "no ACAO on a foreign preflight: \(pre)")
        // Without a configured origin list (gateway "limits"), nobody gets ACAO.
        let none = try gateway("limits").api().call("GET", "/health", headers: [("Origin", Self.allowedOrigin)])
        XCTAssertNil(none.header("Access-Control-Allow-Origin"))
    }

    func testCORSPreflight() throws {
        let s = try api.newSession()
        let r = try api.call("OPTIONS", "/api/v1/sessions/\(s.id)", headers: [
            ("Origin", Self.allowedOrigin),
            ("Access-Control-Request-Method", "PATCH"),
            ("Access-Control-Request-Headers", "authorization, content-type"),
        ])
        assertStatus(r, 204)
        XCTAssertTrue(r.body.isEmpty)
        XCTAssertEqual(r.header("Access-Control-Allow-Origin"), Self.allowedOrigin)
        let methods = Set(r.headerTokens("Access-Control-Allow-Methods").map { $0.uppercased() })
        XCTAssertTrue(methods.contains("PATCH"), "Allow-Methods: \(methods)")
        let headers = Set(r.headerTokens("Access-Control-Allow-Headers").map { $0.lowercased() })
        // (A "*" would not cover Authorization, so the names must be listed.)
        XCTAssertTrue(headers.isSuperset(of: ["authorization", "content-type"]), "Allow-Headers: \(headers)")
        XCTAssertNotNil(Int(r.header("Access-Control-Max-Age") ?? ""), "Max-Age: \(r.headers)")
        XCTAssertTrue(r.headerTokens("Vary").map { $0.lowercased() }.contains("origin"))
    }
}
