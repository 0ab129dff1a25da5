// libFuzzer target for the connection state machine: the real HTTPServer, HTTPConnection and
// WebSocketConnection on the real libuv loop, driven over loopback TCP by a script the fuzzer
// writes: open clients, send random chunks (raw bytes or the start of a real request, an
// Expect: 100-continue POST, a WebSocket handshake), reset, half-close, read, turn the loop, and
// deliver handler answers late (after the client may be gone). After every input all clients
// reset, every late answer is delivered, and the server must hold no connection. Built and run
// by scripts/fuzz (swiftc -sanitize=fuzzer,address), not by SwiftPM.
import CLibUV
import Glibc
import Logging

final class ConnectionHarness: WebSocketDelegate {
    let loop = EventLoop()
    var server: HTTPServer!
    var port: UInt16 = 0
    /// The input's bytes, read by the script and by the handler (which answer to give).
    var script: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    var at = 0
    var late: [(HTTPResponder, HTTPResponse)] = []
    var clients: [Int32] = []

    init() {
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.reusePort = false
        configuration.maxHeaderBytes = 2048
        configuration.maxBodyBytes = 4096
        configuration.maxPipelinedBytes = 2048
        configuration.sendQueueHighWaterBytes = 8192
        configuration.webSocketMaxQueueBytes = 8192
        configuration.webSocketMaxMessageBytes = 4096
        configuration.webSocketMaxPingsPerSecond = 20
        configuration.headerTimeoutMillis = 5
        configuration.idleTimeoutMillis = 5
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        server = HTTPServer(loop: loop, configuration: configuration, logger: logger,
                            errorBody: { status, detail, _ in HTTPResponse(status: status, body: Array(detail.utf8)) },
                            handler: { [unowned self] request, responder in self.handle(request, responder) })
        do { try server.start() } catch { fatalError("cannot listen: \(error)") }
        port = UInt16(server.boundPort)
    }

    func next() -> UInt8 {
        guard at < script.count else { return 0 }
        defer { at += 1 }
        return script[at]
    }

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let response = HTTPResponse(status: 200, contentType: "text/plain", body: Array(repeating: 0x61, count: Int(next()) * 64))
        switch next() % 4 {
        case 0: responder.respond(response)
        case 1: late.append((responder, response))
        case 2:
            if let key = request.headers["Sec-WebSocket-Key"], let socket = responder.upgradeToWebSocket(key: key) {
                socket.delegate = self
                socket.start()
            } else {
                responder.respond(response)
            }
        default:
            responder.respond(response)
            responder.respond(response) // a second answer is a no-op
        }
    }

    func webSocket(_ socket: WebSocketConnection, didReceiveText text: UnsafeRawBufferPointer) {
        switch next() % 4 {
        case 0: socket.send(text: Array(text))
        case 1: socket.close(code: 1000, reason: "bye")
        case 2: socket.send(frame: WebSocketFrame.text(Array(repeating: 0x62, count: 3000)))
        default: break
        }
    }

    func webSocketDidClose(_ socket: WebSocketConnection, code: UInt16) {}

    func turn(_ times: Int = 1) {
        for _ in 0..<times { uv_run(loop.raw, UV_RUN_NOWAIT) }
    }

    func connectClient() {
        guard clients.count < 4 else { return }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else { close(fd); return }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        clients.append(fd)
    }

    func pick() -> Int? { clients.isEmpty ? nil : Int(next()) % clients.count }

    func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = Glibc.send(fd, base, bytes.count, Int32(MSG_NOSIGNAL))
    }

    func reset(_ index: Int) {
        let fd = clients.remove(at: index)
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    func drain(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while recv(fd, &buffer, buffer.count, 0) > 0 {}
    }

    static let prefixes: [[UInt8]] = [
        Array("GET /x HTTP/1.1\r\nHost: f\r\n\r\n".utf8),
        Array("POST /x HTTP/1.1\r\nHost: f\r\nContent-Length: 17\r\nExpect: 100-continue\r\n\r\n".utf8),
        Array("POST /x HTTP/1.1\r\nHost: f\r\nContent-Length: 17\r\n\r\n{\"host_name\":\"x\"}".utf8),
        Array("GET /ws HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".utf8),
        [0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e], // a masked text frame "hello"
        [0x89, 0x80, 1, 2, 3, 4], // a masked empty ping
        [0x88, 0x82, 1, 2, 3, 4, 0x02, 0xea], // a masked close 1000
        Array("GET /x HTTP/1.0\r\n\r\n".utf8),
    ]

    func run(_ input: UnsafeRawBufferPointer) {
        script = input
        at = 0
        while at < script.count {
            switch next() % 8 {
            case 0: connectClient()
            case 1:
                guard let c = pick() else { continue }
                let count = min(Int(next()) % 64 + 1, script.count - at)
                send(clients[c], UnsafeRawBufferPointer(rebasing: script[at..<(at + count)]))
                at += count
            case 2: if let c = pick() { reset(c) }
            case 3: if let c = pick() { shutdown(clients[c], Int32(SHUT_WR)) }
            case 4: turn(Int(next()) % 4 + 1)
            case 5: if !late.isEmpty { let (responder, response) = late.removeFirst(); responder.respond(response) }
            case 6: if let c = pick() { drain(clients[c]) }
            default:
                guard let c = pick() else { continue }
                let prefix = Self.prefixes[Int(next()) % Self.prefixes.count]
                // Part or all of it: random chunking of a real request.
                let count = min(prefix.count, Int(next()) % (prefix.count + 8) + 1)
                prefix.withUnsafeBytes { send(clients[c], UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            }
            turn()
        }
        // Everyone leaves; the late answers arrive for connections that are gone.
        while !clients.isEmpty { reset(clients.count - 1) }
        for (responder, response) in late { responder.respond(response) }
        late.removeAll()
        var rounds = 0
        while server.connectionCount > 0 || server.webSocketCount > 0 {
            rounds += 1
            precondition(rounds < 20_000, "connections left open: \(server.connectionCount) HTTP, \(server.webSocketCount) WebSocket")
            uv_run(loop.raw, UV_RUN_NOWAIT)
            if rounds > 100 { usleep(100) }
        }
    }
}

nonisolated(unsafe) let harness = ConnectionHarness()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConnection(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    harness.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
