import Logging
import Transport

/// One Redis server: a `RedisLink` at a time, a new one after a loss (backoff 100 ms doubling to
/// 2 s). Loads the registered scripts and library on every connect. The single-server topology,
/// and the piece the others are made of: a Sentinel-found primary (`locate` asks the sentinels
/// before each connect) and each primary of a cluster. In push mode (`onPush`, for subscribers)
/// every reply goes there and commands go with `sendSubscription`.
public final class RedisNodeClient: RedisTopology {
    enum State { case disconnected, connecting, connected, closing, closed }

    private let loop: EventLoop
    private let logger: Logger
    /// The server it connects to next (with `locate`, the one last found).
    private(set) var endpoint: RedisEndpoint
    private var link: RedisLink?
    private var state = State.disconnected
    private var retryTimer: LoopTimer
    private var backoffMillis: UInt64 = 100
    private var started = false
    private var closeCompletions: [() -> Void] = []
    private var lastError = "not connected yet"
    private var everConnected = false
    private var reconnects = 0
    /// Latency of the links already closed.
    private var pastLatency = LatencyHistogram()
    let scripting: RedisScripting
    /// A FUNCTION LOAD is on its way here (calls that find the function missing meanwhile send no other).
    var libraryLoading = false

    public var commandTimeoutMillis: UInt64 = 5_000 { didSet { link?.commandTimeoutMillis = commandTimeoutMillis } }
    public var connectTimeoutMillis: UInt64 = 2_000 { didSet { link?.connectTimeoutMillis = connectTimeoutMillis } }
    public var onStateChange: ((Bool) -> Void)?
    /// Set before `start()`: push mode (pub/sub).
    var onPush: ((RedisValue) -> Void)?
    /// Set before `start()`: asked where the server is before each connect (Sentinel).
    var locate: ((@escaping (Result<RedisEndpoint, RedisError>) -> Void) -> Void)?
    /// After each connect, before `onStateChange` (Sentinel's role check).
    var onConnected: (() -> Void)?
    /// How unavailability names this Redis.
    var name: String?

    public init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger) {
        self.loop = loop
        self.endpoint = endpoint
        self.logger = logger
        scripting = RedisScripting(logger: logger)
        retryTimer = LoopTimer(loop: loop)
    }

    public var address: RedisAddress { .single(host: endpoint.host, port: endpoint.port) }
    public var primaryAddress: RedisAddress { address }
    public var isConnected: Bool { state == .connected }
    public var unavailableReason: String { "\(name ?? "Redis at \(endpoint)") is unreachable (\(lastError))" }
    public var reconnectCount: Int { reconnects }
    public var latency: LatencyHistogram {
        var total = pastLatency
        if let link { total.add(link.latency) }
        return total
    }
    /// The socket of the current link (the tests check it is close-on-exec).
    var fileDescriptor: Int32? { link?.fileDescriptor }
    var currentLink: RedisLink? { link }

    public func register(_ script: RedisScript) { scripting.register(script) }
    public func register(_ library: RedisFunctionLibrary) { scripting.register(library) }

    public func start() {
        guard !started, state == .disconnected else { return }
        started = true
        connect()
    }

    public func send(bytes arguments: [[UInt8]], _ completion: @escaping Completion) {
        guard state == .connected, let link else { return completion(.failure(.unavailable(unavailableReason))) }
        link.send(command: formatCommand(arguments), completion)
    }

    public func send(strings arguments: [String], _ completion: @escaping Completion) {
        guard state == .connected, let link else { return completion(.failure(.unavailable(unavailableReason))) }
        link.send(command: formatCommand(arguments), completion)
    }

    /// Sends a command of a push-mode client: its replies go to `onPush`. False when not connected.
    @discardableResult
    func sendSubscription(_ arguments: [String]) -> Bool {
        guard state == .connected, let link else { return false }
        return link.sendPush(arguments)
    }

    public func run(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping Completion) {
        scripting.run(script, keys: keys, arguments: arguments, on: self, completion)
    }

    func reloadLibrary() { loadLibrary() }

    func loadLibrary(_ completion: @escaping (Bool) -> Void = { _ in }) { scripting.loadLibrary(on: self, completion) }

    public func close(_ completion: @escaping () -> Void) {
        retryTimer.close()
        switch state {
        case .closed:
            completion()
        case .closing:
            closeCompletions.append(completion)
        case .disconnected, .connecting, .connected:
            state = .closing
            guard let link else {
                state = .closed
                return completion()
            }
            closeCompletions.append(completion)
            link.close()
        }
    }

    // MARK: Connection life cycle

    private func connect() {
        guard state == .disconnected else { return }
        state = .connecting
        guard let locate else { return open() }
        locate { [weak self] result in
            guard let self, self.state == .connecting, self.link == nil else { return }
            switch result {
            case .success(let found):
                if found != self.endpoint { self.logger.info("Sentinel names \(found) as the primary") }
                self.endpoint = found
                self.open()
            case .failure(let error):
                self.connectFailed(error.message)
            }
        }
    }

    private func open() {
        // Push mode reads `onPush` on each reply: an owner that lets go of a closing node clears it.
        let push: ((RedisValue) -> Void)? = onPush == nil ? nil : { [weak self] value in self?.onPush?(value) }
        let link = RedisLink(loop: loop, endpoint: endpoint, logger: logger, onPush: push)
        link.connectTimeoutMillis = connectTimeoutMillis
        link.commandTimeoutMillis = commandTimeoutMillis
        link.onConnect = { [weak self] in self?.connected() }
        link.onErrorReply = { [weak self] message in
            // A replica answers writes with READONLY: the primary moved (a failover); the
            // reconnect finds the new one (with Sentinel, asks the sentinels again).
            if message.hasPrefix("READONLY") { self?.drop("Redis answered \(message)") }
        }
        link.onClose = { [weak self, unowned link] reason in self?.ended(link, reason) }
        self.link = link
        link.open()
    }

    private func connected() {
        state = .connected
        backoffMillis = 100
        lastError = ""
        if everConnected { reconnects += 1 }
        everConnected = true
        logger.info("connected to Redis at \(endpoint)")
        onConnected?()
        scripting.prepare(self)
        onStateChange?(true)
    }

    /// The link ended: the close asked for, a failed connect, or a loss.
    private func ended(_ ended: RedisLink, _ reason: String) {
        guard ended === link else { return }
        pastLatency.add(ended.latency)
        link = nil
        libraryLoading = false
        switch state {
        case .closing, .closed:
            state = .closed
            let completions = closeCompletions
            closeCompletions.removeAll()
            completions.forEach { $0() }
        case .connecting:
            connectFailed(reason)
        case .connected:
            state = .disconnected
            lastError = reason
            logger.warning("lost Redis at \(endpoint): \(reason); reconnecting")
            onStateChange?(false)
            scheduleReconnect()
        case .disconnected:
            break
        }
    }

    private func connectFailed(_ reason: String) {
        state = .disconnected
        if lastError != reason { logger.warning("cannot connect to Redis at \(endpoint): \(reason)") }
        lastError = reason
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        let delay = backoffMillis
        backoffMillis = min(backoffMillis * 2, 2_000)
        retryTimer.start(after: delay) { [weak self] in self?.connect() }
    }

    /// Drops the connection; the usual reconnect follows (which, with Sentinel, asks again).
    func drop(_ reason: String) {
        guard state == .connected, let link else { return }
        logger.warning("dropping the Redis connection: \(reason)")
        link.abort(reason)
    }

    /// Reconnects at once: waiting for a retry, or giving up a connect to a server that is not
    /// `endpoint` (Sentinel named another primary).
    func retry(unless endpoint: RedisEndpoint?) {
        switch state {
        case .disconnected:
            retryTimer.stop()
            backoffMillis = 100
            connect()
        case .connecting:
            backoffMillis = 100
            if let link, let endpoint, link.endpoint != endpoint { link.abort("Sentinel switched the primary to \(endpoint)") }
        default:
            break
        }
    }
}
