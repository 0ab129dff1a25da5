import Logging
import Transport

/// A Redis Cluster: the slot map, one `RedisNodeClient` per primary (a node), and the routing of
/// each command to its slot's node. Also what a cluster `RedisSubscriber` stands on (`onPush`).
///
/// The map is read at start, again after every MOVED (the node named there is used at once), when
/// a node is lost, and every second while some primary is unreachable, which is how a failover is
/// found: the replica that took over is named primary once the cluster promoted it. Nodes no
/// longer primaries are closed. Commands to an unreachable primary fail at once with
/// `unavailable` (as a single Redis down does): callers answer 503 or retry.
public final class RedisClusterClient: RedisTopology {
    let seeds: [RedisEndpoint]
    private let loop: EventLoop
    private let logger: Logger
    private var map = SlotMap()
    private var mapRead = false
    private(set) var nodes: [RedisEndpoint: RedisNodeClient] = [:]
    let scripting: RedisScripting
    private var refreshing = false
    private var refreshAgain = false
    private var watchdog: LoopTimer
    private var retryTimer: LoopTimer
    private var deferred: [() -> Void] = []
    private var started = false
    private var closed = false
    private var up = false
    private var lastError = "the slot map was not read yet"
    private var closedReconnects = 0
    private var closedLatency = LatencyHistogram()

    public var commandTimeoutMillis: UInt64 = 5_000 { didSet { nodes.values.forEach { $0.commandTimeoutMillis = commandTimeoutMillis } } }
    public var connectTimeoutMillis: UInt64 = 2_000 { didSet { nodes.values.forEach { $0.connectTimeoutMillis = connectTimeoutMillis } } }
    public var onStateChange: ((Bool) -> Void)?
    /// Pub/sub: makes each node a push-mode client whose replies come here. Set before `start()`.
    var onPush: ((RedisNodeClient, RedisValue) -> Void)?
    /// Each node's (re)connect and loss.
    var onNodeState: ((RedisNodeClient, Bool) -> Void)?
    /// After every map read that changed a slot's owner.
    var onMapChange: (() -> Void)?

    init(seeds: [RedisEndpoint], loop: EventLoop, logger: Logger) {
        self.seeds = seeds
        self.loop = loop
        self.logger = logger
        scripting = RedisScripting(logger: logger)
        watchdog = LoopTimer(loop: loop)
        retryTimer = LoopTimer(loop: loop)
    }

    public var address: RedisAddress { .cluster(seeds: seeds) }
    public var primaryAddress: RedisAddress { address }
    /// Every slot has a primary and every primary's node is connected.
    public var isConnected: Bool { up }

    public var unavailableReason: String {
        if !mapRead { return "Redis Cluster (\(seeds.map(\.description).joined(separator: ","))) is unreachable (\(lastError))" }
        if let down = map.primaries.first(where: { nodes[$0]?.isConnected != true }), let node = nodes[down] { return node.unavailableReason }
        return "Redis Cluster is unavailable (\(lastError))"
    }

    public var reconnectCount: Int { nodes.values.reduce(closedReconnects) { $0 + $1.reconnectCount } }

    public var latency: LatencyHistogram {
        nodes.values.reduce(into: closedLatency) { $0.add($1.latency) }
    }

    public func register(_ script: RedisScript) {
        scripting.register(script)
        nodes.values.forEach { $0.register(script) }
    }

    public func register(_ library: RedisFunctionLibrary) {
        scripting.register(library)
        nodes.values.forEach { $0.register(library) }
    }

    /// Loads the library again on every connected primary.
    func reloadLibrary() {
        nodes.values.filter(\.isConnected).forEach { $0.loadLibrary() }
    }

    public func start() {
        started = true
        watchdog.start(after: 1_000, repeat: 1_000) { [unowned self] in
            if !self.up { self.refresh() }
        }
        watchdog.unref()
        refresh()
    }

    public func close(_ completion: @escaping () -> Void) {
        closed = true
        watchdog.close()
        retryTimer.close()
        deferred.removeAll()
        let closing = Array(nodes.values)
        nodes.removeAll()
        var remaining = closing.count
        guard remaining > 0 else { return completion() }
        for node in closing {
            // Nothing reaches the owner any more (it may be gone before the nodes are), and the
            // node lives until its close completes.
            node.onStateChange = nil
            node.onPush = nil
            node.close {
                withExtendedLifetime(node) {}
                remaining -= 1
                if remaining == 0 { completion() }
            }
        }
    }

    public func run(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping Completion) {
        scripting.run(script, keys: keys, arguments: arguments, on: self, completion)
    }

    // MARK: Routing

    /// The node of the primary that owns `slot`, if the map names one.
    func node(forSlot slot: Int) -> RedisNodeClient? {
        let owner = map.owners[slot]
        guard owner >= 0, !closed else { return nil }
        return node(for: map.primaries[Int(owner)])
    }

    /// A connected node for a keyless command.
    private var anyNode: RedisNodeClient? {
        map.primaries.lazy.compactMap { self.nodes[$0] }.first { $0.isConnected }
    }

    public func send(bytes arguments: [[UInt8]], _ completion: @escaping Completion) {
        route(arguments, tries: 0, completion)
    }

    /// `tries`: the TRYAGAIN answers so far, counted across the retries so that a slot left half
    /// migrated fails the command (unavailable) instead of retrying it forever.
    private func route(_ arguments: [[UInt8]], tries: Int, _ completion: @escaping Completion) {
        switch CommandKeys.slot(of: arguments) {
        case .failure(let error):
            logger.error("refused a Redis command: \(error.message)")
            completion(.failure(error))
        case .success(let slot):
            let target = slot.map(node(forSlot:)) ?? anyNode
            guard let target else { return completion(.failure(.unavailable(unavailableReason))) }
            dispatch(arguments, to: target, asking: false, redirects: 0, tries: tries, completion)
        }
    }

    private func dispatch(_ arguments: [[UInt8]], to node: RedisNodeClient, asking: Bool, redirects: Int, tries: Int,
                          _ completion: @escaping Completion) {
        // Redirected to a node whose connection is still opening (a new primary): wait for it a little.
        if redirects > 0, !node.isConnected, redirects < 20 {
            return later { self.dispatch(arguments, to: node, asking: asking, redirects: redirects + 1, tries: tries, completion) }
        }
        if asking { node.send(["ASKING"]) { _ in } }
        node.send(bytes: arguments) { [weak self] result in
            guard let self, !self.closed, case .failure(let error) = result else { return completion(result) }
            if error.isUnavailable {
                self.refresh()
                return completion(result)
            }
            if let (ask, slot, to) = redirection(error.message), redirects < 25 {
                if !ask {
                    self.logger.info("slot \(slot) moved to \(to); reading the slot map again")
                    self.noteMoved(slot, to: to)
                    self.refresh()
                }
                return self.dispatch(arguments, to: self.node(for: to), asking: ask, redirects: redirects + 1, tries: tries,
                                     completion)
            }
            if error.message.hasPrefix("TRYAGAIN") {
                // A multi-key request in a slot being migrated, its keys split for a moment.
                guard tries < 20 else {
                    return completion(.failure(.unavailable("Redis Cluster: \(error.message) (a slot stays half migrated)")))
                }
                return self.later { self.route(arguments, tries: tries + 1, completion) }
            }
            if error.message.hasPrefix("CLUSTERDOWN") {
                self.refresh()
                return completion(.failure(.unavailable("Redis Cluster: \(error.message)")))
            }
            completion(result)
        }
    }

    /// Runs `action` in 50 ms (one timer for every deferred retry).
    private func later(_ action: @escaping () -> Void) {
        deferred.append(action)
        guard deferred.count == 1 else { return }
        retryTimer.start(after: 50) { [unowned self] in
            let actions = self.deferred
            self.deferred.removeAll()
            actions.forEach { $0() }
        }
    }

    /// MOVED says who owns the slot now: use it until the next map read says more.
    func noteMoved(_ slot: Int, to: RedisEndpoint) {
        if let index = map.primaries.firstIndex(of: to) {
            map.owners[slot] = Int32(index)
        } else {
            map.primaries.append(to)
            map.owners[slot] = Int32(map.primaries.count - 1)
        }
        onMapChange?()
    }

    /// The node at `endpoint`, opened now if there is none.
    /// (Never after `close`: every node opened is closed by it.)
    private func node(for endpoint: RedisEndpoint) -> RedisNodeClient {
        if let node = nodes[endpoint] { return node }
        let node = RedisNodeClient(loop: loop, endpoint: endpoint, logger: logger)
        node.commandTimeoutMillis = commandTimeoutMillis
        node.connectTimeoutMillis = connectTimeoutMillis
        scripting.scripts.forEach(node.register)
        if let library = scripting.library { node.register(library) }
        if let onPush { node.onPush = { [unowned node] value in onPush(node, value) } }
        node.onStateChange = { [unowned self, unowned node] connected in
            self.onNodeState?(node, connected)
            if !connected { self.refresh() }
            self.updateState()
        }
        nodes[endpoint] = node
        if started { node.start() }
        return node
    }

    private func updateState() {
        let now = mapRead && map.isComplete && map.primaries.allSatisfy { nodes[$0]?.isConnected == true }
        guard now != up else { return }
        up = now
        logger.info(now ? "Redis Cluster: every primary connected (\(map.primaries.count))" : "Redis Cluster: a primary is unreachable")
        onStateChange?(now)
    }

    // MARK: The slot map

    /// Reads the map from the first node that answers: connected primaries first, then every node
    /// seen, then the seeds. One read at a time; a request during one causes one more after it.
    func refresh() {
        guard started, !closed else { return }
        if refreshing { refreshAgain = true; return }
        refreshing = true
        var candidates: [RedisEndpoint] = map.primaries.filter { nodes[$0]?.isConnected == true }
        for endpoint in map.primaries + map.nodes + seeds where !candidates.contains(endpoint) {
            candidates.append(endpoint)
        }
        ask(candidates, index: 0, errors: [])
    }

    private func ask(_ candidates: [RedisEndpoint], index: Int, errors: [String]) {
        guard !closed else { return }
        guard index < candidates.count else {
            lastError = "no node answered CLUSTER SHARDS: " + errors.joined(separator: "; ")
            if mapRead { logger.warning("\(lastError)") } else { logger.warning("cannot read the Redis Cluster slot map: \(lastError)") }
            return refreshDone()
        }
        let endpoint = candidates[index]
        query(endpoint, ["CLUSTER", "SHARDS"]) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let value):
                if let map = SlotMap(shards: value, asked: endpoint), map.isComplete { return self.apply(map, from: endpoint) }
                self.ask(candidates, index: index + 1, errors: errors + ["\(endpoint): the map is incomplete"])
            case .failure(let error) where !error.isUnavailable:
                // Before Redis 7: CLUSTER SLOTS.
                self.query(endpoint, ["CLUSTER", "SLOTS"]) { [weak self] result in
                    guard let self else { return }
                    if case .success(let value) = result, let map = SlotMap(slots: value, asked: endpoint), map.isComplete {
                        return self.apply(map, from: endpoint)
                    }
                    self.ask(candidates, index: index + 1, errors: errors + ["\(endpoint): \(error.message)"])
                }
            case .failure(let error):
                self.ask(candidates, index: index + 1, errors: errors + ["\(endpoint): \(error.message)"])
            }
        }
    }

    /// On the node's client when it has one (not in push mode), else on a link of its own for this one command.
    private func query(_ endpoint: RedisEndpoint, _ command: [String], _ completion: @escaping Completion) {
        if onPush == nil, let node = nodes[endpoint], node.isConnected { return node.send(command, completion) }
        RedisLink.query(loop: loop, endpoint: endpoint, timeoutMillis: connectTimeoutMillis, logger: logger, command: command, completion)
    }

    private func apply(_ fresh: SlotMap, from endpoint: RedisEndpoint) {
        // A read that was under way when the client closed opens nothing.
        guard !closed else { return }
        let changed = !mapRead || fresh.owners.indices.contains { map.primaries[safe: map.owners[$0]] != fresh.primaries[Int(fresh.owners[$0])] }
        if changed {
            logger.info("Redis Cluster slot map from \(endpoint): primaries \(fresh.primaries.map(\.description).joined(separator: ", "))")
        }
        map = fresh
        mapRead = true
        lastError = ""
        for primary in map.primaries { _ = node(for: primary) }
        for (endpoint, node) in nodes where !map.primaries.contains(endpoint) {
            // No longer a primary (failed over, or emptied by a reshard): close once its replies are in.
            logger.info("closing the Redis Cluster link to \(endpoint): not a primary any more")
            nodes[endpoint] = nil
            closedReconnects += node.reconnectCount
            closedLatency.add(node.latency)
            node.onStateChange = nil
            node.onPush = nil
            node.close { withExtendedLifetime(node) {} }
        }
        if changed { onMapChange?() }
        updateState()
        refreshDone()
    }

    private func refreshDone() {
        refreshing = false
        if refreshAgain {
            refreshAgain = false
            refresh()
        }
    }
}

private extension Array where Element == RedisEndpoint {
    subscript(safe index: Int32) -> RedisEndpoint? { index >= 0 && Int(index) < count ? self[Int(index)] : nil }
}
