import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// Base class: each subclass gets its own redis-server, gateway and runners (started once in the
/// class set-up, stopped in the class tear-down), all real processes; tests talk HTTP to the gateway.
class RunnerTestCase: XCTestCase {
    nonisolated(unsafe) static var redis: RedisServer?
    nonisolated(unsafe) static var gateway: GatewayProcess?
    nonisolated(unsafe) static var runners: [RunnerProcess] = []
    nonisolated(unsafe) static var classSetupError: Error?

    /// Extra arguments of each shared runner (one entry per runner).
    class var runnerArguments: [[String]] { [["--concurrency", "2"]] }
    class var gatewayArguments: [String] { [] }

    var testRunners: [RunnerProcess] = []
    var testGateways: [GatewayProcess] = []

    override class func setUp() {
        super.setUp()
        classSetupError = nil
        do {
            let r = try RedisServer()
            redis = r
            gateway = try GatewayProcess(redis: r, nodeID: "\(self)-gw", arguments: gatewayArguments)
            runners = try runnerArguments.enumerated().map { index, args in
                try RunnerProcess(redis: r, nodeID: "\(self)-r\(index + 1)", arguments: args)
            }
        } catch {
            classSetupError = error
            print("error: \(self) set-up failed: \(error)")
        }
    }

    override class func tearDown() {
        for runner in runners { runner.stop() }
        runners = []
        gateway?.stop()
        gateway = nil
        redis?.stop()
        redis = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        if let e = Self.classSetupError { throw e }
        for runner in Self.runners where !runner.isRunning {
            throw HarnessError("shared runner \(runner.nodeID) is not running; log:\n\(runner.logTail())")
        }
    }

    override func tearDown() {
        if let run = testRun, run.totalFailureCount > 0 || run.unexpectedExceptionCount > 0 { dumpLogs() }
        for runner in testRunners { runner.stop(grace: 5) }
        testRunners = []
        for gateway in testGateways { gateway.stop() }
        testGateways = []
        super.tearDown()
    }

    func dumpLogs() {
        for runner in Self.runners + testRunners {
            print("----- runner \(runner.nodeID) (pid \(runner.pid)) log tail: \(runner.logPath)\n\(runner.logTail(lines: 30))\n-----")
        }
        if let gateway = Self.gateway {
            print("----- gateway log tail: \(gateway.logPath)\n\(gateway.logTail(lines: 30))\n-----")
        }
    }

    // MARK: accessors

    var redis: RedisServer { Self.redis! }
    var gateway: GatewayProcess { Self.gateway! }
    var runner: RunnerProcess { Self.runners[0] }

    func startRunner(_ nodeID: String, arguments: [String] = []) throws -> RunnerProcess {
        let runner = try RunnerProcess(redis: redis, nodeID: nodeID, arguments: arguments)
        testRunners.append(runner)
        return runner
    }

    func startGateway(arguments: [String]) throws -> GatewayProcess {
        let gateway = try GatewayProcess(redis: redis, nodeID: "gw-\(testGateways.count + 2)", arguments: arguments)
        testGateways.append(gateway)
        return gateway
    }

    // MARK: HTTP

    func call(_ method: String, _ path: String, json: Any? = nil, token: String? = nil, port: UInt16? = nil,
              timeout: TimeInterval = 90) throws -> HTTPResponse {
        let client = try HTTPClient(port: port ?? gateway.port, timeout: timeout)
        defer { client.close() }
        var headers: [(String, String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if let json { return try client.request(method, "/api/v1" + path, headers: headers, json: json) }
        return try client.request(method, "/api/v1" + path, headers: headers)
    }

    /// POST /execute; the response.
    func submit(_ language: String, _ code: String, stdin: String = "", limits: [String: Any]? = nil, wait: Bool = true,
                port: UInt16? = nil) throws -> HTTPResponse {
        var body: [String: Any] = ["language": language, "code": code, "stdin": stdin, "wait": wait]
        if let limits { body["limits"] = limits }
        return try call("POST", "/execute", json: body, port: port)
    }

    /// Runs a program and returns its result object; fails unless the answer is 200 with a result.
    func run(_ language: String, _ code: String, stdin: String = "", limits: [String: Any]? = nil,
             file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let response = try submit(language, code, stdin: stdin, limits: limits)
        guard response.status == 200, let result = response.object["result"] as? [String: Any] else {
            XCTFail("running \(language): expected 200 with a result, got \(response)", file: file, line: line)
            throw HarnessError("no result")
        }
        return result
    }

    /// GET /executions/{id} until the job is done (or `timeout`); the job.
    func waitForJob(_ id: String, timeout: TimeInterval = 60, port: UInt16? = nil) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            let response = try call("GET", "/executions/\(id)", port: port, timeout: 5)
            last = response.object
            if last["state"] as? String == "done" { return last }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("job \(id) not done within \(timeout) s: \(last)")
    }

    /// Waits until `condition` holds for the job (polling GET /executions/{id}).
    func waitForJob(_ id: String, timeout: TimeInterval = 30, _ condition: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try call("GET", "/executions/\(id)", timeout: 5).object
            if condition(last) { return last }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw HarnessError("job \(id) did not reach the expected state within \(timeout) s: \(last)")
    }

    /// The languages GET /languages says a live runner offers.
    func availableLanguages() throws -> [String] {
        let response = try call("GET", "/languages", timeout: 5)
        return ((response.object["languages"] as? [[String: Any]]) ?? []).filter { $0["available"] as? Bool == true }
            .compactMap { $0["id"] as? String }
    }

    /// After a hostile program: the runner process is alive and still runs jobs correctly.
    func assertRunnerStillServes(_ runner: RunnerProcess? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let runner = runner ?? self.runner
        XCTAssertTrue(runner.isRunning, "runner \(runner.nodeID) died; log:\n\(runner.logTail())", file: file, line: line)
        do {
            let result = try run("python", "print('still serving', int(input()) * 2)", stdin: "21\n", file: file, line: line)
            XCTAssertEqual(result["status"] as? String, "ok", "\(result)", file: file, line: line)
            XCTAssertEqual(result["stdout"] as? String, "still serving 42\n", file: file, line: line)
        } catch {
            XCTFail("the runner does not serve any more: \(error)", file: file, line: line)
        }
    }

    /// A session with a named host; (id, host token, participant token).
    func createSession(language: String = "python", code: String? = nil) throws -> (id: String, host: String, participant: String) {
        var body: [String: Any] = ["creator": ["name": "Ada"], "language": language]
        if let code { body["code"] = code }
        let response = try call("POST", "/sessions", json: body, timeout: 5)
        guard response.status == 201, let id = response.object["id"] as? String, let host = response.object["host_token"] as? String,
              let participant = response.object["participant_token"] as? String else {
            throw HarnessError("creating a session failed: \(response)")
        }
        return (id, host, participant)
    }
}

func assertStatus(_ result: [String: Any], _ status: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result["status"] as? String, status,
                   "message: \(result["message"] ?? "-"); stdout: \(String(describing: result["stdout"]).prefix(300)); "
                   + "stderr: \(String(describing: result["stderr"]).prefix(600)); compile: \(String(describing: result["compile_output"]).prefix(600))",
                   file: file, line: line)
}

func isCI() -> Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
