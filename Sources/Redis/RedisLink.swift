import CHiredis
import CHiredisLibUV
import Logging
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// One hiredis async context on the loop, from connect to free: the only code of this module
/// that calls `redisAsyncConnect`, `redisAsyncDisconnect` and `redisAsyncFree`. Every topology
/// drives its servers through links (a single Redis, a Sentinel-found primary, each primary of a
/// cluster, the sentinels themselves, the subscribers).
///
/// A link is used once: opened, connected or not, closed; whoever reconnects opens a new one.
/// It keeps itself alive (retained into the context's `data`) until hiredis is done with the
/// context, and ends exactly once (`onClose`), after hiredis has failed every command still
/// waiting, so every completion runs exactly once. Its socket is close-on-exec from the moment it
/// exists: hiredis 0.14 opens sockets without SOCK_CLOEXEC, and a sandbox the runner spawns would
/// inherit them. The context is freed or disconnected only from a timer of its own, never inside
/// a hiredis callback (a read that frees the context, then a write in the same poll callback).
final class RedisLink {
    typealias Completion = (Result<RedisValue, RedisError>) -> Void

    enum State { case idle, connecting, connected, disconnecting, closed }

    let endpoint: RedisEndpoint
    private let loop: EventLoop
    private let logger: Logger
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private(set) var state = State.idle
    private var watchdog: LoopTimer
    /// Runs the end the owner asked for on the next loop turn (outside any hiredis callback).
    private var deferred: LoopTimer
    private var openedAt: UInt64 = 0
    /// Why the link ends, when it was ended on purpose (a timeout, a drop): said over hiredis'
    /// "connection closed".
    private(set) var endReason: String?
    /// Send times of the commands awaiting replies, oldest first (Redis answers in order).
    private var sentAt: [UInt64] = []
    private var sentHead = 0
    /// Round trips of this link's commands (send to reply).
    private(set) var latency = LatencyHistogram()
    /// Push mode (pub/sub): every reply comes here in order, commands go with `sendPush`.
    private let onPush: ((RedisValue) -> Void)?

    /// A connect unanswered for this long is given up (a host that is down answers nothing).
    var connectTimeoutMillis: UInt64 = 2_000
    /// A command unanswered for this long ends the link (Redis hung, or the network did).
    var commandTimeoutMillis: UInt64 = 5_000
    var onConnect: (() -> Void)?
    /// Once, with why, when the link is over (connected or not): after every pending completion ran.
    var onClose: ((String) -> Void)?
    /// Every error reply, before its command's completion (READONLY: a demoted primary).
    var onErrorReply: ((String) -> Void)?

    init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger, onPush: ((RedisValue) -> Void)? = nil) {
        self.loop = loop
        self.endpoint = endpoint
        self.logger = logger
        self.onPush = onPush
        watchdog = LoopTimer(loop: loop)
        deferred = LoopTimer(loop: loop)
    }

    var isConnected: Bool { state == .connected }

    /// The socket while there is one (the tests check it is close-on-exec).
    var fileDescriptor: Int32? { context.map { $0.pointee.c.fd } }

    /// Starts connecting; `onConnect` or `onClose` follows (`onClose` at once when hiredis cannot
    /// even start).
    func open() {
        guard state == .idle else { return }
        state = .connecting
        openedAt = loop.now
        guard let context = redisAsyncConnect(endpoint.host, Int32(endpoint.port)) else { return finish("out of memory") }
        if context.pointee.err != 0 {
            let reason = errorString(context)
            redisAsyncFree(context)
            return finish(reason)
        }
        _ = fcntl(context.pointee.c.fd, F_SETFD, FD_CLOEXEC)
        // A failed attach attaches nothing: freeing the context then is safe (adapter.c).
        if ci_redis_libuv_attach(context, loop.raw) != 0 {
            redisAsyncFree(context)
            return finish("cannot attach to the event loop")
        }
        if onPush != nil { _ = ci_redis_libuv_push_mode(context, pushHandler) }
        context.pointee.data = Unmanaged.passRetained(self).toOpaque()
        redisAsyncSetConnectCallback(context, connectCallback)
        redisAsyncSetDisconnectCallback(context, disconnectCallback)
        self.context = context
        watchdog.start(after: 250, repeat: 250) { [unowned self] in self.checkTimeouts() }
        watchdog.unref()
    }

    /// Sends one command. Its completion runs exactly once: with the reply, or with a failure when
    /// the link is not connected or ends before the reply.
    func send(_ arguments: [[UInt8]], _ completion: @escaping Completion) {
        send(command: formatCommand(arguments), completion)
    }

    /// Sends one command already in the protocol's form (`formatCommand`).
    func send(command: [UInt8], _ completion: @escaping Completion) {
        guard state == .connected, let context, onPush == nil else {
            return completion(.failure(.unavailable("Redis at \(endpoint) is not connected")))
        }
        let pending = Unmanaged.passRetained(PendingCommand(completion)).toOpaque()
        if sendFormatted(context, command, replyCallback, pending) != REDIS_OK {
            Unmanaged<PendingCommand>.fromOpaque(pending).release()
            return completion(.failure(.connectionLost("the Redis connection to \(endpoint) is closing")))
        }
        sentAt.append(EventLoop.hrtime())
    }

    /// Sends a command of a push-mode link (SUBSCRIBE, SSUBSCRIBE...): its replies, many per
    /// command, go to `onPush`. False when not connected.
    @discardableResult
    func sendPush(_ arguments: [String]) -> Bool {
        guard state == .connected, let context, onPush != nil else { return false }
        return withArgv(arguments.map { Array($0.utf8) }) { ci_redis_send_raw(context, $0, $1, $2) } == REDIS_OK
    }

    /// Ends the link gracefully: the replies still due arrive first; a connect in progress is given up.
    func close() {
        switch state {
        case .idle: finish("closed")
        case .connecting: abort("closed")
        case .connected:
            state = .disconnecting
            deferred.start(after: 0) { [unowned self] in
                guard self.state == .disconnecting, let context = self.context else { return }
                redisAsyncDisconnect(context)
            }
        case .disconnecting, .closed: break
        }
    }

    /// Ends the link now: every command still waiting fails. Safe anywhere, inside a hiredis
    /// callback too: the free runs on the next loop turn.
    func abort(_ reason: String) {
        guard state != .closed else { return }
        guard context != nil else { return finish(reason) }
        endReason = endReason ?? reason
        deferred.start(after: 0) { [unowned self] in self.freeNow() }
    }

    private func freeNow() {
        guard let context else { return }
        if state == .connecting {
            // Never connected: hiredis calls neither callback, so the link ends here.
            self.context = nil
            redisAsyncFree(context)
            finish(endReason ?? "closed")
            Unmanaged.passUnretained(self).release()
        } else {
            // hiredis fails every pending command, then calls the disconnect callback (which ends
            // the link and releases it).
            context.pointee.err = REDIS_ERR_OTHER
            redisAsyncFree(context)
        }
    }

    private func checkTimeouts() {
        if state == .connecting, loop.now - openedAt > connectTimeoutMillis {
            return abort("no connection within \(connectTimeoutMillis) ms")
        }
        guard state == .connected || state == .disconnecting, sentHead < sentAt.count, endReason == nil else { return }
        let age = (EventLoop.hrtime() &- sentAt[sentHead]) / 1_000_000
        guard age > commandTimeoutMillis else { return }
        logger.error("Redis at \(endpoint) did not answer for \(age) ms; dropping the connection")
        abort("no reply for \(age) ms")
    }

    fileprivate func connected() {
        guard state == .connecting, let context else { return }
        state = .connected
        redisEnableKeepAlive(&context.pointee.c)
        onConnect?()
    }

    fileprivate func replied() {
        if sentHead < sentAt.count {
            latency.record(nanoseconds: EventLoop.hrtime() &- sentAt[sentHead])
            sentHead += 1
        }
        if sentHead == sentAt.count {
            sentAt.removeAll(keepingCapacity: true)
            sentHead = 0
        }
    }

    fileprivate func push(_ value: RedisValue) {
        guard state == .connected || state == .disconnecting else { return }
        onPush?(value)
    }

    /// The one end of the link: hiredis is done with the context (or there never was one).
    /// The caller releases the retain held by the context afterwards, when there was one.
    fileprivate func finish(_ reason: String) {
        guard state != .closed else { return }
        state = .closed
        context = nil
        watchdog.close()
        deferred.close()
        sentAt.removeAll()
        sentHead = 0
        onConnect = nil
        onErrorReply = nil
        let onClose = self.onClose
        self.onClose = nil
        onClose?(endReason ?? reason)
    }

    /// One command on a link of its own: connects, sends, answers, closes. `timeoutMillis` bounds
    /// the connect and the reply. For asking sentinels and cluster nodes that have no link yet.
    static func query(loop: EventLoop, endpoint: RedisEndpoint, timeoutMillis: UInt64, logger: Logger, command: [String],
                      _ completion: @escaping Completion) {
        let link = RedisLink(loop: loop, endpoint: endpoint, logger: logger)
        link.connectTimeoutMillis = timeoutMillis
        link.commandTimeoutMillis = timeoutMillis
        var answered = false
        link.onConnect = { [unowned link] in
            link.send(command.map { Array($0.utf8) }) { result in
                answered = true
                completion(result)
                link.close()
            }
        }
        link.onClose = { reason in
            if !answered { completion(.failure(.unavailable(reason))) }
        }
        link.open()
    }
}

private final class PendingCommand {
    let completion: RedisLink.Completion
    init(_ completion: @escaping RedisLink.Completion) { self.completion = completion }
}

private func connectCallback(_ context: UnsafePointer<redisAsyncContext>?, _ status: Int32) {
    let unmanaged = Unmanaged<RedisLink>.fromOpaque(context!.pointee.data)
    let link = unmanaged.takeUnretainedValue()
    if status == REDIS_OK { return link.connected() }
    // hiredis frees a context whose connect failed, right after this callback.
    link.finish(errorString(context!))
    unmanaged.release()
}

private func disconnectCallback(_ context: UnsafePointer<redisAsyncContext>?, _ status: Int32) {
    let unmanaged = Unmanaged<RedisLink>.fromOpaque(context!.pointee.data)
    unmanaged.takeUnretainedValue().finish(errorString(context!))
    unmanaged.release()
}

/// hiredis calls this once per reply, or with a NULL reply when the context goes: the pending
/// command is released on both paths.
private let replyCallback: ReplyCallback = { context, reply, privdata in
    let pending = Unmanaged<PendingCommand>.fromOpaque(privdata!).takeRetainedValue()
    // The link outlives every pending callback: hiredis runs them before the disconnect callback.
    let link = context?.pointee.data.map { Unmanaged<RedisLink>.fromOpaque($0).takeUnretainedValue() }
    link?.replied()
    guard let reply else {
        let why = link?.endReason.map { " (\($0))" } ?? ""
        return pending.completion(.failure(.connectionLost("the Redis connection was lost before the reply\(why)")))
    }
    let value = decode(reply.assumingMemoryBound(to: redisReply.self))
    if case .error(let message) = value {
        link?.onErrorReply?(message)
        pending.completion(.failure(.server(message)))
    } else {
        pending.completion(.success(value))
    }
}

/// Every reply of a push-mode link, in arrival order (adapter.c reads them).
private let pushHandler: ci_reply_handler = { context, reply in
    guard let reply, let data = context?.pointee.data else { return }
    Unmanaged<RedisLink>.fromOpaque(data).takeUnretainedValue().push(decode(reply.assumingMemoryBound(to: redisReply.self)))
}

/// The inner context's error: hiredis fills it before it copies it to the async context.
private func errorString(_ context: UnsafePointer<redisAsyncContext>) -> String {
    guard context.pointee.c.err != 0 else { return "connection closed" }
    return withUnsafeBytes(of: context.pointee.c.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

private func errorString(_ context: UnsafeMutablePointer<redisAsyncContext>) -> String {
    errorString(UnsafePointer(context))
}

typealias ReplyCallback = @convention(c) (UnsafeMutablePointer<redisAsyncContext>?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void

/// Hands one command, formatted here in the protocol's own form (RESP), to hiredis, which appends
/// the bytes to its output as they are (written once per loop turn with every other command of the
/// turn). Binary-safe like the argv form; measured (scripts/bench.d/profile.py), formatting in
/// Swift costs a few thousand instructions per commit where hiredis' argv formatting (one
/// `sdscatfmt` per argument) and the pointer and length arrays it needs cost about 58,000.
/// Answers hiredis' status.
private func sendFormatted(_ context: UnsafeMutablePointer<redisAsyncContext>, _ command: [UInt8],
                           _ callback: ReplyCallback, _ privdata: UnsafeMutableRawPointer?) -> Int32 {
    command.withUnsafeBufferPointer { buffer in
        UnsafeRawPointer(buffer.baseAddress!).withMemoryRebound(to: CChar.self, capacity: buffer.count) {
            redisAsyncFormattedCommand(context, callback, privdata, $0, buffer.count)
        }
    }
}

private func withArgv(_ arguments: [[UInt8]],
                      _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Int32) -> Int32 {
    var storage: [UInt8] = []
    storage.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
    var lengths: [Int] = []
    lengths.reserveCapacity(arguments.count)
    for argument in arguments {
        storage += argument
        lengths.append(argument.count)
    }
    storage.append(0) // never an empty buffer, so baseAddress is never nil
    return storage.withUnsafeBufferPointer { buffer -> Int32 in
        let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
        var pointers: [UnsafePointer<CChar>?] = []
        pointers.reserveCapacity(arguments.count)
        var offset = 0
        for length in lengths {
            pointers.append(base + offset)
            offset += length
        }
        return lengths.withUnsafeBufferPointer { lengths in
            pointers.withUnsafeMutableBufferPointer { pointers in
                body(Int32(arguments.count), pointers.baseAddress!, lengths.baseAddress!)
            }
        }
    }
}

/// `arguments` as one RESP command: `*<count>\r\n` then `$<length>\r\n<bytes>\r\n` for each,
/// exactly what hiredis' `redisFormatCommandArgv` writes, in one allocation of the exact size.
func formatCommand(_ arguments: [[UInt8]]) -> [UInt8] {
    var size = 1 + decimalDigits(arguments.count) + 2
    for argument in arguments { size += 1 + decimalDigits(argument.count) + 2 + argument.count + 2 }
    return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        var at = writeHeader(buffer.baseAddress!, UInt8(ascii: "*"), arguments.count)
        for argument in arguments {
            argument.withUnsafeBufferPointer { bytes in at = writeArgument(at, bytes) }
        }
        initialized = at - buffer.baseAddress!
    }
}

/// The same for text arguments, copied from each string's UTF-8 storage (no array per argument;
/// a string without contiguous storage, a bridged one, is made contiguous in a copy first).
func formatCommand(_ arguments: [String]) -> [UInt8] {
    var size = 1 + decimalDigits(arguments.count) + 2
    for argument in arguments {
        let length = argument.utf8.count
        size += 1 + decimalDigits(length) + 2 + length + 2
    }
    return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        var at = writeHeader(buffer.baseAddress!, UInt8(ascii: "*"), arguments.count)
        for var argument in arguments {
            argument.withUTF8 { bytes in at = writeArgument(at, bytes) }
        }
        initialized = at - buffer.baseAddress!
    }
}

/// Writes `$<length>\r\n<bytes>\r\n` at `at`; answers where it ended.
@inline(__always)
private func writeArgument(_ at: UnsafeMutablePointer<UInt8>, _ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeMutablePointer<UInt8> {
    var at = writeHeader(at, UInt8(ascii: "$"), bytes.count)
    if bytes.count > 0 { at.update(from: bytes.baseAddress!, count: bytes.count) }
    at += bytes.count
    at[0] = 13
    at[1] = 10
    return at + 2
}

/// Writes `<marker><value>\r\n` at `at`; answers where it ended.
@inline(__always)
private func writeHeader(_ at: UnsafeMutablePointer<UInt8>, _ marker: UInt8, _ value: Int) -> UnsafeMutablePointer<UInt8> {
    at[0] = marker
    let digits = decimalDigits(value)
    var rest = value
    var index = digits
    while index > 0 {
        at[index] = UInt8(truncatingIfNeeded: 48 + rest % 10)
        rest /= 10
        index -= 1
    }
    at[digits + 1] = 13
    at[digits + 2] = 10
    return at + digits + 3
}

/// How many decimal digits a non-negative count has.
private func decimalDigits(_ value: Int) -> Int {
    var digits = 1
    var rest = value
    while rest >= 10 {
        rest /= 10
        digits += 1
    }
    return digits
}

func decode(_ reply: UnsafePointer<redisReply>) -> RedisValue {
    let r = reply.pointee
    switch r.type {
    case REDIS_REPLY_STRING:
        return .string(r.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: r.str, count: r.len)))
    case REDIS_REPLY_STATUS:
        return .status(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
    case REDIS_REPLY_ERROR:
        return .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
    case REDIS_REPLY_INTEGER:
        return .integer(Int(r.integer))
    case REDIS_REPLY_ARRAY:
        var values: [RedisValue] = []
        values.reserveCapacity(r.elements)
        for index in 0..<r.elements { values.append(decode(r.element[index]!)) }
        return .array(values)
    default:
        return .null
    }
}
