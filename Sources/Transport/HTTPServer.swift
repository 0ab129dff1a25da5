import CLibUV
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Limits and timeouts of the HTTP server. Every field has a safe default.
public struct HTTPServerConfiguration: Sendable {
    public var host = "0.0.0.0"
    public var port = 8080
    /// SO_REUSEPORT, so several gateway processes on one machine can share a port.
    public var reusePort = true
    public var backlog: Int32 = 1024
    public var maxHeaderBytes = 16 * 1024
    public var maxURLBytes = 8 * 1024
    public var maxBodyBytes = 1024 * 1024
    /// From a connection's first byte (or its accept) until the header block is complete.
    public var headerTimeoutMillis: UInt64 = 10_000
    /// Between requests on a keep-alive connection, and between reads of a body.
    public var idleTimeoutMillis: UInt64 = 60_000
    /// How long a graceful stop waits for requests in flight before closing what is left.
    public var shutdownGraceMillis: UInt64 = 10_000
    /// Largest WebSocket message, after reassembling fragments (close 1009 above).
    public var webSocketMaxMessageBytes = 1024 * 1024
    /// Bytes a WebSocket may have waiting to be sent before it is closed as too slow (1008).
    public var webSocketMaxQueueBytes = 4 * 1024 * 1024
    public var webSocketPingIntervalMillis: UInt64 = 20_000
    /// A WebSocket that sent nothing (not even a pong) for this long is dropped.
    public var webSocketDeadPeerMillis: UInt64 = 60_000
    /// Pings a WebSocket peer may send per second (each one costs a pong); past it, close 1008.
    public var webSocketMaxPingsPerSecond = 50
    /// Bytes of pipelined requests read ahead of the one being answered; past it reading pauses.
    public var maxPipelinedBytes = 64 * 1024
    /// While an HTTP client leaves more than this unread, no further request of its is served
    /// (and reading pauses) until the queue is below half of it.
    public var sendQueueHighWaterBytes = 1024 * 1024
    /// Open sockets (HTTP and WebSocket) this process takes; past it new ones get 503 and close.
    public var maxConnections = 20_000
    /// Open sockets one client address may hold; past it new ones get 429 and close.
    public var maxConnectionsPerAddress = 256
    /// Balancers: exempt from the per-address limit (all their clients share their address).
    public var trustedProxies: [AddressRange] = []
    /// Expect a PROXY protocol v1 line first on connections from trusted proxies.
    public var proxyProtocol = false

    public init() {}
}

/// Called once per request; the handler answers through the responder, now or later.
public typealias HTTPHandler = (HTTPRequest, HTTPResponder) -> Void

/// Builds the body of an error the transport itself answers (431, 414, 413, 408, 400).
public typealias HTTPErrorBody = (_ status: Int, _ detail: String, _ path: String) -> HTTPResponse

/// The HTTP/1.1 server: one listening socket on the loop, one `HTTPConnection` per client.
public final class HTTPServer {
    public let loop: EventLoop
    public let configuration: HTTPServerConfiguration
    let handler: HTTPHandler
    let errorBody: HTTPErrorBody
    let logger: Logger

    private var listener: LoopHandle?
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private var webSockets: [ObjectIdentifier: WebSocketConnection] = [:]
    private var socketsByAddress: [String: Int] = [:]
    private var socketCount = 0
    private var tick: LoopTimer?
    private var stopping = false
    private var graceTimer: LoopTimer?
    private var onStopped: (() -> Void)?

    /// Shared by every connection: a read is parsed inside its callback, so one buffer suffices.
    let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    let readBufferSize = 64 * 1024

    private var dateSecond: UInt64 = .max
    private var cachedDate: [UInt8] = []

    public init(loop: EventLoop, configuration: HTTPServerConfiguration, logger: Logger,
                errorBody: @escaping HTTPErrorBody, handler: @escaping HTTPHandler) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
        self.errorBody = errorBody
        self.handler = handler
    }

    public var connectionCount: Int { connections.count }
    /// Responses sent, by status code (index), for /metrics.
    public internal(set) var responses = [Int](repeating: 0, count: 600)
    /// WebSocket text messages received and frames sent, for /metrics.
    public internal(set) var webSocketMessagesIn = 0
    public internal(set) var webSocketFramesOut = 0
    public var webSocketCount: Int { webSockets.count }

    func adopt(_ socket: WebSocketConnection) {
        webSockets[ObjectIdentifier(socket)] = socket
        if tick == nil {
            // One timer for every WebSocket: pings, dead peers and close deadlines, once a second.
            let timer = LoopTimer(loop: loop)
            timer.start(after: 1_000, repeat: 1_000) { [unowned self] in
                let now = self.loop.now
                for socket in Array(self.webSockets.values) { socket.tick(now: now) }
            }
            timer.unref()
            tick = timer
        }
    }

    /// Counts a new socket; answers why it must be refused when it is over a limit.
    func socketOpened(_ address: String) -> (status: Int, detail: String)? {
        socketCount += 1
        socketsByAddress[address, default: 0] += 1
        if socketCount > configuration.maxConnections {
            return (503, "this gateway is at its connection limit (\(configuration.maxConnections)); try again shortly")
        }
        if socketsByAddress[address]! > configuration.maxConnectionsPerAddress && !configuration.trustedProxies.contains(address: address) {
            return (429, "too many open connections from your address (limit \(configuration.maxConnectionsPerAddress))")
        }
        return nil
    }

    func socketClosed(_ address: String) {
        socketCount -= 1
        if let count = socketsByAddress[address] {
            socketsByAddress[address] = count > 1 ? count - 1 : nil
        }
    }

    func release(_ socket: WebSocketConnection) {
        webSockets[ObjectIdentifier(socket)] = nil
        if stopping && connections.isEmpty && webSockets.isEmpty { finishStop() }
    }
    public var isStopping: Bool { stopping }

    /// Binds and listens. Throws a readable message when the address is unusable.
    public func start() throws(TransportError) {
        var storage = sockaddr_storage()
        let family: Int32
        if withUnsafeMutablePointer(to: &storage, { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
            uv_ip4_addr(configuration.host, Int32(configuration.port), $0) } }) == 0 {
            family = AF_INET
        } else if withUnsafeMutablePointer(to: &storage, { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
            uv_ip6_addr(configuration.host, Int32(configuration.port), $0) } }) == 0 {
            family = AF_INET6
        } else {
            throw TransportError("'\(configuration.host)' is not an IPv4 or IPv6 address")
        }
        // init_ex creates the socket now, so SO_REUSEPORT can be set before bind
        // (libuv 1.44 has no UV_TCP_REUSEPORT flag).
        var status: Int32 = 0
        guard let listener = LoopHandle(uv_tcp_t.self, owner: self, { status = uv_tcp_init_ex(loop.raw, $0, UInt32(family)); return status }) else {
            throw TransportError("socket: \(uvErrorDescription(status))")
        }
        self.listener = listener
        if configuration.reusePort {
            var fd: uv_os_fd_t = -1
            uv_fileno(listener.handle, &fd)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        status = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_bind(listener.pointer(uv_tcp_t.self), $0, 0) }
        }
        if status == 0 {
            status = uv_listen(listener.stream, configuration.backlog) { server, status in
                LoopHandle.owner(of: server!.pointee.data, as: HTTPServer.self).accept(status: status)
            }
        }
        guard status == 0 else {
            closeListener()
            throw TransportError("cannot listen on \(configuration.host):\(configuration.port): \(uvErrorDescription(status))")
        }
    }

    /// The port actually bound (useful with port 0).
    public var boundPort: Int {
        guard let listener else { return 0 }
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(listener.pointer(uv_tcp_t.self), $0, &length) }
        }
        return withUnsafePointer(to: &storage) { pointer -> Int in
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    private func accept(status: Int32) {
        guard status == 0, !stopping, let listener,
              let socket = LoopHandle(uv_tcp_t.self, owner: self, { uv_tcp_init(loop.raw, $0) }) else { return }
        let connection = HTTPConnection(server: self, socket: socket)
        connections[ObjectIdentifier(connection)] = connection
        guard uv_accept(listener.stream, socket.stream) == 0 else { return connection.close() }
        connection.start()
    }

    func connectionClosed(_ connection: HTTPConnection) {
        connections[ObjectIdentifier(connection)] = nil
        if stopping && connections.isEmpty && webSockets.isEmpty { finishStop() }
    }

    /// Graceful stop: no new connections; idle ones close now, busy ones after their response;
    /// after the grace period whatever is left is closed. `completion` runs once all are gone.
    public func stop(_ completion: @escaping () -> Void) {
        guard !stopping else { return }
        stopping = true
        onStopped = completion
        closeListener()
        for connection in connections.values { connection.serverStopping() }
        for socket in webSockets.values { socket.close(code: 1012, reason: "server restarting; reconnect") }
        if connections.isEmpty && webSockets.isEmpty { finishStop(); return }
        let timer = LoopTimer(loop: loop)
        graceTimer = timer
        timer.start(after: configuration.shutdownGraceMillis) { [weak self] in
            guard let self else { return }
            self.logger.warning("shutdown grace period over; closing \(self.connections.count) connection(s)")
            for connection in self.connections.values { connection.close() }
            for socket in self.webSockets.values { socket.closeNow(code: 1012) }
        }
    }

    private func finishStop() {
        graceTimer?.close()
        graceTimer = nil
        tick?.close()
        tick = nil
        if let done = onStopped {
            onStopped = nil
            done()
        }
    }

    private func closeListener() {
        guard let listener else { return }
        self.listener = nil
        listener.close()
    }

    /// The Date header's value, formatted once per second.
    func dateHeaderValue() -> [UInt8] {
        let second = loop.now / 1000
        if second != dateSecond {
            dateSecond = second
            var now = time(nil)
            var parts = tm()
            gmtime_r(&now, &parts)
            var buffer = [CChar](repeating: 0, count: 64)
            let length = strftime(&buffer, 64, "%a, %d %b %Y %H:%M:%S GMT", &parts)
            cachedDate = buffer[0..<length].map { UInt8(bitPattern: $0) }
        }
        return cachedDate
    }
}

public struct TransportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
