import CHiredis
import CHiredisLibUV
import CLibUV
import Logging
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// Where Redis listens: "host:port", "host", or "redis://host:port[/]".
public struct RedisAddress: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// When set, host and port are unused: the primary is asked of these sentinels (Sentinel.swift).
    public var sentinel: SentinelSettings?
    /// When set, host and port are unused: a Redis Cluster found from these seed nodes (RedisCluster.swift).
    public var cluster: [RedisAddress]?

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        var rest = Substring(text)
        if rest.hasPrefix("redis://") { rest = rest.dropFirst("redis://".count) }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { return nil }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            host = String(rest[..<colon])
            self.port = port
        } else {
            host = String(rest)
            port = 6379
        }
        guard !host.isEmpty else { return nil }
    }

    public var description: String {
        if let cluster { return "cluster via \(cluster.map(\.description).joined(separator: ","))" }
        return sentinel?.description ?? "\(host):\(port)"
    }
}

/// One hiredis async connection on the loop, reconnecting with backoff when Redis goes away.
/// While it is down, commands fail at once with `RedisError.unavailable` instead of waiting, so
/// callers can answer 503 right away. Scripts registered with `register` are loaded on every
/// (re)connect, and EVALSHA falls back to EVAL after NOSCRIPT.
///
/// With `address.cluster` it is the same type for its callers but a facade over a `ClusterRouter`,
/// which keeps one plain `RedisConnection` per primary and routes each command by its keys' slot.
public final class RedisConnection {
    public typealias Completion = (Result<RedisValue, RedisError>) -> Void

    enum State { case disconnected, connecting, connected, closing, closed }

    public let address: RedisAddress
    private let loop: EventLoop
    private let logger: Logger
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var state = State.disconnected
    private var retryTimer: LoopTimer
    private var watchdog: LoopTimer
    private var backoffMillis: UInt64 = 100
    private var scripts: [RedisScript] = []
    /// The Functions library its scripts run from (FCALL), loaded on each connect; nil: EVALSHA.
    private(set) var library: RedisFunctionLibrary?
    /// A FUNCTION LOAD is on its way (calls that find the function missing meanwhile send no other).
    private var libraryLoading = false
    /// Send times of the commands awaiting replies, oldest first (Redis answers in order).
    private var sentAt: [UInt64] = []
    private var sentHead = 0
    private var closeCompletion: (() -> Void)?
    private var lastError = "not connected yet"
    private var everConnected = false
    /// With Sentinel: who names the primary, and the primary this connection last used.
    private var sentinel: SentinelClient?
    private var primary: RedisAddress
    private var dropTimer: LoopTimer
    private var connectStartedAt: UInt64 = 0
    /// With Redis Cluster: the router this connection is the face of.
    private(set) var cluster: ClusterRouter?

    /// A command unanswered for this long drops the connection (Redis hung or the network did).
    public var commandTimeoutMillis: UInt64 = 5_000 { didSet { cluster?.commandTimeoutMillis = commandTimeoutMillis } }
    /// A TCP connect unanswered for this long is given up (a host that is down answers nothing).
    public var connectTimeoutMillis: UInt64 = 2_000 { didSet { cluster?.connectTimeoutMillis = connectTimeoutMillis } }
    /// Called with true on every (re)connect and false on every loss (with Redis Cluster: true once
    /// every primary is connected, false when one is lost).
    public var onStateChange: ((Bool) -> Void)? { didSet { cluster?.onStateChange = onStateChange } }
    /// Set before `start()`, puts the connection in push mode for pub/sub: every reply (subscribe
    /// confirmations, messages, errors) comes here in order; commands go with `sendSubscription`.
    var onPush: ((RedisValue) -> Void)?
    private var ownReconnects = 0
    public var reconnectCount: Int { cluster?.reconnectCount ?? ownReconnects }
    private var ownLatency = LatencyHistogram()
    /// Round trips of commands (send to reply), for /metrics.
    public var latency: LatencyHistogram { cluster?.latency ?? ownLatency }

    public init(loop: EventLoop, address: RedisAddress, logger: Logger) {
        self.loop = loop
        self.address = address
        self.logger = logger
        retryTimer = LoopTimer(loop: loop)
        watchdog = LoopTimer(loop: loop)
        dropTimer = LoopTimer(loop: loop)
        primary = address
        if let seeds = address.cluster {
            cluster = ClusterRouter(seeds: seeds, loop: loop, logger: logger)
        } else if let settings = address.sentinel {
            let sentinel = SentinelClient(settings: settings, loop: loop, logger: logger)
            sentinel.onSwitch = { [unowned self] to in self.primaryMoved(to: to) }
            sentinel.onRecheck = { [unowned self] in self.recheckPrimary() }
            self.sentinel = sentinel
        }
    }

    public var isConnected: Bool { cluster?.isConnected ?? (state == .connected) }
    /// The Redis this connection uses: `address`, or with Sentinel the primary it last found.
    public var primaryAddress: RedisAddress { primary }
    /// Why Redis is unusable right now, for problem details and /health.
    public var unavailableReason: String {
        if let cluster { return cluster.unavailableReason }
        return sentinel == nil ? "Redis at \(address) is unreachable (\(lastError))" : "Redis (\(address)) is unreachable (\(lastError))"
    }

    /// Scripts to load on each connect (with Redis Cluster: on every primary); register before `start()`.
    public func register(_ script: RedisScript) {
        if let cluster { return cluster.register(script) }
        scripts.append(script)
    }

    /// A Functions library to load on each connect (with Redis Cluster: on every primary); the
    /// scripts it holds then run as its functions (FCALL). Register before `start()`.
    public func register(_ library: RedisFunctionLibrary) {
        self.library = library
        if let cluster { cluster.register(library) }
    }

    /// Loads the library on this connection's server (not for a cluster facade: its links load it),
    /// then deletes the libraries of its family that are not it and were loaded longer ago than
    /// its retention. "Already exists" is success: the same name is the same code.
    func loadLibrary(_ completion: @escaping (Bool) -> Void = { _ in }) {
        guard let library, !libraryLoading else { return completion(false) }
        libraryLoading = true
        let now = EventLoop.unixMillis()
        send(["FUNCTION", "LOAD", library.code(loadedAt: now)]) { [weak self, logger] result in
            self?.libraryLoading = false
            if case .failure(let error) = result, !error.message.contains("already exists") {
                logger.error("loading the Functions library \(library.name) failed: \(error)")
                return completion(false)
            }
            completion(true)
            self?.retireLibraries(library, now: now)
        }
    }

    private func retireLibraries(_ library: RedisFunctionLibrary, now: Int64) {
        send(["FUNCTION", "LIST", "WITHCODE"]) { [weak self, logger] result in
            guard case .success(let value) = result else { return }
            for entry in value.array ?? [] {
                let fields = entry.array ?? []
                var name: String?, code: String?
                var index = 0
                while index + 1 < fields.count {
                    switch fields[index].text {
                    case "library_name": name = fields[index + 1].text
                    case "library_code": code = fields[index + 1].text
                    default: break
                    }
                    index += 2
                }
                let marker = RedisFunctionLibrary.loadedAtMarker.dropFirst()
                guard let name, name.hasPrefix(library.family), name != library.name,
                      let line = code?.split(separator: "\n").last(where: { $0.hasPrefix(marker) }) else { continue }
                let loadedAt = Int64(line.dropFirst(marker.count)) ?? 0
                guard now - loadedAt > library.retentionMillis else { continue }
                logger.info("deleting the Functions library \(name), loaded \((now - loadedAt) / 60_000) minutes ago")
                self?.send(["FUNCTION", "DELETE", name]) { _ in }
            }
        }
    }

    public func start() {
        if let cluster { return cluster.start() }
        watchdog.start(after: 250, repeat: 250) { [unowned self] in self.checkTimeouts() }
        watchdog.unref()
        sentinel?.watch()
        connect()
    }

    // MARK: Commands

    public func send(_ arguments: [String], _ completion: @escaping Completion) {
        send(bytes: arguments.map { Array($0.utf8) }, completion)
    }

    public func send(bytes arguments: [[UInt8]], _ completion: @escaping Completion) {
        if let cluster { return cluster.send(arguments, completion) }
        guard state == .connected, let context else {
            completion(.failure(.unavailable(unavailableReason)))
            return
        }
        let pending = Unmanaged.passRetained(PendingCommand(completion)).toOpaque()
        let status = sendArgv(context, arguments, commandCallback, pending)
        if status != REDIS_OK {
            Unmanaged<PendingCommand>.fromOpaque(pending).release()
            completion(.failure(.unavailable(unavailableReason)))
            return
        }
        sentAt.append(EventLoop.hrtime())
    }

    /// Sends a command of a push-mode connection (SSUBSCRIBE, SUNSUBSCRIBE...): its replies, many
    /// per command, go to `onPush`. False when not connected.
    @discardableResult
    func sendSubscription(_ arguments: [String]) -> Bool {
        guard state == .connected, let context else { return false }
        return sendRaw(context, arguments.map { Array($0.utf8) }) == REDIS_OK
    }

    fileprivate func push(_ value: RedisValue) {
        // The answer to the ROLE check of a Sentinel-found primary (see `connected`).
        if sentinel != nil, let role = value.array?.first?.text, ["master", "slave", "sentinel"].contains(role) {
            if role != "master" { drop("\(primary) is a \(role), not the primary") }
            return
        }
        onPush?(value)
    }

    /// FCALL of the script's function when the registered library holds it; when the server lacks
    /// the function (restart, FUNCTION FLUSH, an old version retired), the library is loaded again
    /// and this call is retried once as EVALSHA. Otherwise EVALSHA, with an EVAL fallback when
    /// the server lost its script cache (restart, SCRIPT FLUSH).
    public func run(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping Completion) {
        let tail = [String(keys.count)] + keys + arguments
        if let function = library?.functions[script.name] {
            send(["FCALL", function] + tail) { [weak self] result in
                if case .failure(let error) = result, !error.isUnavailable, error.message.contains("Function not found") || error.message.contains("unknown command"), let self {
                    self.logger.info("function \(function) missing on the server; loading the library again")
                    self.reloadLibrary()
                    self.evaluate(script, tail, completion)
                    return
                }
                completion(result)
            }
            return
        }
        evaluate(script, tail, completion)
    }

    /// Loads the library again on every server this connection reaches.
    func reloadLibrary() {
        if let cluster { return cluster.reloadLibrary() }
        loadLibrary()
    }

    private func evaluate(_ script: RedisScript, _ tail: [String], _ completion: @escaping Completion) {
        send(["EVALSHA", script.sha1] + tail) { [weak self] result in
            if case .failure(let error) = result, !error.isUnavailable, error.message.hasPrefix("NOSCRIPT"), let self {
                self.logger.info("script \(script.name) missing on the server; sending its source")
                self.send(["EVAL", script.source] + tail, completion)
                return
            }
            completion(result)
        }
    }

    /// Waits for pending replies, then disconnects; no reconnect afterwards.
    public func close(_ completion: @escaping () -> Void) {
        retryTimer.close()
        watchdog.close()
        dropTimer.close()
        sentinel?.close()
        if let cluster { return cluster.close(completion) }
        switch state {
        case .connected:
            state = .closing
            closeCompletion = completion
            redisAsyncDisconnect(context)
        case .connecting:
            // Not connected yet: hiredis would never call the disconnect callback.
            state = .closed
            if let context { redisAsyncFree(context) }
            context = nil
            completion()
        case .disconnected, .closed:
            state = .closed
            completion()
        case .closing:
            closeCompletion = completion
        }
    }

    // MARK: Connection life cycle

    private func connect() {
        guard state == .disconnected else { return }
        state = .connecting
        guard let sentinel else { return open(address) }
        sentinel.resolve { [weak self] result in
            guard let self, self.state == .connecting, self.context == nil else { return }
            switch result {
            case .success(let primary):
                if primary.description != self.primary.description { self.logger.info("Sentinel names \(primary) as the primary") }
                self.primary = primary
                self.open(primary)
            case .failure(let error):
                self.connectFailed(error.message)
            }
        }
    }

    private func open(_ address: RedisAddress) {
        connectStartedAt = loop.now
        guard let context = redisAsyncConnect(address.host, Int32(address.port)) else {
            connectFailed("out of memory")
            return
        }
        if context.pointee.err != 0 {
            let reason = errorString(context)
            redisAsyncFree(context)
            connectFailed(reason)
            return
        }
        // hiredis 0.14 opens its socket without SOCK_CLOEXEC: a spawned child (a sandbox) would inherit it.
        _ = fcntl(context.pointee.c.fd, F_SETFD, FD_CLOEXEC)
        context.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        if ci_redis_libuv_attach(context, loop.raw) != 0 {
            redisAsyncFree(context)
            connectFailed("cannot attach to the event loop")
            return
        }
        if onPush != nil { _ = ci_redis_libuv_push_mode(context, pushHandler) }
        redisAsyncSetConnectCallback(context) { context, status in
            let connection = Unmanaged<RedisConnection>.fromOpaque(context!.pointee.data).takeUnretainedValue()
            if status == REDIS_OK {
                connection.connected()
            } else {
                // hiredis frees a context whose connect failed, right after this callback.
                let reason = errorString(context!)
                connection.context = nil
                connection.connectFailed(reason)
            }
        }
        redisAsyncSetDisconnectCallback(context) { context, _ in
            let connection = Unmanaged<RedisConnection>.fromOpaque(context!.pointee.data).takeUnretainedValue()
            let reason = errorString(context!)
            connection.context = nil
            connection.disconnected(reason)
        }
        self.context = context
    }

    private func connected() {
        state = .connected
        backoffMillis = 100
        lastError = ""
        sentAt.removeAll()
        sentHead = 0
        if everConnected { ownReconnects += 1 }
        everConnected = true
        if let context { redisEnableKeepAlive(&context.pointee.c) }
        logger.info("connected to Redis at \(primary)")
        if sentinel != nil, onPush != nil, let context {
            _ = sendRaw(context, [Array("ROLE".utf8)]) // answered through `push`
        } else if sentinel != nil {
            // Sentinel may still name a primary that was demoted: only a master is used.
            send(["ROLE"]) { [weak self] result in
                guard case .success(let value) = result, let role = value.array?.first?.text, role != "master" else { return }
                self?.drop("\(self?.primary.description ?? "") is a \(role), not the primary")
            }
        }
        for script in scripts where library?.functions[script.name] == nil {
            send(["SCRIPT", "LOAD", script.source]) { [logger] result in
                if case .failure(let error) = result { logger.error("loading script \(script.name) failed: \(error)") }
            }
        }
        loadLibrary()
        onStateChange?(true)
    }

    private func connectFailed(_ reason: String) {
        if state == .closing || state == .closed { state = .closed; return }
        state = .disconnected
        if lastError != reason { logger.warning("cannot connect to Redis at \(primary): \(reason)") }
        lastError = reason
        scheduleReconnect()
    }

    private func disconnected(_ reason: String) {
        sentAt.removeAll()
        sentHead = 0
        if state == .closing || state == .closed {
            state = .closed
            closeCompletion?()
            closeCompletion = nil
            return
        }
        state = .disconnected
        lastError = reason
        logger.warning("lost Redis at \(primary): \(reason); reconnecting")
        onStateChange?(false)
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        let delay = backoffMillis
        backoffMillis = min(backoffMillis * 2, 2_000)
        retryTimer.start(after: delay) { [unowned self] in self.connect() }
    }

    /// Drops the connection (from a timer, never inside a hiredis callback); the usual reconnect
    /// follows, which asks Sentinel again.
    func drop(_ reason: String) {
        guard state == .connected else { return }
        dropTimer.start(after: 0) { [unowned self] in
            guard self.state == .connected, let context = self.context else { return }
            self.logger.warning("dropping the Redis connection: \(reason)")
            self.lastError = reason
            context.pointee.err = REDIS_ERR_OTHER
            redisAsyncFree(context)
        }
    }

    /// Sentinel promoted another primary: leave the old one now, or retry at once if waiting.
    private func primaryMoved(to: RedisAddress) {
        switch state {
        case .connected where to.description != primary.description:
            drop("Sentinel switched the primary to \(to)")
        case .disconnected:
            retryTimer.stop()
            backoffMillis = 100
            connect()
        case .connecting:
            backoffMillis = 100
            if context != nil, to.description != primary.description { abortConnect("Sentinel switched the primary to \(to)") }
        default:
            break
        }
    }

    /// A switch may have been missed while no sentinel was watched: compare with what they say now.
    private func recheckPrimary() {
        guard state == .connected, let sentinel else { return }
        sentinel.resolve { [weak self] result in
            guard let self, case .success(let now) = result, now.description != self.primary.description else { return }
            self.drop("Sentinel names \(now) as the primary now")
        }
    }

    fileprivate func replyArrived() {
        if sentHead < sentAt.count {
            ownLatency.record(nanoseconds: EventLoop.hrtime() &- sentAt[sentHead])
            sentHead += 1
        }
        if sentHead == sentAt.count {
            sentAt.removeAll(keepingCapacity: true)
            sentHead = 0
        }
    }

    /// Gives up a connect in progress (from a timer or a sentinel event, never inside a hiredis
    /// callback; hiredis calls no callback for a context that never connected).
    private func abortConnect(_ reason: String) {
        guard state == .connecting, let context else { return }
        self.context = nil
        redisAsyncFree(context)
        connectFailed(reason)
    }

    private func checkTimeouts() {
        if state == .connecting, context != nil, loop.now - connectStartedAt > connectTimeoutMillis {
            return abortConnect("no connection within \(connectTimeoutMillis) ms")
        }
        guard state == .connected, sentHead < sentAt.count, let context else { return }
        let age = (EventLoop.hrtime() &- sentAt[sentHead]) / 1_000_000
        guard age > commandTimeoutMillis else { return }
        logger.error("Redis did not answer for \(age) ms; dropping the connection")
        lastError = "no reply for \(age) ms"
        // Runs from a libuv timer, never inside a hiredis callback, so freeing here is allowed;
        // every pending callback then gets a NULL reply and the disconnect callback reconnects.
        context.pointee.err = REDIS_ERR_OTHER
        redisAsyncFree(context)
    }
}

private final class PendingCommand {
    let completion: RedisConnection.Completion
    init(_ completion: @escaping RedisConnection.Completion) { self.completion = completion }
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

/// Sends one command in hiredis' binary-safe argv form (hiredis copies the arguments during the
/// call); answers hiredis' status.
func sendArgv(_ context: UnsafeMutablePointer<redisAsyncContext>, _ arguments: [[UInt8]],
              _ callback: ReplyCallback, _ privdata: UnsafeMutableRawPointer?) -> Int32 {
    withArgv(arguments) { redisAsyncCommandArgv(context, callback, privdata, $0, $1, $2) }
}

/// The same for a push-mode context: no callback, the replies go to its push handler.
private func sendRaw(_ context: UnsafeMutablePointer<redisAsyncContext>, _ arguments: [[UInt8]]) -> Int32 {
    withArgv(arguments) { ci_redis_send_raw(context, $0, $1, $2) }
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

/// hiredis calls this once per reply, or with a NULL reply when the connection is lost.
private let commandCallback: ReplyCallback = { context, reply, privdata in
    let pending = Unmanaged<PendingCommand>.fromOpaque(privdata!).takeRetainedValue()
    if let data = context?.pointee.data {
        Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue().replyArrived()
    }
    guard let reply else {
        pending.completion(.failure(.connectionLost("the Redis connection was lost before the reply")))
        return
    }
    let value = decode(reply.assumingMemoryBound(to: redisReply.self))
    if case .error(let message) = value {
        // A replica answers writes with READONLY: the primary moved (Sentinel failover).
        if message.hasPrefix("READONLY"), let data = context?.pointee.data {
            Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue().drop("Redis answered \(message)")
        }
        pending.completion(.failure(.server(message)))
    } else {
        pending.completion(.success(value))
    }
}

/// Every reply of a push-mode connection, in arrival order (adapter.c reads them).
private let pushHandler: ci_reply_handler = { context, reply in
    guard let reply, let data = context?.pointee.data else { return }
    let connection = Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
    connection.push(decode(reply.assumingMemoryBound(to: redisReply.self)))
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
