import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors raised by the test harness itself (not by assertions).
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How a child process ended.
enum ExitStatus: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    case stillRunning

    var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let sig): return "killed by signal \(sig)"
        case .stillRunning: return "still running"
        }
    }
}

enum Ports {
    /// A free TCP port on the loopback interface (bind port 0, read it back, close).
    static func free() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket(): errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in.loopback(port: 0)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw HarnessError("bind(0): errno \(errno)") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// True when something accepts TCP connections on 127.0.0.1:port right now.
    static func accepts(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in.loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }
}

extension sockaddr_in {
    static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}

/// Every child the harness started, so that a crashing or forgetful test leaves none behind.
final class ChildRegistry: @unchecked Sendable {
    static let shared = ChildRegistry()
    private let lock = NSLock()
    private var children: [ObjectIdentifier: Process] = [:]
    private var installed = false

    func add(_ p: Process) {
        lock.lock(); defer { lock.unlock() }
        children[ObjectIdentifier(p)] = p
        if !installed {
            installed = true
            atexit { ChildRegistry.shared.killAll() }
        }
    }

    func remove(_ p: Process) {
        lock.lock(); defer { lock.unlock() }
        children[ObjectIdentifier(p)] = nil
    }

    func killAll() {
        lock.lock()
        let all = Array(children.values)
        children.removeAll()
        lock.unlock()
        for p in all where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

/// A child process with its output sent to a log file.
final class ChildProcess: @unchecked Sendable {
    let executable: String
    let arguments: [String]
    let logPath: String
    private let process = Process()

    init(executable: String, arguments: [String], logPath: String, environment: [String: String]? = nil) throws {
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw HarnessError("cannot open log file \(logPath)")
        }
        log.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        if let environment { process.environment = environment }
        do {
            try process.run()
        } catch {
            throw HarnessError("cannot start \(executable) \(arguments.joined(separator: " ")): \(error)")
        }
        try? log.close()
        ChildRegistry.shared.add(process)
    }

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func signal(_ sig: Int32) {
        if process.isRunning { kill(process.processIdentifier, sig) }
    }

    /// Waits up to `timeout` seconds for the process to end.
    func waitForExit(timeout: TimeInterval) -> ExitStatus {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return .stillRunning }
            usleep(10_000)
        }
        ChildRegistry.shared.remove(process)
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signaled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }

    /// SIGTERM, then SIGKILL if it does not end within `grace` seconds.
    @discardableResult
    func stop(grace: TimeInterval = 5) -> ExitStatus {
        guard process.isRunning else { return waitForExit(timeout: 0) }
        signal(SIGTERM)
        let status = waitForExit(timeout: grace)
        if status == .stillRunning {
            signal(SIGKILL)
            return waitForExit(timeout: 5)
        }
        return status
    }

    /// The last `lines` lines of the log.
    func logTail(lines: Int = 60) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "(no log)" }
        let text = String(decoding: data, as: UTF8.self)
        let all = text.split(separator: "\n", omittingEmptySubsequences: false)
        return all.suffix(lines).joined(separator: "\n")
    }
}

enum TempDir {
    /// A fresh directory under the system temp dir.
    static func make(_ prefix: String) throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw HarnessError("mkdtemp failed: errno \(errno)") }
        return String(cString: made)
    }
}

/// Polls `condition` every `interval` seconds until it is true or `timeout` passes.
@discardableResult
func eventually(timeout: TimeInterval, interval: TimeInterval = 0.05, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    repeat {
        if condition() { return true }
        Thread.sleep(forTimeInterval: interval)
    } while Date() < deadline
    return condition()
}
