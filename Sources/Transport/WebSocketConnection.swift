import CLibUV

/// What a WebSocket's owner hears. Both run on the loop.
public protocol WebSocketDelegate: AnyObject {
    /// A complete text message, already checked to be valid UTF-8.
    func webSocket(_ socket: WebSocketConnection, didReceiveText text: UnsafeRawBufferPointer)
    /// The connection is gone (after a close handshake, a failure, or a dead peer). Called once.
    func webSocketDidClose(_ socket: WebSocketConnection, code: UInt16)
}

/// A server-side WebSocket (RFC 6455) on a socket taken over from an HTTPConnection.
/// Client frames must be masked; fragments are reassembled up to the message limit; control
/// frames may interleave. The server's HTTPServer tick sends pings, drops dead peers and
/// enforces close deadlines.
public final class WebSocketConnection: StreamConnection {
    enum State { case open, closing, closed }

    unowned let server: HTTPServer
    public let remoteAddress: String
    /// The socket's own peer (a balancer's address behind a proxy), as counted by the server.
    let socketAddress: String
    public var delegate: WebSocketDelegate?
    private(set) var state = State.open

    private var decoder: WebSocketFrameDecoder
    var lastSeen: UInt64
    var lastPing: UInt64
    var closeDeadline: UInt64 = .max
    private var closeWhenFlushed = false
    private var closeCode: UInt16 = 1006

    init(server: HTTPServer, tcp: UnsafeMutablePointer<uv_tcp_t>, writesInFlight: Int, remoteAddress: String,
         socketAddress: String, leftover: [UInt8]) {
        self.server = server
        self.remoteAddress = remoteAddress
        self.socketAddress = socketAddress
        decoder = WebSocketFrameDecoder(maxMessageBytes: server.configuration.webSocketMaxMessageBytes)
        decoder.append(leftover)
        lastSeen = server.loop.now
        lastPing = lastSeen
        super.init(tcp: tcp)
        self.writesInFlight = writesInFlight
        tcp.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        server.adopt(self)
    }

    /// Starts reading; set `delegate` first.
    public func start() {
        guard state == .open else { return }
        uv_read_start(stream(tcp), { raw, _, buf in
            let socket = Unmanaged<WebSocketConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            buf!.pointee = uv_buf_init(socket.server.readBuffer.assumingMemoryBound(to: CChar.self), UInt32(socket.server.readBufferSize))
        }, { raw, nread, buf in
            let socket = Unmanaged<WebSocketConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            if nread > 0 {
                socket.received(UnsafeRawBufferPointer(start: buf!.pointee.base, count: nread))
            } else if nread < 0 {
                socket.closeNow(code: 1006)
            }
        })
        decode()
    }

    public var isOpen: Bool { state == .open }

    /// Bytes waiting to go out; above the server's bound the peer is too slow and is dropped.
    public var sendQueueBytes: Int { queuedBytes }

    // MARK: Sending

    /// Sends an already encoded frame (`WebSocketFrame.text(...)`): the fan-out path.
    public func send(frame: [UInt8]) {
        guard state == .open else { return }
        server.webSocketFramesOut += 1
        write(frame)
        checkBackPressure()
    }

    public func send(text: [UInt8]) { send(frame: WebSocketFrame.text(text)) }

    public func send(text: String) { send(frame: WebSocketFrame.text(Array(text.utf8))) }

    private func checkBackPressure() {
        guard state == .open, queuedBytes > server.configuration.webSocketMaxQueueBytes else { return }
        // The client cannot keep up; its queue must not grow without bound.
        close(code: 1008, reason: "too slow: more than \(server.configuration.webSocketMaxQueueBytes) bytes waiting", waitMillis: 1_000)
    }

    /// Starts the close handshake; the socket closes when the peer answers or after `waitMillis`.
    public func close(code: UInt16, reason: String, waitMillis: UInt64 = 2_000) {
        guard state == .open else { return }
        state = .closing
        closeCode = code
        write(WebSocketFrame.close(code: code, reason: reason))
        closeDeadline = server.loop.now + waitMillis
    }

    /// Fails the connection (protocol error): sends the close frame, closes once it is out.
    private func fail(code: UInt16, reason: String) {
        guard state != .closed else { return }
        if state == .open { write(WebSocketFrame.close(code: code, reason: reason)) }
        state = .closing
        closeCode = code
        closeDeadline = server.loop.now + 1_000
        closeWhenFlushed = true
        uv_read_stop(stream(tcp))
        if writesInFlight == 0 { closeNow(code: code) }
    }

    override var canWrite: Bool { state != .closed }

    override func writeFailed() { closeNow(code: 1006) }

    override func writeFinished(status: Int32) {
        if status != 0 { closeNow(code: 1006); return }
        if closeWhenFlushed && writesInFlight == 0 { closeNow(code: closeCode) }
    }

    // MARK: Receiving

    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard state != .closed else { return }
        lastSeen = server.loop.now
        decoder.append(bytes)
        decode()
    }

    private func decode() {
        while state != .closed && !closeWhenFlushed, let output = decoder.next() {
            switch output {
            case .text(let message):
                guard state == .open else { continue }
                server.webSocketMessagesIn += 1
                message.withUnsafeBytes { delegate?.webSocket(self, didReceiveText: $0) }
            case .ping(let payload):
                if state == .open { write(WebSocketFrame.encode(opcode: WebSocketFrame.pong, payload: payload)) }
            case .pong:
                break
            case .close(let code):
                if state == .open {
                    // Echo the code, then close once it is written (the server closes TCP first).
                    write(WebSocketFrame.close(code: code == 1005 ? 1000 : code, reason: ""))
                }
                state = .closing
                closeCode = code
                closeWhenFlushed = true
                uv_read_stop(stream(tcp))
                if writesInFlight == 0 { closeNow(code: code) }
            case .failure(let code, let reason):
                fail(code: code, reason: reason)
            }
        }
    }

    // MARK: Liveness (driven by the server's tick)

    func tick(now: UInt64) {
        switch state {
        case .closing:
            if now >= closeDeadline { closeNow(code: closeCode) }
        case .open:
            if now - lastSeen > server.configuration.webSocketDeadPeerMillis {
                closeNow(code: 1006)
            } else if now - lastPing >= server.configuration.webSocketPingIntervalMillis {
                lastPing = now
                write(WebSocketFrame.encode(opcode: WebSocketFrame.ping, payload: []))
            }
        case .closed:
            break
        }
    }

    /// Closes the socket now; the delegate hears it once.
    func closeNow(code: UInt16) {
        guard state != .closed else { return }
        state = .closed
        uv_close(handle(tcp)) { raw in
            let socket = Unmanaged<WebSocketConnection>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            raw!.deallocate()
            socket.server.socketClosed(socket.socketAddress)
            socket.server.release(socket)
        }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.webSocketDidClose(self, code: code)
    }
}
