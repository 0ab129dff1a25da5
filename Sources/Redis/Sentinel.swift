import CHiredis
import CHiredisLibUV
import Logging
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// Where to find the Redis primary through Redis Sentinel: the sentinels to ask and the name
/// they monitor the primary under (`sentinel monitor NAME ...` in their configuration).
public struct SentinelSettings: Sendable, CustomStringConvertible {
    public var sentinels: [RedisAddress]
    public var masterName: String

    public init(sentinels: [RedisAddress], masterName: String) {
        self.sentinels = sentinels
        self.masterName = masterName
    }

    /// "host:port,host:port" (a sentinel's port defaults to 26379); nil when a part is malformed or
    /// the list or the name is empty.
    public init?(parsing list: String, masterName: String) {
        var sentinels: [RedisAddress] = []
        for part in list.split(separator: ",") {
            let text = part.trimmingSpaces
            guard !text.isEmpty else { continue }
            guard var address = RedisAddress(parsing: String(text)) else { return nil }
            if !text.contains(":") { address.port = 26379 }
            sentinels.append(address)
        }
        guard !sentinels.isEmpty, !masterName.isEmpty else { return nil }
        self.init(sentinels: sentinels, masterName: masterName)
    }

    public var description: String {
        "primary '\(masterName)' via sentinels \(sentinels.map(\.description).joined(separator: ","))"
    }
}

extension RedisAddress {
    /// An address found through Sentinel: every (re)connect asks the sentinels for the primary.
    public init(sentinel: SentinelSettings) {
        self.init(host: "", port: 0)
        self.sentinel = sentinel
    }
}

private extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}

/// Finds the primary for a `RedisConnection` and tells it when the primary moves.
///
/// - `resolve` asks the sentinels one after another (the last one that answered first), each with
///   a short connection of its own: `SENTINEL get-master-addr-by-name NAME`, bounded by
///   `timeoutMillis`, all on the connection's libuv loop (hiredis async, never blocking).
/// - `watch` keeps one subscription to `+switch-master` on one sentinel (moving to the next one
///   when it goes away) and calls `onSwitch` when the sentinels promote a new primary of this
///   name. After the subscription comes back from an outage it calls `onRecheck`, since a switch
///   may have been announced meanwhile.
final class SentinelClient {
    let settings: SentinelSettings
    private let loop: EventLoop
    private let logger: Logger
    private var preferred = 0
    private var watchIndex = 0
    private var watcher: SentinelLink?
    private var watchRetry: LoopTimer?
    private var watchedBefore = false
    private var closed = false
    var timeoutMillis: UInt64 = 1_000
    var onSwitch: ((RedisAddress) -> Void)?
    var onRecheck: (() -> Void)?

    init(settings: SentinelSettings, loop: EventLoop, logger: Logger) {
        self.settings = settings
        self.loop = loop
        self.logger = logger
    }

    /// The current primary, or why no sentinel could say.
    func resolve(_ completion: @escaping (Result<RedisAddress, RedisError>) -> Void) {
        ask(index: preferred, tried: 0, errors: [], completion)
    }

    private func ask(index: Int, tried: Int, errors: [String], _ completion: @escaping (Result<RedisAddress, RedisError>) -> Void) {
        guard !closed else { return completion(.failure(.unavailable("closed"))) }
        guard tried < settings.sentinels.count else {
            return completion(.failure(.unavailable("no sentinel named the primary '\(settings.masterName)': " + errors.joined(separator: "; "))))
        }
        let sentinel = settings.sentinels[index]
        let next = (index + 1) % settings.sentinels.count
        SentinelLink.query(loop: loop, address: sentinel, timeoutMillis: timeoutMillis,
                           command: ["SENTINEL", "get-master-addr-by-name", settings.masterName]) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let value):
                if let parts = value.array, parts.count == 2, let host = parts[0].text, !host.isEmpty,
                   let port = parts[1].integer, (1...65535).contains(port) {
                    self.preferred = index
                    completion(.success(RedisAddress(host: host, port: port)))
                } else {
                    let why = value == .null ? "does not monitor '\(self.settings.masterName)'" : "answered \(value)"
                    self.ask(index: next, tried: tried + 1, errors: errors + ["\(sentinel) \(why)"], completion)
                }
            case .failure(let error):
                self.ask(index: next, tried: tried + 1, errors: errors + ["\(sentinel): \(error.message)"], completion)
            }
        }
    }

    /// Subscribes to +switch-master on one sentinel, for as long as this client lives.
    func watch() {
        guard !closed, watcher == nil else { return }
        let sentinel = settings.sentinels[watchIndex]
        let link = SentinelLink(loop: loop, address: sentinel, timeoutMillis: timeoutMillis)
        watcher = link
        link.onSubscribed = { [weak self] in
            guard let self else { return }
            if self.watchedBefore { self.onRecheck?() }
            self.watchedBefore = true
        }
        link.onMessage = { [weak self] payload in
            // "<name> <old host> <old port> <new host> <new port>"
            let words = payload.split(separator: " ").map(String.init)
            guard let self, words.count == 5, words[0] == self.settings.masterName, let port = Int(words[4]) else { return }
            self.logger.notice("sentinel \(sentinel): +switch-master \(words[0]) from \(words[1]):\(words[2]) to \(words[3]):\(port)")
            self.onSwitch?(RedisAddress(host: words[3], port: port))
        }
        link.onClose = { [weak self] reason in
            guard let self, !self.closed else { return }
            self.watcher = nil
            self.logger.debug("sentinel \(sentinel) watch ended (\(reason)); trying the next sentinel")
            self.watchIndex = (self.watchIndex + 1) % self.settings.sentinels.count
            if self.watchRetry == nil { self.watchRetry = LoopTimer(loop: self.loop) }
            self.watchRetry?.start(after: 500) { [weak self] in self?.watch() }
        }
        link.subscribe(channel: "+switch-master")
    }

    func close() {
        closed = true
        watchRetry?.close()
        watchRetry = nil
        watcher?.close()
        watcher = nil
    }
}

/// One hiredis async connection to a sentinel: either one command (`query`) or one subscription
/// (`subscribe`). It keeps itself alive (retained into the context's `data`) until hiredis is
/// done with the context: the connect-failure or disconnect callback, or its own free of a
/// context that never connected (after which hiredis calls neither).
final class SentinelLink {
    private let loop: EventLoop
    private let address: RedisAddress
    private let timeoutMillis: UInt64
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var timer: LoopTimer?
    private var isConnected = false
    private var command: [String] = []
    private var subscription: String?
    private var reply: ((Result<RedisValue, RedisError>) -> Void)?
    private var lastError = "connection closed"
    var onSubscribed: (() -> Void)?
    var onMessage: ((String) -> Void)?
    var onClose: ((String) -> Void)?

    init(loop: EventLoop, address: RedisAddress, timeoutMillis: UInt64) {
        self.loop = loop
        self.address = address
        self.timeoutMillis = timeoutMillis
    }

    static func query(loop: EventLoop, address: RedisAddress, timeoutMillis: UInt64, command: [String],
                      _ completion: @escaping (Result<RedisValue, RedisError>) -> Void) {
        let link = SentinelLink(loop: loop, address: address, timeoutMillis: timeoutMillis)
        link.command = command
        link.reply = completion
        link.open()
    }

    func subscribe(channel: String) {
        subscription = channel
        open()
    }

    /// Ends the link (no callbacks beyond `onClose`).
    func close() {
        onSubscribed = nil
        onMessage = nil
        abort("closed")
    }

    private func open() {
        guard let context = redisAsyncConnect(address.host, Int32(address.port)) else { return finish("out of memory") }
        if context.pointee.err != 0 {
            let reason = sentinelErrorString(UnsafePointer(context))
            redisAsyncFree(context)
            return finish(reason)
        }
        // hiredis 0.14 opens its socket without SOCK_CLOEXEC: a sandbox the runner spawns would
        // inherit the Sentinel link as it would a Redis one (RedisConnection does the same).
        _ = fcntl(context.pointee.c.fd, F_SETFD, FD_CLOEXEC)
        if ci_redis_libuv_attach(context, loop.raw) != 0 {
            redisAsyncFree(context)
            return finish("cannot attach to the event loop")
        }
        context.pointee.data = Unmanaged.passRetained(self).toOpaque()
        self.context = context
        redisAsyncSetConnectCallback(context) { context, status in
            let link = Unmanaged<SentinelLink>.fromOpaque(context!.pointee.data).takeUnretainedValue()
            if status == REDIS_OK {
                link.connected()
            } else {
                // hiredis frees the context right after this callback.
                link.context = nil
                link.finish(sentinelErrorString(context!))
                Unmanaged<SentinelLink>.fromOpaque(context!.pointee.data).release()
            }
        }
        redisAsyncSetDisconnectCallback(context) { context, _ in
            let link = Unmanaged<SentinelLink>.fromOpaque(context!.pointee.data).takeUnretainedValue()
            link.context = nil
            link.finish(context!.pointee.c.err != 0 ? sentinelErrorString(context!) : link.lastError)
            Unmanaged<SentinelLink>.fromOpaque(context!.pointee.data).release()
        }
        let timer = LoopTimer(loop: loop)
        self.timer = timer
        timer.start(after: timeoutMillis) { [unowned self] in self.abort("no answer within \(self.timeoutMillis) ms") }
    }

    private func connected() {
        guard let context else { return }
        isConnected = true
        redisEnableKeepAlive(&context.pointee.c)
        let arguments = subscription.map { ["SUBSCRIBE", $0] } ?? command
        _ = sendArgv(context, arguments.map { Array($0.utf8) }, sentinelReplyCallback, nil)
    }

    /// A reply (or, for a subscription, any push). Runs inside a hiredis callback: never frees here.
    fileprivate func received(_ value: RedisValue) {
        if subscription != nil {
            guard let parts = value.array, parts.count >= 3, let kind = parts[0].text else { return }
            if kind == "subscribe" {
                // Subscribed: from here on the link lives until the sentinel goes away.
                timer?.close()
                timer = nil
                onSubscribed?()
            } else if kind == "message", let payload = parts[2].text {
                onMessage?(payload)
            }
            return
        }
        if let reply {
            self.reply = nil
            if case .error(let message) = value { reply(.failure(.server(message))) } else { reply(.success(value)) }
        }
        lastError = "done"
        if let context { redisAsyncDisconnect(context) }
    }

    /// From a timer or from the owner, never from inside a hiredis callback.
    private func abort(_ reason: String) {
        lastError = reason
        guard let context else { return finish(reason) }
        if isConnected {
            // hiredis calls the disconnect callback, which finishes and releases.
            context.pointee.err = REDIS_ERR_OTHER
            redisAsyncFree(context)
        } else {
            // Still connecting: hiredis calls no callback, so finish and release here.
            self.context = nil
            redisAsyncFree(context)
            finish(reason)
            Unmanaged.passUnretained(self).release()
        }
    }

    private func finish(_ reason: String) {
        timer?.close()
        timer = nil
        if let reply {
            self.reply = nil
            reply(.failure(.unavailable(reason)))
        }
        if let onClose {
            self.onClose = nil
            onClose(reason)
        }
    }
}

private func sentinelErrorString(_ context: UnsafePointer<redisAsyncContext>) -> String {
    guard context.pointee.c.err != 0 else { return "connection closed" }
    return withUnsafeBytes(of: context.pointee.c.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

private let sentinelReplyCallback: ReplyCallback = { context, reply, _ in
    guard let reply, let data = context?.pointee.data else { return }
    Unmanaged<SentinelLink>.fromOpaque(data).takeUnretainedValue().received(decode(reply.assumingMemoryBound(to: redisReply.self)))
}
