import Logging
import Transport

/// The primary that Redis Sentinel names: a `RedisNodeClient` that asks the sentinels where the
/// primary is before each connect, checks that what it reached is a master (ROLE), and moves as
/// soon as the sentinels announce a switch. (A demoted primary answering READONLY is left by the
/// node itself, as with any topology.)
public final class RedisSentinelClient: RedisTopology {
    public let address: RedisAddress
    private let node: RedisNodeClient
    private let sentinels: Sentinels

    init(loop: EventLoop, sentinels: [RedisEndpoint], master: String, logger: Logger) {
        address = .sentinel(sentinels: sentinels, master: master)
        // Its endpoint is a placeholder until the sentinels name the primary.
        node = RedisNodeClient(loop: loop, endpoint: RedisEndpoint(host: "", port: 0), logger: logger)
        self.sentinels = Sentinels(sentinels: sentinels, master: master, loop: loop, logger: logger)
        node.name = "Redis (\(address))"
        node.locate = { [unowned self] found in self.sentinels.resolve(found) }
        node.onConnected = { [unowned self] in self.checkRole() }
        self.sentinels.onSwitch = { [unowned self] to in
            if self.node.isConnected, to != self.node.endpoint {
                self.node.drop("Sentinel switched the primary to \(to)")
            } else {
                self.node.retry(unless: to)
            }
        }
        // A switch may have been missed while no sentinel was watched: compare with what they say now.
        self.sentinels.onRecheck = { [unowned self] in
            guard self.node.isConnected else { return }
            self.sentinels.resolve { [weak self] result in
                guard let self, case .success(let now) = result, now != self.node.endpoint else { return }
                self.node.drop("Sentinel names \(now) as the primary now")
            }
        }
    }

    /// Sets push mode on its node (the subscriber's), before `start()`.
    var onPush: ((RedisValue) -> Void)? {
        get { node.onPush }
        set {
            node.onPush = newValue.map { onPush in
                { [unowned self] value in
                    // The answer to the ROLE check (see `checkRole`) comes as a push too.
                    if let role = value.array?.first?.text, ["master", "slave", "sentinel"].contains(role) {
                        if role != "master" { self.node.drop("\(self.node.endpoint) is a \(role), not the primary") }
                        return
                    }
                    onPush(value)
                }
            }
        }
    }

    /// Sentinel may still name a primary that was demoted: only a master is used.
    private func checkRole() {
        if node.onPush != nil { return _ = node.sendSubscription(["ROLE"]) }
        node.send(["ROLE"]) { [weak self] result in
            guard let self, case .success(let value) = result, let role = value.array?.first?.text, role != "master" else { return }
            self.node.drop("\(self.node.endpoint) is a \(role), not the primary")
        }
    }

    /// The primary last found (until the sentinels named one: the sentinel address).
    public var primaryAddress: RedisAddress { node.endpoint.port == 0 ? address : node.address }
    public var isConnected: Bool { node.isConnected }
    public var unavailableReason: String { node.unavailableReason }
    public var reconnectCount: Int { node.reconnectCount }
    public var latency: LatencyHistogram { node.latency }
    public var commandTimeoutMillis: UInt64 {
        get { node.commandTimeoutMillis }
        set { node.commandTimeoutMillis = newValue }
    }
    public var connectTimeoutMillis: UInt64 {
        get { node.connectTimeoutMillis }
        set { node.connectTimeoutMillis = newValue }
    }
    public var onStateChange: ((Bool) -> Void)? {
        get { node.onStateChange }
        set { node.onStateChange = newValue }
    }
    var scripting: RedisScripting { node.scripting }
    /// The socket of the link to the primary, and of the sentinel link watching for switches
    /// (the tests check both are close-on-exec).
    var fileDescriptor: Int32? { node.fileDescriptor }
    var sentinelFileDescriptor: Int32? { sentinels.watchFileDescriptor }

    public func register(_ script: RedisScript) { node.register(script) }
    public func register(_ library: RedisFunctionLibrary) { node.register(library) }
    func reloadLibrary() { node.reloadLibrary() }

    public func start() {
        sentinels.watch()
        node.start()
    }

    public func send(bytes arguments: [[UInt8]], _ completion: @escaping Completion) { node.send(bytes: arguments, completion) }

    public func send(strings arguments: [String], _ completion: @escaping Completion) { node.send(strings: arguments, completion) }

    @discardableResult
    func sendSubscription(_ arguments: [String]) -> Bool { node.sendSubscription(arguments) }

    public func run(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping Completion) {
        node.run(script, keys: keys, arguments: arguments, completion)
    }

    public func close(_ completion: @escaping () -> Void) {
        sentinels.close()
        node.close(completion)
    }
}

/// The sentinels of one primary: where it is now, and when it moves.
///
/// - `resolve` asks the sentinels one after another (the last one that answered first), each on a
///   short link of its own (`RedisLink.query`): `SENTINEL get-master-addr-by-name NAME`, bounded by
///   `timeoutMillis`, all on the loop (hiredis async, never blocking).
/// - `watch` keeps one subscription to `+switch-master` on one sentinel (a push-mode link, moving
///   to the next sentinel when it goes away) and calls `onSwitch` when the sentinels promote a new
///   primary of this name. After the subscription comes back from an outage it calls
///   `onRecheck`, since a switch may have been announced meanwhile.
final class Sentinels {
    let sentinels: [RedisEndpoint]
    let master: String
    private let loop: EventLoop
    private let logger: Logger
    private var preferred = 0
    private var watchIndex = 0
    private var watcher: RedisLink?
    private var watchRetry: LoopTimer?
    private var confirmTimer: LoopTimer?
    private var watchedBefore = false
    private var closed = false
    var timeoutMillis: UInt64 = 1_000
    var onSwitch: ((RedisEndpoint) -> Void)?
    var onRecheck: (() -> Void)?

    init(sentinels: [RedisEndpoint], master: String, loop: EventLoop, logger: Logger) {
        self.sentinels = sentinels
        self.master = master
        self.loop = loop
        self.logger = logger
    }

    var watchFileDescriptor: Int32? { watcher?.fileDescriptor }

    /// The current primary, or why no sentinel could say.
    func resolve(_ completion: @escaping (Result<RedisEndpoint, RedisError>) -> Void) {
        ask(index: preferred, tried: 0, errors: [], completion)
    }

    private func ask(index: Int, tried: Int, errors: [String], _ completion: @escaping (Result<RedisEndpoint, RedisError>) -> Void) {
        guard !closed else { return completion(.failure(.unavailable("closed"))) }
        guard tried < sentinels.count else {
            return completion(.failure(.unavailable("no sentinel named the primary '\(master)': " + errors.joined(separator: "; "))))
        }
        let sentinel = sentinels[index]
        let next = (index + 1) % sentinels.count
        RedisLink.query(loop: loop, endpoint: sentinel, timeoutMillis: timeoutMillis, logger: logger,
                        command: ["SENTINEL", "get-master-addr-by-name", master]) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let value):
                if let parts = value.array, parts.count == 2, let host = parts[0].text, !host.isEmpty,
                   let port = parts[1].integer, (1...65535).contains(port) {
                    self.preferred = index
                    completion(.success(RedisEndpoint(host: host, port: port)))
                } else {
                    let why = value == .null ? "does not monitor '\(self.master)'" : "answered \(value)"
                    self.ask(index: next, tried: tried + 1, errors: errors + ["\(sentinel) \(why)"], completion)
                }
            case .failure(let error):
                self.ask(index: next, tried: tried + 1, errors: errors + ["\(sentinel): \(error.message)"], completion)
            }
        }
    }

    /// Subscribes to +switch-master on one sentinel, for as long as this lives.
    func watch() {
        guard !closed, watcher == nil else { return }
        let sentinel = sentinels[watchIndex]
        var subscribed = false
        let link = RedisLink(loop: loop, endpoint: sentinel, logger: logger) { [weak self] value in
            guard let self, let parts = value.array, parts.count >= 3, let kind = parts[0].text else { return }
            if kind == "subscribe" {
                // Subscribed: from here on the link lives until the sentinel goes away.
                subscribed = true
                if self.watchedBefore { self.onRecheck?() }
                self.watchedBefore = true
            } else if kind == "message", let payload = parts[2].text {
                self.switched(payload, by: sentinel)
            }
        }
        link.connectTimeoutMillis = timeoutMillis
        watcher = link
        link.onConnect = { [unowned link] in link.sendPush(["SUBSCRIBE", "+switch-master"]) }
        link.onClose = { [weak self] reason in
            guard let self, !self.closed else { return }
            self.watcher = nil
            self.logger.debug("sentinel \(sentinel) watch ended (\(reason)); trying the next sentinel")
            self.watchIndex = (self.watchIndex + 1) % self.sentinels.count
            if self.watchRetry == nil { self.watchRetry = LoopTimer(loop: self.loop) }
            self.watchRetry?.start(after: 500) { [weak self] in self?.watch() }
        }
        link.open()
        // A sentinel that accepts but never confirms the subscription is left for the next one.
        if confirmTimer == nil { confirmTimer = LoopTimer(loop: loop) }
        let timeout = timeoutMillis
        confirmTimer?.start(after: timeout) { [weak link] in
            if !subscribed { link?.abort("no subscription within \(timeout) ms") }
        }
    }

    /// "<name> <old host> <old port> <new host> <new port>"
    private func switched(_ payload: String, by sentinel: RedisEndpoint) {
        let words = payload.split(separator: " ").map(String.init)
        guard words.count == 5, words[0] == master, let port = Int(words[4]) else { return }
        logger.notice("sentinel \(sentinel): +switch-master \(words[0]) from \(words[1]):\(words[2]) to \(words[3]):\(port)")
        onSwitch?(RedisEndpoint(host: words[3], port: port))
    }

    func close() {
        closed = true
        watchRetry?.close()
        watchRetry = nil
        confirmTimer?.close()
        confirmTimer = nil
        // A subscription has no reply to wait for: end it now.
        watcher?.abort("closed")
        watcher = nil
    }
}
