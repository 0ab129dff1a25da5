import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// SIGTERM / SIGINT: stop accepting, finish in-flight requests, exit 0.
final class GracefulShutdownTests: GatewayTestCase {
    // Each test starts (and kills) its own gateway.
    override class var gatewayConfigurations: [String: [String]] { [:] }

    func testSIGTERMFinishesInFlightRequest() throws {
        let g = try startGateway()
        let c = try g.client(timeout: 8)
        let body = Array(#"{"host_name":"Grace","session_name":"in flight"}"#.utf8)
        let half = body.count / 2
        try c.send(raw: "POST /api/v1/sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                   + "Content-Length: \(body.count)\r\n\r\n")
        try c.send(bytes: Array(body[..<half]))
        Thread.sleep(forTimeInterval: 0.2)  // the gateway has read the head and half the body

        g.signal(SIGTERM)

        // It stops accepting while the request is still in flight.
        let refused = eventually(timeout: 3, interval: 0.05) { !Ports.accepts(g.port) }
        XCTAssertTrue(refused, "new connections are refused after SIGTERM")
        XCTAssertTrue(g.isRunning, "still running while a request is in flight")

        try c.send(bytes: Array(body[half...]))
        let r = try c.readResponse(method: "POST")
        assertStatus(r, 201, "the in-flight request completes")
        XCTAssertEqual(r.object["name"] as? String, "in flight")
        XCTAssertEqual((r.object["participants"] as? [[String: Any]])?.first?["name"] as? String, "Grace")

        let status = g.waitForExit(timeout: 5)
        XCTAssertEqual(status, .exited(0), "exit status after SIGTERM")
        XCTAssertTrue(c.isClosedByPeer(within: 1), "the connection is closed at exit")

        // The session was really stored: another gateway sees it.
        if let id = r.object["id"] as? String {
            let other = try startGateway()
            assertStatus(try other.api().getSession(id), 200)
        }
    }

    func testSIGINTOnIdleGatewayExitsZero() throws {
        let g = try startGateway()
        assertStatus(try g.api().health(), 200)
        g.signal(SIGINT)
        XCTAssertEqual(g.waitForExit(timeout: 5), .exited(0), "exit status after SIGINT")
        XCTAssertFalse(Ports.accepts(g.port))
    }

    func testSIGTERMClosesIdleKeepAliveConnections() throws {
        let g = try startGateway()
        let c = try g.client()
        assertStatus(try c.request("GET", "/health"), 200)
        g.signal(SIGTERM)
        XCTAssertEqual(g.waitForExit(timeout: 5), .exited(0), "an idle keep-alive connection does not hold up the exit")
        XCTAssertTrue(c.isClosedByPeer(within: 1))
    }
}
