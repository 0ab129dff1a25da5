import Foundation
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// A RESP reply, as far as the tests need it.
indirect enum RESP: Equatable, CustomStringConvertible {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk(String?)
    case array([RESP]?)

    var string: String? {
        switch self {
        case .simple(let s): return s
        case .bulk(let s): return s
        case .integer(let n): return String(n)
        default: return nil
        }
    }

    var array: [RESP] {
        if case .array(let items) = self { return items ?? [] }
        return []
    }

    var description: String {
        switch self {
        case .simple(let s): return "+\(s)"
        case .error(let s): return "-\(s)"
        case .integer(let n): return ":\(n)"
        case .bulk(let s): return s.map { "\"\($0)\"" } ?? "(nil)"
        case .array(let items): return items.map { "[\($0.map(\.description).joined(separator: ", "))]" } ?? "(nil array)"
        }
    }
}

/// A blocking RESP client on its own TCP connection (commands, or SSUBSCRIBE and then messages).
final class RedisClient: @unchecked Sendable {
    private let connection: HTTPClient

    init(port: UInt16, timeout: TimeInterval = 5) throws {
        connection = try HTTPClient(port: port, timeout: timeout)
    }

    func close() { connection.close() }

    /// Ends a blocked read on another thread.
    func shutdown() { _ = Glibc.shutdown(connection.fd, Int32(SHUT_RDWR)) }

    func setTimeout(_ timeout: TimeInterval) { connection.setTimeout(timeout) }

    @discardableResult
    func command(_ args: [String]) throws -> RESP {
        try send(args)
        return try read()
    }

    func send(_ args: [String]) throws {
        var out = "*\(args.count)\r\n"
        for a in args { out += "$\(a.utf8.count)\r\n\(a)\r\n" }
        try connection.send(raw: out)
    }

    func read() throws -> RESP {
        let line = try connection.readLine()
        guard let kind = line.first else { throw HarnessError("empty RESP line") }
        let rest = String(line.dropFirst())
        switch kind {
        case "+": return .simple(rest)
        case "-": return .error(rest)
        case ":": return .integer(Int(rest) ?? 0)
        case "$":
            let length = Int(rest) ?? -1
            if length < 0 { return .bulk(nil) }
            let bytes = try connection.readBytes(length + 2)
            let text = String(decoding: bytes.prefix(length), as: UTF8.self)
            return .bulk(text)
        case "*":
            let count = Int(rest) ?? -1
            if count < 0 { return .array(nil) }
            var items: [RESP] = []
            for _ in 0..<count { items.append(try read()) }
            return .array(items)
        default:
            throw HarnessError("unexpected RESP line \(line.debugDescription)")
        }
    }
}

/// Collects the messages of one pub/sub channel on a background thread.
final class ChannelRecorder: @unchecked Sendable {
    private let client: RedisClient
    private let lock = NSLock()
    private var payloads: [String] = []
    private var thread: Thread?
    private var stopped = false

    init(port: UInt16, channel: String) throws {
        client = try RedisClient(port: port, timeout: 5)
        // Sharded, as the gateways subscribe (SPUBLISH from the runner and the scripts).
        try client.send(["SSUBSCRIBE", channel])
        _ = try client.read()  // the subscribe confirmation
        client.setTimeout(120)
        let thread = Thread { [self] in
            while !isStopped {
                guard let reply = try? client.read() else { break }
                let parts = reply.array
                if parts.count == 3, parts[0].string == "smessage", let payload = parts[2].string {
                    lock.lock()
                    payloads.append(payload)
                    lock.unlock()
                }
            }
            client.close()
        }
        self.thread = thread
        thread.start()
    }

    private var isStopped: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopped
    }

    /// Payloads so far.
    var messages: [String] {
        lock.lock(); defer { lock.unlock() }
        return payloads
    }

    /// The frames (the JSON after the "<exclude>\n" prefix), parsed.
    var frames: [[String: Any]] {
        messages.compactMap { payload in
            guard let newline = payload.firstIndex(of: "\n") else { return nil }
            let json = payload[payload.index(after: newline)...]
            return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
        }
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        client.shutdown()
        Thread.sleep(forTimeInterval: 0.05)
    }
}
