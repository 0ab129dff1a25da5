import Foundation
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// A real `codeinterview runner` process, started and waited for until it has registered in Redis
/// (that is: it has probed its toolchains and connected).
final class RunnerProcess: @unchecked Sendable {
    let nodeID: String
    let directory: String
    let process: ChildProcess
    private let redisPort: UInt16

    var pid: pid_t { process.pid }
    var isRunning: Bool { process.isRunning }
    var logPath: String { process.logPath }

    init(redis: RedisServer, nodeID: String, arguments: [String] = [], startupTimeout: TimeInterval = 30) throws {
        self.nodeID = nodeID
        redisPort = redis.port
        directory = try TempDir.make("ci-runner")
        let args = ["runner", "--redis", redis.address, "--node-id", nodeID] + arguments
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CODEINTERVIEW_") }
        env["CODEINTERVIEW_TEST"] = "1"
        process = try ChildProcess(executable: try GatewayProcess.executablePath(), arguments: args,
                                   logPath: "\(directory)/runner.log", environment: env)
        let deadline = Date().addingTimeInterval(startupTimeout)
        while Date() < deadline {
            if !process.isRunning {
                let status = process.waitForExit(timeout: 1)
                throw HarnessError("runner \(nodeID) \(status) during start-up; log:\n\(process.logTail())")
            }
            if isRegistered { return }
            usleep(50_000)
        }
        process.stop()
        throw HarnessError("runner \(nodeID) did not register within \(startupTimeout) s; log:\n\(process.logTail())")
    }

    /// Listed with a live lease in ci:{nodes}:runners.
    var isRegistered: Bool {
        guard let client = try? RedisClient(port: redisPort) else { return false }
        defer { client.close() }
        guard let score = (try? client.command(["ZSCORE", "ci:{nodes}:runners", nodeID]))?.string, let expiry = Double(score) else {
            return false
        }
        return expiry > Date().timeIntervalSince1970 * 1000
    }

    /// What the runner published about itself (ci:{nodes}:runner-info).
    var info: [String: Any] {
        guard let client = try? RedisClient(port: redisPort),
              let text = (try? client.command(["HGET", "ci:{nodes}:runner-info", nodeID]))?.string,
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
        client.close()
        return object
    }

    var languages: [String] {
        ((info["languages"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
    }

    func signal(_ sig: Int32) { process.signal(sig) }

    func waitForExit(timeout: TimeInterval) -> ExitStatus { process.waitForExit(timeout: timeout) }

    @discardableResult
    func stop(grace: TimeInterval = 10) -> ExitStatus { process.stop(grace: grace) }

    func logTail(lines: Int = 60) -> String { process.logTail(lines: lines) }

    deinit { process.stop(grace: 2) }
}
