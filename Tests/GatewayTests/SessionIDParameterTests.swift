import Foundation
@testable import Gateway
import Logging
import XCTest
@testable import TestSupport

/// A malformed session id gets the same problem on every route that takes one, whatever the
/// method, prefix or body: 404 "no session with id '...'" (the decoded id), as an unknown
/// session does.
final class SessionIDParameterTests: GatewayTestCase {
    static let malformed: [(raw: String, decoded: String)] = [
        ("bad", "bad"),
        ("a%20b", "a b"),
        (String(repeating: "x", count: 23), String(repeating: "x", count: 23)),
        ("AAAAAAAAAAAAAAAAAAAAA%21", "AAAAAAAAAAAAAAAAAAAAA!"),
    ]

    func testAMalformedSessionIDGetsTheSameProblemOnEveryRoute() throws {
        let local = try Gateway(configuration: GatewayConfiguration(), logger: Logger(label: "test"))
        let routes = try XCTUnwrap(local.router).routes.filter { $0.endpoints.contains(where: \.takesSessionID) }
        XCTAssertGreaterThanOrEqual(routes.count, 14, "every /sessions/{id} route and the WebSocket")
        let handshake = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
                         ("Sec-WebSocket-Key", Data("0123456789abcdef".utf8).base64EncodedString())]
        var checked = 0
        for route in routes {
            var prefixes = route.rootOnly ? [] : ["/api/v1/", "/api/"]
            if route.atRoot { prefixes.append("/") }
            for endpoint in route.endpoints where endpoint.takesSessionID {
                for (raw, decoded) in Self.malformed {
                    for prefix in prefixes {
                        var segments: [String] = []
                        var first = true
                        for part in route.pattern {
                            if part.hasPrefix(":") {
                                segments.append(first ? raw : "u_0123456789abcdef")
                                first = false
                            } else {
                                segments.append(part)
                            }
                        }
                        let path = prefix + segments.joined(separator: "/")
                        let headers = endpoint.policy.webSocket ? handshake : []
                        let body: [UInt8]? = ["POST", "PUT", "PATCH"].contains(endpoint.method) ? Array("{}".utf8) : nil
                        let response = try api.call(endpoint.method, path, headers: headers + (body == nil ? [] : [("Content-Type", "application/json")]),
                                                    body: body)
                        let what = "\(endpoint.method) \(path)"
                        XCTAssertEqual(response.status, 404, what)
                        XCTAssertEqual(response.header("Content-Type"), "application/problem+json", what)
                        XCTAssertNil(response.header("Allow"), what)
                        XCTAssertEqual(response.object as NSDictionary, [
                            "type": "urn:codeinterview:problem:not-found", "title": "Not found", "status": 404,
                            "detail": "no session with id '\(decoded)'", "instance": path,
                        ] as NSDictionary, what)
                        XCTAssertNotNil(response.header("X-Request-Id"), what)
                        checked += 1
                        if endpoint.method == "GET" {
                            let head = try api.call("HEAD", path, headers: headers)
                            XCTAssertEqual(head.status, 404, "HEAD \(path)")
                            XCTAssertEqual(head.header("Content-Type"), "application/problem+json", "HEAD \(path)")
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 150)
    }
}
