import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// Base class: each subclass gets its own Redis and its own gateway(s), started once in the
/// class set-up and stopped in the class tear-down. Tests use fresh sessions.
class GatewayTestCase: XCTestCase {
    // Shared by the tests of the class that is running (XCTest runs classes one at a time).
    nonisolated(unsafe) static var redis: RedisServer?
    nonisolated(unsafe) static var gateways: [String: GatewayProcess] = [:]
    nonisolated(unsafe) static var classSetupError: Error?
    /// Set when a test of the running class failed: its logs and data dirs are kept.
    nonisolated(unsafe) static var keepFiles = false

    /// The gateways this class needs: name -> extra command-line arguments. "main" is the
    /// default one (`gateway`, `api`).
    class var gatewayConfigurations: [String: [String]] { ["main": []] }

    /// Gateways started by the running test itself (stopped in its tear-down).
    var testGateways: [GatewayProcess] = []
    var testStarted = Date()

    override class func setUp() {
        super.setUp()
        classSetupError = nil
        keepFiles = false
        do {
            let r = try RedisServer()
            redis = r
            for (name, args) in gatewayConfigurations.sorted(by: { $0.key < $1.key }) {
                gateways[name] = try GatewayProcess(redis: r, nodeID: "\(self)-\(name)", arguments: args)
            }
        } catch {
            classSetupError = error
            print("error: \(self) set-up failed: \(error)")
        }
    }

    override class func tearDown() {
        for g in gateways.values { g.stop() }
        redis?.stop()
        if keepFiles || classSetupError != nil {
            print("note: \(self) kept its logs: \(gateways.values.map(\.directory).sorted()) \(redis?.directory ?? "")")
        } else {
            gateways.values.forEach { removeDirectory($0.directory) }
            redis.map { removeDirectory($0.directory) }
        }
        gateways = [:]
        redis = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        if let e = Self.classSetupError { throw e }
        testStarted = Date()
        // A previous test of this class may have killed a shared gateway: say so plainly.
        for (name, g) in Self.gateways where !g.isRunning {
            throw HarnessError("shared gateway \(name) is not running; log:\n\(g.logTail())")
        }
    }

    override func tearDown() {
        let failed = (testRun.map { $0.totalFailureCount > 0 || $0.unexpectedExceptionCount > 0 }) ?? false
        if failed {
            dumpLogs()
            Self.keepFiles = true
        }
        for g in testGateways {
            g.stop()
            if !failed { removeDirectory(g.directory) }
        }
        testGateways = []
        super.tearDown()
    }

    /// Prints the tail of every gateway log this test could have touched.
    func dumpLogs() {
        var all: [(String, GatewayProcess)] = Self.gateways.sorted { $0.key < $1.key }
        all += testGateways.map { ($0.nodeID, $0) }
        for (name, g) in all {
            print("----- \(name) (port \(g.port), pid \(g.pid)) log tail: \(g.logPath)\n\(g.logTail(lines: 40))\n-----")
        }
    }

    // MARK: accessors

    var redis: RedisServer {
        guard let r = Self.redis else { fatalError("no redis: class set-up failed") }
        return r
    }

    func gateway(_ name: String = "main") -> GatewayProcess {
        guard let g = Self.gateways[name] else { fatalError("no gateway \(name) configured for \(Self.self)") }
        return g
    }

    var gateway: GatewayProcess { gateway("main") }
    var api: API { gateway.api() }

    /// Starts a gateway owned by this test (stopped, and its log shown on failure, at tear-down).
    func startGateway(arguments: [String] = [], nodeID: String? = nil, port: UInt16? = nil,
                      environment: [String: String] = [:], waitUntilReady: Bool = true) throws -> GatewayProcess {
        let g = try GatewayProcess(redis: redis, nodeID: nodeID, port: port, arguments: arguments,
                                   environment: environment, waitUntilReady: waitUntilReady)
        testGateways.append(g)
        return g
    }

    /// Milliseconds since the epoch, as the API's timestamps.
    var nowMs: Int { Int(Date().timeIntervalSince1970 * 1000) }
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

// MARK: - assertion helpers

let problemTypePrefix = "urn:codeinterview:problem:"

/// Checks an RFC 9457-style problem answer: status, content type, type slug, members.
func assertProblem(_ r: HTTPResponse, status: Int, slug: String, field: String? = nil, instance: String? = nil,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, status, "status; response:\n\(r)", file: file, line: line)
    let ct = r.header("Content-Type") ?? ""
    XCTAssertTrue(ct.lowercased().hasPrefix("application/problem+json"),
                  "Content-Type should be application/problem+json, got \(ct.debugDescription)", file: file, line: line)
    let o = r.object
    XCTAssertEqual(o["type"] as? String, problemTypePrefix + slug, "problem type; body: \(r.text)", file: file, line: line)
    XCTAssertEqual(o["status"] as? Int, status, "problem status member; body: \(r.text)", file: file, line: line)
    XCTAssertNotNil(o["title"] as? String, "problem title; body: \(r.text)", file: file, line: line)
    XCTAssertNotNil(o["detail"] as? String, "problem detail; body: \(r.text)", file: file, line: line)
    if let instance {
        XCTAssertEqual(o["instance"] as? String, instance, "problem instance; body: \(r.text)", file: file, line: line)
    }
    if let field {
        XCTAssertEqual(o["field"] as? String, field, "problem field; body: \(r.text)", file: file, line: line)
    }
}

/// Status check that shows the whole response on failure.
func assertStatus(_ r: HTTPResponse, _ status: Int, _ message: String = "",
                  file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, status, "\(message) response:\n\(r)", file: file, line: line)
}

func isJSONInteger(_ v: Any?) -> Bool {
    guard let n = v as? NSNumber, !isJSONBool(v) else { return false }
    let t = String(cString: n.objCType)
    return t != "d" && t != "f"
}

func isJSONBool(_ v: Any?) -> Bool {
    guard let v else { return false }
    if let n = v as? NSNumber { return String(cString: n.objCType) == "c" || String(describing: type(of: v)).contains("Boolean") }
    return false
}

func isJSONNumber(_ v: Any?) -> Bool { v is NSNumber && !isJSONBool(v) }

func matches(_ s: String?, _ pattern: String) -> Bool {
    guard let s else { return false }
    return s.range(of: "^(?:\(pattern))$", options: .regularExpression) != nil
}
