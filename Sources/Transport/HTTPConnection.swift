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
    public var isConnected: Bool { connection.isHandling(serial) }

    /// Accepts a WebSocket upgrade (the caller checked the request): answers 101 with the
    /// handshake and `headers`, and returns the connection that now owns the socket. The caller
    /// sets its delegate and calls `start()`.
    public func upgradeToWebSocket(key: String, headers: HTTPHeaders = HTTPHeaders()) -> WebSocketConnection? {
        connection.upgrade(serial: serial, key: key, headers: headers)
    }
}

/// One client connection, as one state machine (swift-nio's HTTPServerPipelineHandler is the
/// model):
///
///     idle ──first byte──► receiving ──request complete──► handling(serial)
///       ▲                     │ bad input / timeout            │ respond (keep-alive)
///       └─────────────────────┼────────────────────────────────┘
///                             ▼                                │ respond (close) / upgrade
///                         lingering ──EOF / 2 s──► closed ◄─── upgraded (socket handed over)
///
/// Every transition is one method that refuses to leave `closed`, so whatever arrives after
/// close (a handler's late reply, a timer, a write completion, a parser callback still running
/// inside the same `http_parser_execute`) is a no-op. `close()` is the only way to close the
/// socket and timer (through `LoopHandle`, once each).
///
/// Reading goes on while a request is handled: pipelined bytes wait in `pending` (answers leave
/// in request order), and reading stops only while `pending` is past the pipelining bound or the
/// send queue is past its high-water mark (a client that sends requests but reads no answers).
final class HTTPConnection: StreamConnection {
    enum State: Equatable {
        /// Waiting for a request (keep-alive timer).
        case idle
        /// A request is arriving (header timer, then body timer).
        case receiving
        /// The handler has request `serial`; the answer may come later.
        case handling(UInt64)
        /// The last answer is written (or still flushing); then half-closed, input discarded.
        case lingering(shutDown: Bool)
        /// The socket belongs to a WebSocketConnection now.
        case upgraded
        case closed
    }

    unowned let server: HTTPServer
    private var timer: LoopHandle!
    /// Handles whose close callback has not run yet; at 0 the server forgets this connection.
    private var openHandles = 2

    private(set) var state = State.idle
    private var serial: UInt64 = 0
    /// The socket's peer, and the client's address (the same unless a PROXY line said otherwise).
    private var socketAddress = ""
    private var remoteAddress = ""
    /// Bytes of a PROXY protocol line still being read, while one is expected.
    private var proxyLine: [UInt8]?
    /// Whether the server counted this socket (every started one; not a failed accept).
    private var counted = false
    /// The answer in progress ends the connection (bad input, refusal, server stopping).
    private var closeAfterResponse = false
    /// The client half-closed (EOF): what it sent is still answered, then the connection closes.
    private var inputEnded = false

    private let parser: HTTPRequestParser

    /// Bytes read but not parsed yet (requests pipelined behind the one being handled), from
    /// `pendingStart` on.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var reading = false
    /// Guards `parsePending` against re-entry (a handler that answers at once).
    private var parsing = false
    private var parseAgain = false

    init(server: HTTPServer, socket: LoopHandle) {
        self.server = server
        let configuration = server.configuration
        parser = HTTPRequestParser(limits: .init(maxHeaderBytes: configuration.maxHeaderBytes,
                                                 maxURLBytes: configuration.maxURLBytes,
                                                 maxBodyBytes: configuration.maxBodyBytes))
        super.init(socket: socket)
        socket.transfer(to: self)
        timer = LoopHandle(uv_timer_t.self, owner: self) { uv_timer_init(server.loop.raw, $0) }
        parser.onMessageBegin = { [unowned self] in self.requestBegan() }
        parser.onHeadersComplete = { [unowned self] expectsContinue in self.headersReceived(expectsContinue: expectsContinue) }
    }

    func isHandling(_ serial: UInt64) -> Bool { state == .handling(serial) }

    private var pendingCount: Int { pending.count - pendingStart }

    // MARK: Transitions

    /// The accepted socket starts (from `idle`).
    func start() {
        guard state == .idle else { return }
        uv_tcp_nodelay(tcp, 1)
        socketAddress = peerAddress()
        remoteAddress = socketAddress
        parser.remoteAddress = remoteAddress
        counted = true
        if let refusal = server.socketOpened(socketAddress) {
            // Over a connection limit: answer why, then close.
            return answerAndClose(refusal.status, refusal.detail, path: "/")
        }
        if server.configuration.proxyProtocol && server.configuration.trustedProxies.contains(address: socketAddress) {
            proxyLine = []
        }
        // Slow-loris guard: a connection that never completes a header block is dropped.
        armTimer(server.configuration.headerTimeoutMillis)
        updateReading()
    }

    /// idle → receiving: a request's first byte arrived.
    private func requestBegan() {
        guard state == .idle else { return }
        state = .receiving
        armTimer(server.configuration.headerTimeoutMillis)
    }

    /// Headers complete: the body (if any) may take the idle timeout between reads.
    private func headersReceived(expectsContinue: Bool) {
        guard state == .receiving else { return }
        armTimer(server.configuration.idleTimeoutMillis)
        // May fail and close: the parser's later callbacks then find `closed` and do nothing.
        if expectsContinue { write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
    }

    /// receiving → handling, or → lingering with an error answer; what the parser reported.
    private func afterParse() {
        guard state == .idle || state == .receiving else {
            parser.completed = nil
            return
        }
        if let failure = parser.failure {
            pending.removeAll()
            pendingStart = 0
            return answerAndClose(failure.status, failure.detail, path: parser.target)
        }
        guard let request = parser.completed else { return }
        parser.completed = nil
        serial &+= 1
        state = .handling(serial)
        stopTimer()
        server.handler(request, HTTPResponder(connection: self, serial: serial))
    }

    /// Answers an error the transport found itself (or a refusal), then closes.
    private func answerAndClose(_ status: Int, _ detail: String, path: String) {
        guard state == .idle || state == .receiving else { return }
        closeAfterResponse = true
        serial &+= 1
        state = .handling(serial)
        respond(server.errorBody(status, detail, path), serial: serial)
    }

    /// handling → idle (keep-alive) or → lingering (close). Late or repeated answers do nothing.
    func respond(_ response: HTTPResponse, serial: UInt64) {
        guard state == .handling(serial) else { return }
        if response.status >= 100 && response.status < 600 { server.responses[response.status] += 1 }
        let closing = closeAfterResponse || !parser.keepAlive || server.isStopping || (inputEnded && pendingCount == 0)
        write(encode(response, closing: closing))
        // The write may have failed and closed the connection.
        guard state == .handling(serial) else { return }
        if closing { return linger() }
        state = .idle
        armTimer(server.configuration.idleTimeoutMillis)
        parsePending()
    }

    /// handling → lingering (or idle/receiving → lingering once the input ended): no more
    /// requests; once the answer is flushed, half-close and read a little longer before closing,
    /// so a client still sending a body we refused gets our answer instead of a reset (nginx's
    /// lingering close).
    private func linger() {
        switch state {
        case .handling, .idle, .receiving: break
        case .lingering, .upgraded, .closed: return
        }
        state = .lingering(shutDown: false)
        pending.removeAll()
        pendingStart = 0
        armTimer(server.configuration.idleTimeoutMillis)
        updateReading()
        if !isWriting { shutDown() }
    }

    /// lingering(flushing) → lingering(shut down): uv_shutdown waits for queued writes itself.
    private func shutDown() {
        guard state == .lingering(shutDown: false) else { return }
        // Everything is written and the client sent its FIN already: nothing to linger for.
        if inputEnded { return close() }
        state = .lingering(shutDown: true)
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        // The callback runs once, with UV_ECANCELED if the socket closes first.
        if uv_shutdown(request, socket.stream, { request, _ in request?.deallocate() }) != 0 {
            request.deallocate()
            return close()
        }
        armTimer(2_000)
    }

    /// handling → upgraded: answers 101 and hands the socket (and any bytes read past the
    /// request) to a new WebSocketConnection; this object then closes its timer and goes away.
    func upgrade(serial: UInt64, key: String, headers: HTTPHeaders) -> WebSocketConnection? {
        guard state == .handling(serial) else { return nil }
        guard !closeAfterResponse, !inputEnded, !server.isStopping else {
            // The client half-closed (or the server stops): no WebSocket can live on this
            // connection, and the caller answers nothing else.
            close()
            return nil
        }
        var out: [UInt8] = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".utf8)
        out += "Sec-WebSocket-Accept: \(WebSocketFrame.acceptValue(forKey: key))\r\n".utf8
        for field in headers.fields { out += "\(field.name): \(field.value)\r\n".utf8 }
        out += "\r\n".utf8
        server.responses[101] += 1
        write(out)
        guard state == .handling(serial) else { return nil }
        stopReading()
        state = .upgraded
        let leftover = Array(pending[pendingStart...])
        pending = []
        pendingStart = 0
        let socket = WebSocketConnection(server: server, socket: self.socket, sendQueue: sendQueue,
                                         remoteAddress: remoteAddress, socketAddress: socketAddress, leftover: leftover)
        openHandles -= 1
        timer.close { [self] in handleClosed() }
        return socket
    }

    /// The server stops: idle connections close now, busy ones after their answer.
    func serverStopping() {
        closeAfterResponse = true
        if state == .idle { close() }
    }

    /// Any state → closed, once. The only way this connection's handles close.
    func close() {
        switch state {
        case .closed, .upgraded: return
        default: break
        }
        state = .closed
        reading = false
        pending = []
        pendingStart = 0
        socket.close { [self] in handleClosed() }
        timer.close { [self] in handleClosed() }
    }

    private func handleClosed() {
        openHandles -= 1
        guard openHandles == 0 else { return }
        if counted && state == .closed { server.socketClosed(socketAddress) }
        server.connectionClosed(self)
    }

    // MARK: Reading

    /// Reads while there is room for more input: not past the pipelining bound, and (while
    /// requests are served) not while the client leaves our answers unread.
    private func updateReading() {
        let wanted: Bool
        switch state {
        case .idle, .receiving, .handling:
            wanted = !inputEnded && pendingCount < server.configuration.maxPipelinedBytes
                && queuedBytes <= server.configuration.sendQueueHighWaterBytes
        case .lingering:
            wanted = true
        case .upgraded, .closed:
            wanted = false
        }
        if wanted && !reading {
            reading = true
            uv_read_start(socket.stream, { raw, _, buf in
                let connection = LoopHandle.owner(of: raw!.pointee.data, as: HTTPConnection.self)
                buf!.pointee = uv_buf_init(connection.server.readBuffer.assumingMemoryBound(to: CChar.self),
                                           UInt32(connection.server.readBufferSize))
            }, { raw, nread, buf in
                let connection = LoopHandle.owner(of: raw!.pointee.data, as: HTTPConnection.self)
                if nread > 0 {
                    connection.received(UnsafeRawBufferPointer(start: buf!.pointee.base!, count: nread))
                } else if nread < 0 {
                    connection.readEnded(Int32(nread))
                }
                // nread == 0 is EAGAIN: nothing to do.
            })
        } else if !wanted {
            stopReading()
        }
    }

    private func stopReading() {
        guard reading else { return }
        reading = false
        uv_read_stop(socket.stream)
    }

    /// EOF or a read error. A client that half-closes after its requests still gets their
    /// answers (then the connection closes); a reset, or EOF with nothing left to answer, closes
    /// now.
    private func readEnded(_ status: Int32) {
        stopReading()
        guard status == UV_EOF.rawValue else { return close() }
        switch state {
        case .handling:
            inputEnded = true
        case .idle, .receiving:
            guard pendingCount > 0 else { return close() }
            inputEnded = true
            parsePending()
        case .lingering, .upgraded, .closed:
            close()
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        var bytes = bytes
        switch state {
        case .lingering, .closed, .upgraded:
            return
        case .handling:
            return keep(bytes)
        case .idle, .receiving:
            break
        }
        if proxyLine != nil {
            guard let used = readProxyLine(bytes) else { return }
            bytes = UnsafeRawBufferPointer(rebasing: bytes[used...])
            if bytes.isEmpty { return }
        }
        if state == .receiving && parser.headersDone { armTimer(server.configuration.idleTimeoutMillis) }
        if pendingCount == 0 {
            // The common case: parse straight from the read buffer, keep only what is left.
            let consumed = parser.parse(bytes)
            if consumed < bytes.count && parser.failure == nil {
                keep(UnsafeRawBufferPointer(rebasing: bytes[consumed...]))
            }
            afterParse()
        } else {
            keep(bytes)
        }
        parsePending()
    }

    /// Keeps bytes for later parsing.
    private func keep(_ bytes: UnsafeRawBufferPointer) {
        guard state != .closed && state != .upgraded else { return }
        if pendingStart > 0 && pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        }
        pending.append(contentsOf: bytes)
        updateReading()
    }

    /// Parses the pipelined bytes, one request at a time, while the connection can take one.
    private func parsePending() {
        if parsing { parseAgain = true; return }
        parsing = true
        repeat {
            parseAgain = false
            while state == .idle || state == .receiving, pendingCount > 0,
                  queuedBytes <= server.configuration.sendQueueHighWaterBytes {
                let consumed = pending.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[pendingStart...])) }
                pendingStart += consumed
                let before = state
                afterParse()
                if consumed == 0 && state == before { break }
            }
        } while parseAgain
        parsing = false
        if pendingStart > 0 && pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        }
        if inputEnded && (state == .idle || state == .receiving) && pendingCount == 0 {
            // Everything the client sent before its FIN is answered (or can never complete).
            return linger()
        }
        updateReading()
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

    // MARK: Writing

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

    override var canWrite: Bool { state != .closed && state != .upgraded }

    override func writeFailed() { close() }

    override func writeFinished(status: Int32) {
        guard state != .closed && state != .upgraded else { return }
        if status != 0 { return close() }
        if !isWriting && state == .lingering(shutDown: false) { return shutDown() }
        if queuedBytes <= server.configuration.sendQueueHighWaterBytes / 2 {
            // Below the low-water mark again: serve what waits, read on.
            parsePending()
        }
    }

    // MARK: Timers

    private func armTimer(_ milliseconds: UInt64) {
        guard state != .closed && state != .upgraded else { return }
        uv_timer_start(timer.pointer(uv_timer_t.self), { raw in
            LoopHandle.owner(of: raw!.pointee.data, as: HTTPConnection.self).timerFired()
        }, milliseconds, 0)
    }

    private func stopTimer() {
        guard state != .closed && state != .upgraded else { return }
        uv_timer_stop(timer.pointer(uv_timer_t.self))
    }

    private func timerFired() {
        switch state {
        case .receiving:
            // The client started a request and stalled: tell it why, then hang up.
            parser.fail(408, parser.headersDone ? "the request body did not arrive in time" : "the request headers did not arrive in time")
            pending.removeAll()
            pendingStart = 0
            afterParse()
        case .idle, .lingering:
            close()
        case .handling, .upgraded, .closed:
            break
        }
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

