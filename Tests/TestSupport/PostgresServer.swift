import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL (Debian's `postgresql`): `initdb` into a temporary directory, then
/// `postgres` on a free loopback port with its socket in that directory, trust authentication
/// for the `postgres` role. initdb and postgres refuse to run as root: as root they run as the
/// `postgres` user (created by Debian's package) through `setpriv`, the directory theirs.
final class PostgresServer: @unchecked Sendable {
    let port: UInt16
    /// The temporary directory: `data/` (the cluster), the Unix socket, the log.
    let directory: String
    var dataDirectory: String { "\(directory)/data" }
    var logPath: String { "\(directory)/postgres.log" }
    private(set) var process: ChildProcess?
    private let binDirectory: String

    /// A libpq URI for the `postgres` database as the `postgres` role, over TCP.
    var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    init(port: UInt16? = nil) throws {
        self.port = try port ?? Ports.free()
        binDirectory = try Self.binDirectory()
        // The postgres user must reach the directory: as root, under /tmp (traversable by all),
        // not a TMPDIR that may be root's own.
        directory = try Self.isRoot ? Self.makeDirectory(base: "/tmp") : TempDir.make("ci-postgres")
        if Self.isRoot {
            chmod(directory, 0o755)
            try Self.giveToPostgres(directory)
        }
        try initialize()
        try start()
    }

    static var isRoot: Bool { geteuid() == 0 }

    /// The newest `/usr/lib/postgresql/N/bin` holding `postgres` (Debian's layout; `pg_config
    /// --bindir` names the client's directory, which may lack the server), else PATH's.
    static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { Int($0) }.sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/postgres") {
            return "\(root)/\(version)/bin"
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/postgres") {
            return String(dir)
        }
        throw HarnessError("PostgreSQL's server (postgres, initdb) not found under /usr/lib/postgresql or on PATH (run scripts/setup)")
    }

    private static func makeDirectory(base: String) throws -> String {
        var template = Array("\(base)/ci-postgres.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw HarnessError("mkdtemp failed: errno \(errno)") }
        return String(cString: made)
    }

    private static func giveToPostgres(_ path: String) throws {
        guard let user = getpwnam("postgres") else {
            throw HarnessError("running as root, and there is no postgres user to run PostgreSQL as (install Debian's postgresql)")
        }
        guard chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
            throw HarnessError("chown \(path) to postgres: errno \(errno)")
        }
    }

    /// The command line for `executable`: as root, through setpriv as the postgres user.
    private func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard Self.isRoot else { return (executable, arguments) }
        return ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", executable] + arguments)
    }

    private func initialize() throws {
        let (executable, arguments) = command("\(binDirectory)/initdb", [
            "-D", dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
        ])
        let child = try ChildProcess(executable: executable, arguments: arguments, logPath: "\(directory)/initdb.log")
        let status = child.waitForExit(timeout: 120)
        guard status == .exited(0) else {
            child.stop()
            throw HarnessError("initdb \(status); log:\n\(child.logTail())")
        }
    }

    /// Starts the server (again) on the same port and data; waits until pg_isready says it accepts
    /// connections (a condition only this server can satisfy: its port and socket directory).
    func start() throws {
        precondition(process == nil || process?.isRunning == false, "postgres already running")
        // fsync off: tests lose processes, never the machine, and the kernel keeps what was written.
        // Commits stay synchronous: a SIGKILL (kill()) must lose nothing that was committed.
        let (executable, arguments) = command("\(binDirectory)/postgres", [
            "-D", dataDirectory, "-p", "\(port)", "-k", directory,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ])
        let child = try ChildProcess(executable: executable, arguments: arguments, logPath: logPath)
        process = child
        let ready = eventually(timeout: 60, interval: 0.1) { child.isRunning && self.isReady() }
        if !ready {
            kill()
            throw HarnessError("postgres on port \(port) did not become ready; log:\n\(child.logTail())")
        }
    }

    /// pg_isready over TCP: exit status 0 means the server accepts connections. (Its log is a file
    /// of ours: ChildProcess creates its log path, which must never be /dev/null when root.)
    func isReady() -> Bool {
        guard let child = try? ChildProcess(executable: "\(binDirectory)/pg_isready",
                                            arguments: ["-q", "-U", "postgres", "-h", "127.0.0.1", "-p", "\(port)", "-t", "2"],
                                            logPath: "\(directory)/pg_isready.log") else { return false }
        return child.waitForExit(timeout: 5) == .exited(0)
    }

    /// A fast shutdown (SIGINT: clients disconnected, transactions rolled back), then SIGKILL of
    /// the whole group if it lingers.
    func stop() {
        guard let process, process.isRunning else { return }
        process.signal(SIGINT)
        if process.waitForExit(timeout: 20) == .stillRunning { kill() }
    }

    /// SIGKILL of the postmaster and every backend (a crash: nothing shut down cleanly).
    func kill() {
        guard let process, process.isRunning else { return }
        let pid = process.pid
        let backends = Self.children(of: pid)
        if getpgid(pid) == pid { Glibc.kill(-pid, SIGKILL) }
        Glibc.kill(pid, SIGKILL)
        for backend in backends { Glibc.kill(backend, SIGKILL) }
        _ = process.waitForExit(timeout: 10)
        // Backends orphaned by the kill may still be dying: the next start needs them gone
        // (they hold the shared memory the new postmaster checks).
        _ = eventually(timeout: 10) { backends.allSatisfy { Glibc.kill($0, 0) != 0 } }
    }

    func restart() throws {
        stop()
        try start()
    }

    /// Runs SQL through psql (unaligned, tuples only); answers its output, one row per line,
    /// columns separated by `|`.
    @discardableResult
    func psql(_ sql: String) throws -> String {
        let output = "\(directory)/psql.\(UUID().uuidString).out"
        defer { unlink(output) }
        let child = try ChildProcess(executable: "/usr/bin/psql",
                                     arguments: ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                                     logPath: output)
        let status = child.waitForExit(timeout: 30)
        let text = child.logTail(lines: 100_000)
        guard status == .exited(0) else { throw HarnessError("psql \(status): \(text)") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The processes whose parent is `pid` (a postmaster's backends), from /proc.
    static func children(of pid: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> pid_t? in
            guard let child = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // "pid (comm) state ppid ...": the command may hold spaces, so count after ')'.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? child : nil
        }
    }

    /// Kills the server and removes its directory (the end of a test suite; also on deinit).
    func remove() {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { remove() }
}
