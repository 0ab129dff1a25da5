import CHTTPParser
import CLibUV
import CTLS
#if canImport(Glibc)
import Glibc
#endif

/// Name resolution on the loop (uv_getaddrinfo): the addresses' bytes (4 or 16 each), in the
/// resolver's order, without duplicates.
public enum Resolver {
    public static func resolve(loop: EventLoop, host: String, port: Int,
                               _ completion: @escaping (Result<[[UInt8]], ResolveError>) -> Void) {
        let request = UnsafeMutablePointer<uv_getaddrinfo_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(ResolveBox(completion)).toOpaque()
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        let status = uv_getaddrinfo(loop.raw, request, { request, status, result in
            let box = Unmanaged<ResolveBox>.fromOpaque(request!.pointee.data).takeRetainedValue()
            request!.deallocate()
            guard status == 0 else {
                if let result { uv_freeaddrinfo(result) }
                return box.completion(.failure(ResolveError(String(cString: uv_strerror(status)))))
            }
            var addresses: [[UInt8]] = []
            var node = result
            while let entry = node {
                if let address = entry.pointee.ai_addr {
                    var bytes: [UInt8]?
                    if entry.pointee.ai_family == AF_INET {
                        bytes = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                            withUnsafeBytes(of: v4.pointee.sin_addr) { Array($0) }
                        }
                    } else if entry.pointee.ai_family == AF_INET6 {
                        bytes = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                            withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) }
                        }
                    }
                    if let bytes, !addresses.contains(bytes) { addresses.append(bytes) }
                }
                node = entry.pointee.ai_next
            }
            uv_freeaddrinfo(result)
            box.completion(addresses.isEmpty ? .failure(ResolveError("no addresses")) : .success(addresses))
        }, host, String(port), &hints)
        if status != 0 {
            Unmanaged<ResolveBox>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            completion(.failure(ResolveError(String(cString: uv_strerror(status)))))
        }
    }
}

public struct ResolveError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

private final class ResolveBox {
    let completion: (Result<[[UInt8]], ResolveError>) -> Void
    init(_ completion: @escaping (Result<[[UInt8]], ResolveError>) -> Void) { self.completion = completion }
}

/// A TLS client configuration: the system's CA certificates (and optionally a CA file, for
/// tests), TLS 1.2 at least, the peer's certificate chain verified.
public final class TLSClientContext {
    let raw: OpaquePointer

    public init(caFile: String? = nil) throws(ResolveError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw ResolveError("could not create a TLS context") }
        raw = ctx
        _ = ci_ssl_ctx_min_tls12(ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        guard SSL_CTX_set_default_verify_paths(ctx) == 1 else { throw ResolveError("could not load the system's CA certificates") }
        if let caFile, SSL_CTX_load_verify_locations(ctx, caFile, nil) != 1 {
            throw ResolveError("could not load the CA file \(caFile)")
        }
    }

    deinit { SSL_CTX_free(raw) }
}

/// A small outbound HTTP/1.1 client on the loop, for webhooks: one POST per connection
/// (`Connection: close`), http or https (OpenSSL through memory BIOs: the chain verified against
/// the system CAs, the host name checked, SNI sent), to an address already checked by the caller (it connects to
/// exactly that address). The whole exchange (connect, send, response head and body) has one
/// deadline; the response body is read up to a cap and discarded; redirects are not followed
/// (the status is answered as is). libuv opens its sockets close-on-exec.
public final class HTTPClientExchange {
    public enum Outcome: Sendable, Equatable {
        /// The response's status (its body read to the cap, or to its end).
        case status(Int)
        /// No response: why (connection refused, reset, timeout, malformed response...).
        case error(String)
    }

    public static let maxResponseBytes = 64 * 1024

    private let loop: EventLoop
    private var socket: LoopHandle?
    private let timer: LoopTimer
    private var completion: ((Outcome) -> Void)?
    private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
    private var request: [UInt8]
    private var status = 0
    private var received = 0
    /// https: the TLS session (its BIOs inside), and whether its handshake is done.
    private var ssl: OpaquePointer?
    private var readBIO: OpaquePointer?
    private var writeBIO: OpaquePointer?
    private var handshakeDone = false
    private let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: 16 * 1024, alignment: 16)

    /// Starts `request` (the whole request's bytes) to `address` (4 or 16 bytes) and `port`;
    /// `completion` runs once, on the loop.
    @discardableResult
    public static func start(loop: EventLoop, address: [UInt8], port: Int, request: [UInt8], timeoutMillis: UInt64,
                             tls: (context: TLSClientContext, serverName: String)? = nil,
                             _ completion: @escaping (Outcome) -> Void) -> HTTPClientExchange {
        let exchange = HTTPClientExchange(loop: loop, request: request, completion: completion)
        if let tls, !exchange.startTLS(tls.context, serverName: tls.serverName) { return exchange }
        exchange.connect(address, port, timeoutMillis)
        return exchange
    }

    private init(loop: EventLoop, request: [UInt8], completion: @escaping (Outcome) -> Void) {
        self.loop = loop
        self.request = request
        self.completion = completion
        timer = LoopTimer(loop: loop)
        http_parser_init(parser, HTTP_RESPONSE)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    /// A TLS session for `serverName` (a host name, or an IP address checked as one).
    private func startTLS(_ context: TLSClientContext, serverName: String) -> Bool {
        guard let ssl = SSL_new(context.raw), let rbio = BIO_new(BIO_s_mem()), let wbio = BIO_new(BIO_s_mem()) else {
            finish(.error("could not start TLS"))
            return false
        }
        SSL_set_bio(ssl, rbio, wbio)
        self.ssl = ssl
        readBIO = rbio
        writeBIO = wbio
        SSL_set_connect_state(ssl)
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, serverName, &v4) == 1 || inet_pton(AF_INET6, serverName, &v6) == 1 {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName)
        } else {
            _ = ci_ssl_set_sni(ssl, serverName)
            SSL_set1_host(ssl, serverName)
        }
        return true
    }

    deinit {
        if let ssl { SSL_free(ssl) }
        parser.deallocate()
        readBuffer.deallocate()
    }

    private func connect(_ address: [UInt8], _ port: Int, _ timeoutMillis: UInt64) {
        timer.start(after: timeoutMillis) { [self] in finish(.error("timed out after \(timeoutMillis) ms")) }
        guard let socket = LoopHandle(uv_tcp_t.self, owner: self, { uv_tcp_init(loop.raw, $0) }) else {
            return finish(.error("could not create a socket"))
        }
        self.socket = socket
        var storage = sockaddr_storage()
        let status: Int32 = withUnsafeMutableBytes(of: &storage) { raw in
            if address.count == 4 {
                let v4 = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                v4.pointee.sin_family = sa_family_t(AF_INET)
                v4.pointee.sin_port = in_port_t(UInt16(port).bigEndian)
                withUnsafeMutableBytes(of: &v4.pointee.sin_addr) { $0.copyBytes(from: address) }
            } else {
                let v6 = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                v6.pointee.sin6_family = sa_family_t(AF_INET6)
                v6.pointee.sin6_port = in_port_t(UInt16(port).bigEndian)
                withUnsafeMutableBytes(of: &v6.pointee.sin6_addr) { $0.copyBytes(from: address) }
            }
            let connect = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
            let result = uv_tcp_connect(connect, socket.pointer(uv_tcp_t.self), raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)) { connect, status in
                // Runs once, with UV_ECANCELED when the socket closed first (before its close callback).
                let exchange = LoopHandle.owner(of: connect!.pointee.handle.pointee.data, as: HTTPClientExchange.self)
                connect!.deallocate()
                exchange.connected(status)
            }
            if result != 0 { connect.deallocate() }
            return result
        }
        if status != 0 { finish(.error("connect failed: \(String(cString: uv_strerror(status)))")) }
    }

    private func connected(_ status: Int32) {
        guard completion != nil, let socket, !socket.isClosed else { return }
        guard status == 0 else { return finish(.error("connect failed: \(String(cString: uv_strerror(status)))")) }
        startReading(socket)
        if ssl != nil { return handshake() }
        request.withUnsafeBytes { send($0) }
    }

    /// Writes bytes to the socket (copied; freed by the write's callback).
    private func send(_ data: UnsafeRawBufferPointer) {
        guard completion != nil, let socket, !socket.isClosed, data.count > 0 else { return }
        let write = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 1)
        bytes.copyMemory(from: data.baseAddress!, byteCount: data.count)
        write.pointee.data = bytes
        var buf = uv_buf_init(bytes.assumingMemoryBound(to: CChar.self), UInt32(data.count))
        let result = uv_write(write, socket.stream, &buf, 1) { write, status in
            let exchange = LoopHandle.owner(of: write!.pointee.handle.pointee.data, as: HTTPClientExchange.self)
            write!.pointee.data.deallocate()
            write!.deallocate()
            if status != 0 { exchange.finish(.error("sending the request failed: \(String(cString: uv_strerror(status)))")) }
        }
        if result != 0 {
            bytes.deallocate()
            write.deallocate()
            finish(.error("sending the request failed: \(String(cString: uv_strerror(result)))"))
        }
    }

    // MARK: TLS

    /// Sends what TLS has written into its outgoing BIO.
    private func flushTLS() {
        guard let writeBIO else { return }
        while completion != nil, BIO_ctrl_pending(writeBIO) > 0 {
            let count = BIO_read(writeBIO, readBuffer, 16 * 1024)
            if count <= 0 { break }
            send(UnsafeRawBufferPointer(start: readBuffer, count: Int(count)))
        }
    }

    private func tlsFailure(_ what: String, _ result: Int32) {
        guard let ssl else { return }
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            return finish(.error("\(what): the certificate was refused: \(String(cString: X509_verify_cert_error_string(verify)))"))
        }
        let code = ERR_get_error()
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, 256)
        ERR_clear_error()
        finish(.error("\(what) failed (\(code == 0 ? "error \(SSL_get_error(ssl, result))" : String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))"))
    }

    private func handshake() {
        guard let ssl else { return }
        let result = SSL_do_handshake(ssl)
        flushTLS()
        guard completion != nil else { return }
        if result == 1 {
            handshakeDone = true
            let written = request.withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard written == Int32(request.count) else { return tlsFailure("sending the request over TLS", written) }
            flushTLS()
            return drainTLS()
        }
        let error = SSL_get_error(ssl, result)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return }
        tlsFailure("the TLS handshake", result)
    }

    /// Feeds the decrypted bytes to the parser.
    private func drainTLS() {
        guard let ssl else { return }
        let plain = UnsafeMutableRawPointer.allocate(byteCount: 16 * 1024, alignment: 16)
        defer { plain.deallocate() }
        while completion != nil {
            let count = SSL_read(ssl, plain, 16 * 1024)
            if count > 0 {
                parse(plain.assumingMemoryBound(to: CChar.self), Int(count))
                continue
            }
            let error = SSL_get_error(ssl, count)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return }
            if error == SSL_ERROR_ZERO_RETURN { return endOfStream() }
            return tlsFailure("reading the response over TLS", count)
        }
    }

    private func startReading(_ socket: LoopHandle) {
        uv_read_start(socket.stream, { handle, _, buf in
            let exchange = LoopHandle.owner(of: handle!.pointee.data, as: HTTPClientExchange.self)
            buf!.pointee = uv_buf_init(exchange.readBuffer.assumingMemoryBound(to: CChar.self), 16 * 1024)
        }, { stream, nread, buf in
            let exchange = LoopHandle.owner(of: stream!.pointee.data, as: HTTPClientExchange.self)
            exchange.read(nread, buf!.pointee.base)
        })
    }

    private func read(_ count: Int, _ base: UnsafeMutablePointer<CChar>?) {
        guard completion != nil else { return }
        if count == 0 { return }
        if count < 0 {
            if count == Int(UV_EOF.rawValue) { return endOfStream() }
            if status > 0 { return finish(.status(status)) }
            return finish(.error("reading the response failed: \(String(cString: uv_strerror(Int32(count))))"))
        }
        if let readBIO {
            _ = BIO_write(readBIO, base, Int32(count))
            return handshakeDone ? drainTLS() : handshake()
        }
        parse(base, count)
    }

    private func endOfStream() {
        _ = http_parser_execute(parser, &responseParserSettings, nil, 0)
        if completion == nil { return }
        if status > 0 { return finish(.status(status)) }
        finish(.error(ssl != nil && !handshakeDone ? "the connection closed during the TLS handshake"
                                                   : "the connection closed before a complete response"))
    }

    private func parse(_ base: UnsafeMutablePointer<CChar>?, _ count: Int) {
        received += count
        let consumed = http_parser_execute(parser, &responseParserSettings, base, count)
        if completion == nil { return }
        let errno = http_errno(parser.pointee.http_errno)
        if errno != HPE_OK || consumed != count {
            return finish(.error("malformed HTTP response: \(String(cString: http_errno_description(errno)))"))
        }
        if received > Self.maxResponseBytes + 16 * 1024 {
            // Enough: the body is discarded anyway.
            return finish(status > 0 ? .status(status) : .error("the response head is larger than 64 KiB"))
        }
    }

    fileprivate func headersComplete() { status = Int(parser.pointee.status_code) }

    fileprivate func messageComplete() { finish(.status(status)) }

    /// Answers once and closes everything; later calls do nothing.
    public func finish(_ outcome: Outcome) {
        guard let completion else { return }
        self.completion = nil
        timer.close()
        socket?.close()
        completion(outcome)
    }
}

@inline(__always) private func responseExchange(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTPClientExchange {
    Unmanaged<HTTPClientExchange>.fromOpaque(parser!.pointee.data).takeUnretainedValue()
}

nonisolated(unsafe) private var responseParserSettings: http_parser_settings = {
    var settings = http_parser_settings()
    settings.on_headers_complete = { parser in
        responseExchange(parser).headersComplete()
        return 0
    }
    settings.on_message_complete = { parser in
        responseExchange(parser).messageComplete()
        return 1
    }
    return settings
}()
