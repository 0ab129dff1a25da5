import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// Answers one request. It holds its connection strongly, so a late answer (after the client
/// went away) is simply dropped; answering twice is a no-op.
public struct HTTPResponder {
    let connection: HTTPConnection
    let serial: UInt64

    public func respond(_ response: HTTPResponse) {
        connection.respond(response, serial: serial)
    }

    /// True while the client is still there to receive an answer.
    public var isConnected: Bool { connection.phase != .closed && connection.serial == serial }

    /// Accepts a WebSocket upgrade (the caller checked the request): answers 101 with the
    /// handshake and `headers`, and returns the connection that now owns the socket. The caller
    /// sets its delegate and calls `start()`.
    public func upgradeToWebSocket(key: String, headers: HTTPHeaders = HTTPHeaders()) -> WebSocketConnection? {
        connection.upgrade(serial: serial, key: key, headers: headers)
    }
}

/// One client connection: http_parser reads requests, one at a time; pipelined requests wait in
/// `pending` (reading stops meanwhile) so responses always leave in request order.
final class HTTPConnection: StreamConnection {
    enum Phase { case idle, receiving, handling, lingering, upgraded, closed }

    unowned let server: HTTPServer
    private let timer = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
    private var openHandles = 2

    fileprivate(set) var phase = Phase.idle
    fileprivate(set) var serial: UInt64 = 0
    /// The socket's peer, and the client's address (the same unless a PROXY line said otherwise).
    private var socketAddress = ""
    private var remoteAddress = ""
    /// Bytes of a PROXY protocol line still being read, while one is expected.
    private var proxyLine: [UInt8]?
    /// Whether the server counted this socket (every started one; not a failed accept).
    private var counted = false

    private let parser: HTTPRequestParser

    /// Bytes read but not parsed yet (the pipelined requests behind the one being handled).
    private var pending: [UInt8] = []
    private var reading = false
    private var draining = false
    private var drainAgain = false
    private var closeAfterResponse = false
    private var closeWhenFlushed = false
    /// Set once the socket belongs to a WebSocketConnection.
    private var tcpHandedOver = false

    init(server: HTTPServer) {
        self.server = server
        let configuration = server.configuration
        parser = HTTPRequestParser(limits: .init(maxHeaderBytes: configuration.maxHeaderBytes,
                                                 maxURLBytes: configuration.maxURLBytes,
                                                 maxBodyBytes: configuration.maxBodyBytes))
        super.init(tcp: .allocate(capacity: 1))
        uv_tcp_init(server.loop.raw, tcp)
        uv_timer_init(server.loop.raw, timer)
        let this = Unmanaged.passUnretained(self).toOpaque()
        tcp.pointee.data = this
        timer.pointee.data = this
        parser.onMessageBegin = { [unowned self] in
            self.phase = .receiving
            self.armTimer(self.server.configuration.headerTimeoutMillis)
        }
        parser.onHeadersComplete = { [unowned self] expectsContinue in
            self.armTimer(self.server.configuration.idleTimeoutMillis)
            if expectsContinue { self.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        }
    }

    func start() {
        uv_tcp_nodelay(tcp, 1)
        socketAddress = peerAddress()
        remoteAddress = socketAddress
        parser.remoteAddress = remoteAddress
        counted = true
        if let refusal = server.socketOpened(socketAddress) {
            // Over a connection limit: answer why, then close.
            closeAfterResponse = true
            phase = .handling
            serial &+= 1
            respond(server.errorBody(refusal.status, refusal.detail, "/"), serial: serial)
            return
        }
        if server.configuration.proxyProtocol && server.configuration.trustedProxies.contains(address: socketAddress) {
            proxyLine = []
        }
        // Slow-loris guard: a connection that never completes a header block is dropped.
        armTimer(server.configuration.headerTimeoutMillis)
        startReading()
    }

    // MARK: Reading

    private func startReading() {
        guard !reading, phase != .closed else { return }
        reading = true
        uv_read_start(stream(tcp), { raw, _, buf in
            let connection = Unmanaged<HTTPConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            buf!.pointee = uv_buf_init(connection.server.readBuffer.assumingMemoryBound(to: CChar.self),
                                       UInt32(connection.server.readBufferSize))
        }, { raw, nread, buf in
            let connection = Unmanaged<HTTPConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            if nread > 0 {
                connection.received(UnsafeRawPointer(buf!.pointee.base!), nread)
            } else if nread < 0 {
                connection.peerClosed()
            }
            // nread == 0 is EAGAIN: nothing to do.
        })
    }

    private func stopReading() {
        guard reading else { return }
        reading = false
        uv_read_stop(stream(tcp))
    }

    private func received(_ base: UnsafeRawPointer, _ count: Int) {
        switch phase {
        case .lingering, .closed, .handling, .upgraded:
            return
        case .idle, .receiving:
            break
        }
        var base = base, count = count
        if proxyLine != nil {
            guard let used = readProxyLine(UnsafeRawBufferPointer(start: base, count: count)) else { return }
            base += used
            count -= used
            if count == 0 { return }
        }
        if phase == .receiving && parser.headersDone { armTimer(server.configuration.idleTimeoutMillis) }
        let consumed = parser.parse(UnsafeRawBufferPointer(start: base, count: count))
        if consumed < count && parser.failure == nil {
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base + consumed, count: count - consumed))
            stopReading()
        }
        afterParse()
        drain()
    }

    /// Reads "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n" (v1, at most 107 bytes); returns
    /// the bytes it used once the line is complete, nil while it is not (or after closing).
    private func readProxyLine(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var line = proxyLine ?? []
        for (index, byte) in bytes.enumerated() {
            line.append(byte)
            if byte == 10 {
                proxyLine = nil
                let words = String(decoding: line.filter { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
                guard words.count >= 2, words[0] == "PROXY" else { close(); return nil }
                if (words[1] == "TCP4" || words[1] == "TCP6"), words.count == 6, AddressRange(String(words[2])) != nil {
                    remoteAddress = String(words[2])
                    parser.remoteAddress = remoteAddress
                } else if words[1] != "UNKNOWN" {
                    close()
                    return nil
                }
                return index + 1
            }
            if line.count > 107 { close(); return nil }
        }
        proxyLine = line
        return nil
    }

    private func peerClosed() {
        stopReading()
        close()
    }

    private func afterParse() {
        if let failure = parser.failure {
            guard phase != .handling else { return }
            closeAfterResponse = true
            pending.removeAll()
            stopReading()
            phase = .handling
            serial &+= 1
            respond(server.errorBody(failure.status, failure.detail, parser.target), serial: serial)
            return
        }
        guard let request = parser.completed else { return }
        parser.completed = nil
        stopReading()
        phase = .handling
        stopTimer()
        serial &+= 1
        server.handler(request, HTTPResponder(connection: self, serial: serial))
    }

    /// Parses the pipelined bytes that wait in `pending`, one request at a time.
    private func drain() {
        if draining { drainAgain = true; return }
        draining = true
        repeat {
            drainAgain = false
            while (phase == .idle || phase == .receiving) && !pending.isEmpty {
                let consumed = pending.withUnsafeBytes { parser.parse($0) }
                pending.removeFirst(consumed)
                afterParse()
            }
        } while drainAgain
        draining = false
        if (phase == .idle || phase == .receiving) && pending.isEmpty { startReading() }
    }

    // MARK: Writing

    func respond(_ response: HTTPResponse, serial: UInt64) {
        guard phase == .handling, serial == self.serial else { return }
        if response.status >= 100 && response.status < 600 { server.responses[response.status] += 1 }
        let closing = closeAfterResponse || !parser.keepAlive
        write(encode(response, closing: closing))
        if closing {
            phase = .lingering
            closeWhenFlushed = true
            if writesInFlight == 0 { lingerThenClose() }
            return
        }
        phase = .idle
        armTimer(server.configuration.idleTimeoutMillis)
        drain()
    }

    private func encode(_ response: HTTPResponse, closing: Bool) -> [UInt8] {
        var out: [UInt8] = []
        let hasBody = response.status != 204 && response.status != 304 && response.status >= 200
        out.reserveCapacity(160 + response.body.count)
        out += "HTTP/1.1 \(response.status) \(httpReasonPhrase(response.status))\r\n".utf8
        out += "Date: ".utf8
        out += server.dateHeaderValue()
        out += "\r\nServer: codeinterview\r\n".utf8
        for field in response.headers.fields {
            out += field.name.utf8
            out += ": ".utf8
            out += field.value.utf8
            out += "\r\n".utf8
        }
        if hasBody { out += "Content-Length: \(response.body.count)\r\n".utf8 }
        if closing {
            out += "Connection: close\r\n".utf8
        } else if parser.isHTTP10 {
            out += "Connection: keep-alive\r\n".utf8
        }
        out += "\r\n".utf8
        if hasBody && !parser.isHead { out += response.body }
        return out
    }

    override var canWrite: Bool { phase != .closed && phase != .upgraded }

    override func writeFailed() { close() }

    override func writeFinished(status: Int32) {
        if status != 0 { close(); return }
        if writesInFlight == 0 && closeWhenFlushed { lingerThenClose() }
    }

    /// Half-closes and reads a little longer before closing, so a client still sending a body we
    /// refused gets our answer instead of a reset (nginx's lingering close).
    private func lingerThenClose() {
        guard phase != .closed else { return }
        closeWhenFlushed = false
        phase = .lingering
        let shutdown = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        if uv_shutdown(shutdown, stream(tcp), { request, _ in request?.deallocate() }) != 0 {
            shutdown.deallocate()
            close()
            return
        }
        armTimer(2_000)
        startReading()
    }

    // MARK: Timers and closing

    private func armTimer(_ milliseconds: UInt64) {
        guard phase != .closed && phase != .upgraded else { return }
        uv_timer_start(timer, { raw in
            Unmanaged<HTTPConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue().timerFired()
        }, milliseconds, 0)
    }

    private func stopTimer() {
        guard phase != .closed && phase != .upgraded else { return }
        uv_timer_stop(timer)
    }

    private func timerFired() {
        switch phase {
        case .receiving:
            // The client started a request and stalled: tell it why, then hang up.
            parser.fail(408, parser.headersDone ? "the request body did not arrive in time" : "the request headers did not arrive in time")
            pending.removeAll()
            afterParse()
        case .idle, .lingering:
            close()
        case .handling, .upgraded, .closed:
            break
        }
    }

    /// Answers 101 and hands the socket (and any bytes read past the request) to a new
    /// WebSocketConnection; this object then only closes its timer and goes away.
    func upgrade(serial: UInt64, key: String, headers: HTTPHeaders) -> WebSocketConnection? {
        guard phase == .handling, serial == self.serial, !closeAfterResponse else { return nil }
        var out: [UInt8] = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".utf8)
        out += "Sec-WebSocket-Accept: \(WebSocketFrame.acceptValue(forKey: key))\r\n".utf8
        for field in headers.fields { out += "\(field.name): \(field.value)\r\n".utf8 }
        out += "\r\n".utf8
        write(out)
        guard phase == .handling else { return nil }
        stopReading()
        phase = .upgraded
        tcpHandedOver = true
        let socket = WebSocketConnection(server: server, tcp: tcp, writesInFlight: writesInFlight,
                                         remoteAddress: remoteAddress, socketAddress: socketAddress, leftover: pending)
        pending = []
        writesInFlight = 0
        openHandles -= 1
        uv_close(handle(timer)) { raw in
            Unmanaged<HTTPConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue().handleClosed()
        }
        return socket
    }

    func serverStopping() {
        closeAfterResponse = true
        if phase == .idle { close() }
    }

    func close() {
        guard phase != .closed && phase != .upgraded else { return }
        phase = .closed
        reading = false
        pending = []
        let onClose: uv_close_cb = { raw in
            let connection = Unmanaged<HTTPConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            connection.handleClosed()
        }
        uv_close(handle(tcp), onClose)
        uv_close(handle(timer), onClose)
    }

    private func handleClosed() {
        openHandles -= 1
        guard openHandles == 0 else { return }
        if !tcpHandedOver {
            tcp.deallocate()
            if counted { server.socketClosed(socketAddress) }
        }
        timer.deallocate()
        server.connectionClosed(self)
    }

    private func peerAddress() -> String {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(tcp, $0, &length) }
        }
        guard status == 0 else { return "" }
        var name = [CChar](repeating: 0, count: 64)
        if Int32(storage.ss_family) == AF_INET6 {
            _ = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { uv_ip6_name($0, &name, 64) } }
        } else {
            _ = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { uv_ip4_name($0, &name, 64) } }
        }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

