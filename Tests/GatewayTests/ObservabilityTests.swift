import Foundation
import XCTest
@testable import TestSupport

/// Issue 7: request ids, the Prometheus endpoint, JSON log lines.
final class ObservabilityTests: GatewayTestCase {
    override class var gatewayConfigurations: [String: [String]] {
        [
            "main": ["--log-format", "json", "--log-level", "debug", "--max-header-bytes", "1024"],
            "guarded": ["--admin-token", "s3cret-admin"],
        ]
    }

    func testEveryResponseCarriesARequestID() throws {
        let plain = try api.call("GET", "/health")
        let generated = try XCTUnwrap(plain.header("X-Request-Id"), "\(plain)")
        XCTAssertTrue(generated.hasPrefix(gateway.nodeID), "ours start with the instance id: \(generated)")
        let other = try api.call("GET", "/health").header("X-Request-Id")
        XCTAssertNotEqual(other, generated, "each request gets its own id")
        // A sane client id is kept (so a trace spans the balancer and the gateway); anything else is replaced.
        XCTAssertEqual(try api.call("GET", "/api/v1/languages", headers: [("X-Request-Id", "trace-42.a_b")]).header("X-Request-Id"), "trace-42.a_b")
        let odd = try api.call("GET", "/api/v1/languages", headers: [("X-Request-Id", "bad id\"with{stuff}")])
        XCTAssertNotEqual(odd.header("X-Request-Id"), "bad id\"with{stuff}")
        XCTAssertNotNil(odd.header("X-Request-Id"))
        // Errors too, including those the transport answers itself.
        XCTAssertNotNil(try api.call("GET", "/api/v1/nope").header("X-Request-Id"))
        let client = try gateway.client()
        defer { client.close() }
        let tooBig = try client.request("GET", "/health", headers: [("X-Fill", String(repeating: "a", count: 2000))])
        assertStatus(tooBig, 431)
        XCTAssertNotNil(tooBig.header("X-Request-Id"), "\(tooBig)")
    }

    func testMetricsAreValidPrometheusText() throws {
        let s = try api.newSession()
        _ = try api.getSession(s.id)
        _ = try api.call("GET", "/api/v1/nope")
        let r = try api.call("GET", "/metrics")
        assertStatus(r, 200)
        XCTAssertTrue(r.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true, "\(r)")
        var typed: [String: String] = [:]
        var samples: [String: Double] = [:]
        let sample = try NSRegularExpression(pattern: #"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|\+Inf)$"#)
        for line in r.text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                typed[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("# HELP ") { continue }
            let range = NSRange(line.startIndex..., in: line)
            let match = try XCTUnwrap(sample.firstMatch(in: line, range: range), "not a sample line: \(line)")
            let name = String(line[Range(match.range(at: 1), in: line)!])
            let family = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) && typed[$0] == nil ? String($0.dropLast($1.count)) : $0 }
            XCTAssertNotNil(typed[family], "\(name) has a # TYPE line")
            let labels = match.range(at: 2).location == NSNotFound ? "" : String(line[Range(match.range(at: 2), in: line)!])
            samples[name + labels] = Double(line[Range(match.range(at: 3), in: line)!])
        }
        XCTAssertGreaterThanOrEqual(samples["codeinterview_http_responses_total{code=\"201\"}"] ?? 0, 1)
        XCTAssertGreaterThanOrEqual(samples["codeinterview_http_responses_total{code=\"404\"}"] ?? 0, 1)
        XCTAssertEqual(samples["codeinterview_redis_up"], 1)
        XCTAssertGreaterThan(samples["codeinterview_redis_command_duration_seconds_count"] ?? 0, 0)
        XCTAssertNotNil(samples["codeinterview_execution_queue_depth"], "queue depth comes from Redis")
        XCTAssertNotNil(samples["codeinterview_runner_slots{state=\"total\"}"])
        XCTAssertEqual(typed["codeinterview_redis_command_duration_seconds"], "histogram")
        XCTAssertEqual(typed["codeinterview_connections"], "gauge")
    }

    func testMetricsNeedTheAdminTokenWhenOneIsSet() throws {
        let guarded = gateway("guarded").api()
        assertProblem(try guarded.call("GET", "/metrics"), status: 401, slug: "unauthorized")
        assertProblem(try guarded.call("GET", "/metrics", token: "wrong"), status: 403, slug: "forbidden")
        assertStatus(try guarded.call("GET", "/metrics", token: "s3cret-admin"), 200)
    }

    func testJSONLogLinesCarryTheRequestID() throws {
        _ = try api.call("GET", "/api/v1/languages", headers: [("X-Request-Id", "log-check-7")])
        var found: [String: Any]?
        for _ in 0..<50 where found == nil {
            let text = (try? String(contentsOfFile: gateway.logPath, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    XCTFail("a log line is not JSON: \(line)")
                    return
                }
                if object["request_id"] as? String == "log-check-7" { found = object }
            }
            if found == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        let line = try XCTUnwrap(found, "a log line with the request id")
        XCTAssertEqual(line["level"] as? String, "debug")
        XCTAssertTrue((line["message"] as? String)?.contains("GET /api/v1/languages 200") == true, "\(line)")
        XCTAssertNotNil(line["time"] as? String)
        XCTAssertEqual(line["node"] as? String, gateway.nodeID)
    }
}
