import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum HTTPClientError: Error, CustomStringConvertible {
    case connect(errno: Int32)
    case timeout(received: Int)
    case closed(received: Int)
    case io(errno: Int32)
    case malformed(String)

    var description: String {
        switch self {
        case .connect(let e): return "connect failed: \(String(cString: strerror(e)))"
        case .timeout(let n): return "timed out waiting for the server (\(n) bytes of this message received)"
        case .closed(let n): return "connection closed by the server (\(n) bytes of this message received)"
        case .io(let e): return "socket error: \(String(cString: strerror(e)))"
        case .malformed(let s): return "malformed response: \(s)"
        }
    }

    var isClosed: Bool {
        if case .closed = self { return true }
        if case .io(let e) = self { return e == ECONNRESET || e == EPIPE }
        return false
    }
}

/// One HTTP response as read off the wire.
struct HTTPResponse: CustomStringConvertible {
    let status: Int
    let reason: String
    let headers: [(name: String, value: String)]
    let body: [UInt8]
    /// Interim (1xx) responses that preceded this one (only filled by `HTTPClient.request`).
    var interim: [HTTPResponse] = []

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    /// All comma-separated tokens of a header (over all its lines), trimmed.
    func headerTokens(_ name: String) -> [String] {
        headerValues(name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed with JSONSerialization (nil when empty or not JSON).
    var json: Any? {
        guard !body.isEmpty else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
    }

    /// The body as a JSON object ([:] when it is not one).
    var object: [String: Any] { (json as? [String: Any]) ?? [:] }

    var description: String {
        let head = headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n  ")
        let shown = body.count > 2000 ? String(decoding: body.prefix(2000), as: UTF8.self) + "…"
                                      : text
        return "HTTP \(status) \(reason)\n  \(head)\n\n\(shown)"
    }
}

/// A raw, blocking HTTP/1.1 client over one TCP connection, so tests control every byte.
final class HTTPClient: @unchecked Sendable {
    let host: String
    let port: UInt16
    private(set) var fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0

    /// Connects to host:port; `timeout` bounds every blocking read (SO_RCVTIMEO) and write.
    /// `source` binds the local address first (another 127.x.y.z looks like another client).
    init(port: UInt16, host: String = "127.0.0.1", timeout: TimeInterval = 5, source: String? = nil) throws {
        self.host = host
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPClientError.io(errno: errno) }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound != 0 {
                let e = errno
                Glibc.close(fd)
                fd = -1
                throw HTTPClientError.connect(errno: e)
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(host)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let e = errno
            Glibc.close(fd)
            fd = -1
            throw HTTPClientError.connect(errno: e)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setTimeout(timeout)
    }

    deinit { close() }

    func setTimeout(_ timeout: TimeInterval) {
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    // MARK: writing

    func send(raw: String) throws { try send(bytes: Array(raw.utf8)) }

    func send(bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { buf in
                Glibc.send(fd, buf.baseAddress! + sent, buf.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw HTTPClientError.timeout(received: 0) }
                throw HTTPClientError.io(errno: errno)
            }
            sent += n
        }
    }

    /// The bytes of a request: request line, Host (unless given), Content-Length for a body
    /// (unless Content-Length or Transfer-Encoding is given), the headers, the body.
    func serialize(_ method: String, _ path: String, headers: [(String, String)] = [],
                   body: [UInt8]? = nil) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\n"
        let names = Set(headers.map { $0.0.lowercased() })
        if !names.contains("host") { head += "Host: \(host):\(port)\r\n" }
        if let body, !names.contains("content-length"), !names.contains("transfer-encoding") {
            head += "Content-Length: \(body.count)\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (body ?? [])
    }

    /// Sends one request and reads its final response (interim 1xx responses are collected
    /// in `interim`).
    func request(_ method: String, _ path: String, headers: [(String, String)] = [],
                 body: [UInt8]? = nil) throws -> HTTPResponse {
        try send(bytes: serialize(method, path, headers: headers, body: body))
        var interim: [HTTPResponse] = []
        while true {
            var response = try readResponse(method: method)
            if (100..<200).contains(response.status) && response.status != 101 {
                interim.append(response)
                continue
            }
            response.interim = interim
            return response
        }
    }

    /// Sends a request whose body is `json` serialized, with Content-Type: application/json.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [],
                 json: Any) throws -> HTTPResponse {
        var all = headers
        if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            all.append(("Content-Type", "application/json"))
        }
        return try request(method, path, headers: all, body: jsonBytes(json))
    }

    // MARK: reading

    private var available: Int { buffer.count - position }

    /// Reads more bytes into the buffer; throws on timeout / close.
    private func fill(received: Int) throws {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return
            }
            if n == 0 { throw HTTPClientError.closed(received: received) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw HTTPClientError.timeout(received: received) }
            throw HTTPClientError.io(errno: errno)
        }
    }

    /// Reads one CRLF- (or LF-) terminated line, without the terminator.
    func readLine(received: Int = 0) throws -> String {
        while true {
            if let nl = buffer[position...].firstIndex(of: 0x0A) {
                var end = nl
                if end > position && buffer[end - 1] == 0x0D { end -= 1 }
                let line = String(decoding: buffer[position..<end], as: UTF8.self)
                position = nl + 1
                return line
            }
            try fill(received: received + available)
        }
    }

    /// Exactly `count` bytes (after whatever was buffered): for protocols spoken after an
    /// upgrade (WebSocket frames) or over the same socket (RESP).
    func readBytes(_ count: Int) throws -> [UInt8] {
        try readExactly(count, received: 0)
    }

    private func readExactly(_ count: Int, received: Int) throws -> [UInt8] {
        while available < count { try fill(received: received + available) }
        let out = Array(buffer[position..<(position + count)])
        position += count
        return out
    }

    private func readToEnd() throws -> [UInt8] {
        while true {
            do {
                try fill(received: available)
            } catch let e as HTTPClientError where e.isClosed {
                let out = Array(buffer[position...])
                position = buffer.count
                return out
            }
        }
    }

    /// Reads the next response on the connection (e.g. the next pipelined one, or a
    /// 100 Continue). `method` tells whether a body follows (none for HEAD).
    func readResponse(method: String = "GET") throws -> HTTPResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HTTPClientError.malformed("status line \(statusLine.debugDescription)")
        }
        let reason = parts.count > 2 ? String(parts[2]) : ""
        var headers: [(name: String, value: String)] = []
        var received = statusLine.utf8.count
        while true {
            let line = try readLine(received: received)
            received += line.utf8.count + 2
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else {
                throw HTTPClientError.malformed("header line \(line.debugDescription)")
            }
            headers.append((String(line[..<colon]),
                            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = HTTPResponse(status: status, reason: reason, headers: headers, body: [])
        if method == "HEAD" || (100..<200).contains(status) || status == 204 || status == 304 {
            return response
        }
        if let te = response.header("Transfer-Encoding"), te.lowercased().contains("chunked") {
            var body: [UInt8] = []
            while true {
                let sizeLine = try readLine(received: received + body.count)
                let hex = sizeLine.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard let size = Int(hex, radix: 16) else {
                    throw HTTPClientError.malformed("chunk size \(sizeLine.debugDescription)")
                }
                if size == 0 {
                    while try !readLine(received: received + body.count).isEmpty {}  // trailers
                    break
                }
                body += try readExactly(size, received: received + body.count)
                guard try readLine(received: received + body.count).isEmpty else {
                    throw HTTPClientError.malformed("chunk not followed by CRLF")
                }
            }
            response = HTTPResponse(status: status, reason: reason, headers: headers, body: body)
        } else if let cl = response.header("Content-Length") {
            guard let length = Int(cl), length >= 0 else {
                throw HTTPClientError.malformed("Content-Length \(cl)")
            }
            response = HTTPResponse(status: status, reason: reason, headers: headers,
                                    body: try readExactly(length, received: received))
        } else {
            response = HTTPResponse(status: status, reason: reason, headers: headers, body: try readToEnd())
        }
        return response
    }

    /// Reads a response, or returns nil when the server closes the connection before
    /// sending any byte of one.
    func readResponseOrClose(method: String = "GET") throws -> HTTPResponse? {
        do {
            return try readResponse(method: method)
        } catch let e as HTTPClientError {
            if case .closed(let n) = e, n == 0 { return nil }
            if case .io(let err) = e, err == ECONNRESET { return nil }
            throw e
        }
    }

    /// True if the server closes (FIN or RST) the connection within `timeout` seconds
    /// without sending anything; false if it stays open or sends data.
    func isClosedByPeer(within timeout: TimeInterval = 0) -> Bool {
        if available > 0 { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let ms = max(0, Int32(deadline.timeIntervalSinceNow * 1000))
            let rc = poll(&pfd, 1, ms)
            if rc < 0 && errno == EINTR { continue }
            if rc <= 0 { return false }
            break
        }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if n == 0 { return true }
        if n < 0 { return errno == ECONNRESET || errno == EPIPE }
        return false
    }
}

func jsonBytes(_ value: Any) -> [UInt8] {
    // swiftlint:disable:next force_try
    Array(try! JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]))
}
