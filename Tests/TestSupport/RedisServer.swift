import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `redis-server` (found on PATH) on a free loopback port with its own data directory.
final class RedisServer: @unchecked Sendable {
    let port: UInt16
    let directory: String
    private(set) var process: ChildProcess?
    private var generation = 0

    var address: String { "127.0.0.1:\(port)" }
    var logPath: String { "\(directory)/redis.log" }

    /// Extra redis-server options, e.g. ["--cluster-enabled", "yes"].
    let extraArguments: [String]

    init(port: UInt16? = nil, arguments: [String] = []) throws {
        self.port = try port ?? Ports.free()
        self.extraArguments = arguments
        self.directory = try TempDir.make("ci-redis")
        try start()
    }

    static func executablePath() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        for candidate in ["/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw HarnessError("redis-server not found on PATH (run scripts/setup)")
    }

    /// Starts the server (again) on the same port and directory; waits until PING answers.
    func start() throws {
        precondition(process == nil || process?.isRunning == false, "redis already running")
        generation += 1
        let p = try ChildProcess(
            executable: try Self.executablePath(),
            arguments: ["--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory,
                        "--save", "", "--appendonly", "no", "--daemonize", "no"] + extraArguments,
            logPath: logPath)
        process = p
        let ready = eventually(timeout: 10) { p.isRunning && self.ping() }
        if !ready {
            p.stop()
            throw HarnessError("redis-server on port \(port) did not answer PING; log:\n\(p.logTail())")
        }
    }

    /// SIGTERM and wait for it to exit.
    func stop() {
        process?.stop(grace: 5)
    }

    func restart() throws {
        stop()
        try start()
    }

    /// Sends PING over a raw socket and checks for +PONG.
    func ping() -> Bool {
        (try? command(["PING"])) == "+PONG"
    }

    /// Sends one RESP command and returns the first line of the reply (raw, with its type prefix).
    func command(_ args: [String]) throws -> String {
        let client = try HTTPClient(port: port, timeout: 2)
        defer { client.close() }
        var out = "*\(args.count)\r\n"
        for a in args { out += "$\(a.utf8.count)\r\n\(a)\r\n" }
        try client.send(raw: out)
        let line = try client.readLine()
        return line
    }

    deinit { process?.stop(grace: 2) }
}
