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
///
/// One state machine: `open` → `closing` (our close frame is out; waiting for the peer's) →
/// `finishing` (the exchange is over or failed: the socket closes once the last frame is
/// written) → `closed`. Every frame, control frames included, goes through the one write path
/// with its send-queue bound: a peer that does not read is dropped there, whatever we were
/// sending it (pongs to its own pings included).
public final class WebSocketConnection: StreamConnection {
    enum State: Equatable { case open, closing, finishing, closed }

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
    /// Pings received since the last tick (once a second); past the bound the peer is dropped.
    var pingsThisSecond = 0
    private var closeCode: UInt16 = 1006

    init(server: HTTPServer, socket: LoopHandle, sendQueue: SendQueue, remoteAddress: String,
         socketAddress: String, leftover: [UInt8]) {
        self.server = server
        self.remoteAddress = remoteAddress
        self.socketAddress = socketAddress
        decoder = WebSocketFrameDecoder(maxMessageBytes: server.configuration.webSocketMaxMessageBytes)
        decoder.append(leftover)
        lastSeen = server.loop.now
        lastPing = lastSeen
        super.init(socket: socket, sendQueue: sendQueue)
        sendQueueLimit = server.configuration.webSocketMaxQueueBytes
        socket.transfer(to: self)
        server.adopt(self)
    }

    /// Starts reading; set `delegate` first.
    public func start() {
        guard state == .open else { return }
        uv_read_start(socket.stream, { raw, _, buf in
            let socket = LoopHandle.owner(of: raw!.pointee.data, as: WebSocketConnection.self)
            buf!.pointee = uv_buf_init(socket.server.readBuffer.assumingMemoryBound(to: CChar.self), UInt32(socket.server.readBufferSize))
        }, { raw, nread, buf in
            let socket = LoopHandle.owner(of: raw!.pointee.data, as: WebSocketConnection.self)
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
    }

    public func send(text: [UInt8]) { send(frame: WebSocketFrame.text(text)) }

    public func send(text: String) { send(frame: WebSocketFrame.text(Array(text.utf8))) }

    /// open → closing: sends our close frame; the socket closes when the peer answers or after
    /// `waitMillis`.
    public func close(code: UInt16, reason: String, waitMillis: UInt64 = 2_000) {
        guard state == .open else { return }
        state = .closing
        closeCode = code
        closeDeadline = server.loop.now + waitMillis
        write(WebSocketFrame.close(code: code, reason: reason))
    }

    /// open/closing → finishing: no more input; the socket closes once `frame` (if any) and
    /// everything before it is written.
    private func finish(code: UInt16, sending frame: [UInt8]?) {
        guard state == .open || state == .closing else { return }
        let wasOpen = state == .open
        state = .finishing
        closeCode = code
        closeDeadline = server.loop.now + 1_000
        uv_read_stop(socket.stream)
        if wasOpen, let frame { write(frame) }
        if state == .finishing && !isWriting { closeNow(code: code) }
    }

    /// Any state → closed, once: the only way the socket closes. The delegate hears it once.
    func closeNow(code: UInt16) {
        guard state != .closed else { return }
        state = .closed
        socket.close { [self] in
            server.socketClosed(socketAddress)
            server.release(self)
        }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.webSocketDidClose(self, code: code)
    }

    override var canWrite: Bool { state != .closed }

    override func writeFailed() { closeNow(code: 1006) }

    override func sendQueueOverflowed() {
        // The peer reads nothing (not even the pongs to its own pings): its queue must not grow
        // past the bound, and a close frame would only queue behind the rest.
        server.logger.info("WebSocket from \(remoteAddress) dropped: more than \(sendQueueLimit) bytes waiting to be sent")
        closeNow(code: 1008)
    }

    override func writeFinished(status: Int32) {
        guard state != .closed else { return }
        if status != 0 { return closeNow(code: 1006) }
        if state == .finishing && !isWriting { closeNow(code: closeCode) }
    }

    // MARK: Receiving

    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard state == .open || state == .closing else { return }
        lastSeen = server.loop.now
        decoder.append(bytes)
        decode()
    }

    private func decode() {
        while state == .open || state == .closing, let output = decoder.next() {
            switch output {
            case .text(let message):
                guard state == .open else { continue }
                server.webSocketMessagesIn += 1
                message.withUnsafeBytes { delegate?.webSocket(self, didReceiveText: $0) }
            case .ping(let payload):
                pingsThisSecond += 1
                if pingsThisSecond > server.configuration.webSocketMaxPingsPerSecond {
                    finish(code: 1008, sending: WebSocketFrame.close(code: 1008, reason: "too many pings"))
                } else if state == .open {
                    write(WebSocketFrame.encode(opcode: WebSocketFrame.pong, payload: payload))
                }
            case .pong:
                break
            case .close(let code):
                // Echo the code (if we did not start the closing), then close once it is out
                // (the server closes TCP first).
                finish(code: code, sending: WebSocketFrame.close(code: code == 1005 ? 1000 : code, reason: ""))
            case .failure(let code, let reason):
                finish(code: code, sending: WebSocketFrame.close(code: code, reason: reason))
            }
        }
    }

    // MARK: Liveness (driven by the server's tick)

    func tick(now: UInt64) {
        pingsThisSecond = 0
        decoder.releaseBuffer()
        releaseIdleSendQueue()
        switch state {
        case .closing, .finishing:
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
}
