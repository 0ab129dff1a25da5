import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `codeinterview gateway` process on a free loopback port.
final class GatewayProcess: @unchecked Sendable {
    let port: UInt16
    let nodeID: String
    let redisAddress: String
    let extraArguments: [String]
    let directory: String
    let process: ChildProcess

    var logPath: String { process.logPath }
    var pid: pid_t { process.pid }
    var isRunning: Bool { process.isRunning }

    /// The `codeinterview` executable: $CODEINTERVIEW_BIN, else next to the running test
    /// bundle (the test bundle and the executable share SwiftPM's bin dir).
    static func executablePath() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let bin = env["CODEINTERVIEW_BIN"], !bin.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: bin) else {
                throw HarnessError("CODEINTERVIEW_BIN=\(bin) is not an executable file")
            }
            return bin
        }
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(exe)
        }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path)
        for start in candidates {
            // Walk up from the bundle (…/debug/codeinterviewPackageTests.xctest[/…]) to the
            // first directory that holds the executable.
            var dir = URL(fileURLWithPath: start).deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("codeinterview").path
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
                   FileManager.default.isExecutableFile(atPath: candidate) {
                    return candidate
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw HarnessError("cannot find the codeinterview executable next to \(candidates); "
                           + "build it (swift build --build-tests) or set CODEINTERVIEW_BIN")
    }

    /// Launches `codeinterview gateway --port P --redis R --node-id N [extra]` and, unless
    /// `waitUntilReady` is false, waits until this process itself answers GET /health (with any
    /// status, but with its own node id: on a shared port another gateway may answer first).
    convenience init(redis: RedisServer, nodeID: String? = nil, port: UInt16? = nil, arguments: [String] = [],
                     environment: [String: String] = [:], startupTimeout: TimeInterval = 20,
                     waitUntilReady: Bool = true) throws {
        try self.init(redisAddress: redis.address, nodeID: nodeID, port: port, arguments: arguments,
                      environment: environment, startupTimeout: startupTimeout, waitUntilReady: waitUntilReady)
    }

    /// `environment` is added to the test's environment (from which CODEINTERVIEW_* are removed).
    init(redisAddress: String, nodeID: String? = nil, port: UInt16? = nil, arguments: [String] = [],
         environment: [String: String] = [:], startupTimeout: TimeInterval = 20, waitUntilReady: Bool = true) throws {
        self.port = try port ?? Ports.free()
        self.nodeID = nodeID ?? "test-gw-\(self.port)"
        self.redisAddress = redisAddress
        self.extraArguments = arguments
        self.directory = try TempDir.make("ci-gateway")
        let args = ["gateway", "--host", "127.0.0.1", "--port", "\(self.port)", "--redis", redisAddress,
                    "--node-id", self.nodeID] + arguments
        // Keep the environment, less any CODEINTERVIEW_* settings that would change defaults.
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CODEINTERVIEW_") }
        // Every test client comes from 127.0.0.1: rate limits are off unless a test turns them
        // on (with --rate-limits on, which wins over the environment).
        env["CODEINTERVIEW_RATE_LIMITS"] = "off"
        env.merge(environment) { _, new in new }
        process = try ChildProcess(executable: try Self.executablePath(), arguments: args,
                                   logPath: "\(directory)/gateway.log", environment: env)
        if waitUntilReady { try waitUntilServing(timeout: startupTimeout) }
    }

    private func waitUntilServing(timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning {
                let status = process.waitForExit(timeout: 1)
                throw HarnessError("gateway \(nodeID) \(status) during start-up; log:\n\(process.logTail())")
            }
            // A new connection each time: with SO_REUSEPORT the kernel picks the listener per
            // connection, so a shared port soon reaches this process too.
            if Ports.accepts(port),
               let client = try? HTTPClient(port: port, timeout: 2),
               let health = try? client.request("GET", "/health") {
                client.close()
                if health.object["node_id"] as? String == nodeID { return }
                continue
            }
            usleep(50_000)
        }
        process.stop()
        throw HarnessError("gateway \(nodeID) did not answer GET /health (with its node id) on port \(port) within "
                           + "\(timeout) s; log:\n\(process.logTail())")
    }

    func signal(_ sig: Int32) { process.signal(sig) }

    func waitForExit(timeout: TimeInterval) -> ExitStatus { process.waitForExit(timeout: timeout) }

    /// SIGTERM, SIGKILL after `grace` seconds.
    @discardableResult
    func stop(grace: TimeInterval = 5) -> ExitStatus { process.stop(grace: grace) }

    func logTail(lines: Int = 60) -> String { process.logTail(lines: lines) }

    /// A new connection to this gateway.
    func client(timeout: TimeInterval = 5) throws -> HTTPClient {
        try HTTPClient(port: port, timeout: timeout)
    }


    deinit { process.stop(grace: 2) }
}
