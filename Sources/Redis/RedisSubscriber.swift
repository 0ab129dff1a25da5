import Logging
import Transport

/// A connection in subscriber mode. A channel is subscribed while it has a listener and
/// unsubscribed when the last one goes, so a gateway receives only the sessions it serves.
/// After a reconnect every channel is subscribed again; messages published meanwhile are lost,
/// so `onStateChange(true)` is the listeners' cue to catch up from Redis.
///
/// Channels are sharded (SSUBSCRIBE; publishers SPUBLISH), with one Redis as with Redis Cluster.
/// With a cluster (`.cluster`) each channel is subscribed on the primary that owns its slot,
/// one push-mode node per primary, and moved when its slot moves: the server ends the
/// subscription with a `sunsubscribe` push (or answers SSUBSCRIBE with MOVED), and the channel is
/// subscribed again on the slot's new owner, after which `onStateChange(true)` lets listeners
/// catch up on what was published in between.
public final class RedisSubscriber {
    public typealias Handler = ([UInt8]) -> Void

    /// One server (a single Redis, or the primary Sentinel names) in push mode.
    private let connection: RedisPushClient?
    /// A Redis Cluster whose nodes are in push mode.
    private let router: RedisClusterClient?
    private let logger: Logger
    private var listeners: [String: [(id: Int, handler: Handler)]] = [:]
    private var confirmed: Set<String> = []
    private var waiting: [String: [(Bool) -> Void]] = [:]
    /// With a cluster: the node each channel was last subscribed on.
    private var subscribedOn: [String: RedisEndpoint] = [:]
    /// With a cluster: channels being moved; their next confirmation is a catch-up cue.
    private var moving: Set<String> = []
    private var nextID = 0

    /// Called with true after every (re)connect, once the channels are being resubscribed.
    public var onStateChange: ((Bool) -> Void)?

    public init(loop: EventLoop, address: RedisAddress, logger: Logger) {
        self.logger = logger
        let connection: RedisPushClient
        switch address {
        case .cluster(let seeds):
            self.connection = nil
            let router = RedisClusterClient(seeds: seeds, loop: loop, logger: logger)
            self.router = router
            router.onPush = { [unowned self] node, value in self.received(value, from: node.endpoint) }
            router.onNodeState = { [unowned self] node, up in self.linkChanged(node, up) }
            router.onMapChange = { [unowned self] in self.follow() }
            router.onStateChange = { [unowned self] up in self.onStateChange?(up) }
            return
        case .single(let host, let port):
            connection = RedisNodeClient(loop: loop, endpoint: RedisEndpoint(host: host, port: port), logger: logger)
        case .sentinel(let sentinels, let master):
            connection = RedisSentinelClient(loop: loop, sentinels: sentinels, master: master, logger: logger)
        }
        router = nil
        self.connection = connection
        connection.onPush = { [unowned self] value in self.received(value, from: nil) }
        connection.onStateChange = { [unowned self, unowned connection] up in
            self.confirmed.removeAll()
            if up {
                if !self.listeners.isEmpty { connection.sendSubscription(["SSUBSCRIBE"] + self.listeners.keys) }
            } else {
                self.failWaiting { _ in true }
            }
            self.onStateChange?(up)
        }
    }

    public var isConnected: Bool { router?.isConnected ?? connection?.isConnected ?? false }
    public var reconnectCount: Int { router?.reconnectCount ?? connection?.reconnectCount ?? 0 }
    public var channelCount: Int { listeners.count }

    public func start() {
        router?.start()
        connection?.start()
    }

    public func close(_ completion: @escaping () -> Void) {
        if let router { return router.close(completion) }
        connection?.close(completion)
    }

    /// Adds a listener. `ready` runs once the subscription is confirmed (at once if it already
    /// is), or with false when Redis is not reachable, so a caller can fail fast.
    @discardableResult
    public func listen(_ channel: String, ready: ((Bool) -> Void)? = nil, _ handler: @escaping Handler) -> Int {
        nextID += 1
        let first = listeners[channel] == nil
        listeners[channel, default: []].append((nextID, handler))
        if let ready {
            if confirmed.contains(channel) {
                ready(true)
            } else if !(link(for: channel)?.isConnected ?? false) {
                ready(false)
            } else {
                waiting[channel, default: []].append(ready)
            }
        }
        if first { subscribe(channel) }
        return nextID
    }

    public func unlisten(_ channel: String, _ id: Int) {
        guard var list = listeners[channel] else { return }
        list.removeAll { $0.id == id }
        if list.isEmpty {
            listeners[channel] = nil
            confirmed.remove(channel)
            moving.remove(channel)
            if let router {
                if let node = subscribedOn.removeValue(forKey: channel) { router.nodes[node]?.sendSubscription(["SUNSUBSCRIBE", channel]) }
            } else {
                connection?.sendSubscription(["SUNSUBSCRIBE", channel])
            }
        } else {
            listeners[channel] = list
        }
    }

    /// The server a channel is (to be) subscribed on.
    private func link(for channel: String) -> RedisPushClient? {
        guard let router else { return connection }
        return router.node(forSlot: RedisSlot.of(channel))
    }

    private func subscribe(_ channel: String) {
        guard router != nil else {
            connection?.sendSubscription(["SSUBSCRIBE", channel])
            return
        }
        // No map or no link yet: the channel is subscribed when its owner's link connects.
        guard let node = router?.node(forSlot: RedisSlot.of(channel)) else { return }
        subscribedOn[channel] = node.endpoint
        if node.isConnected { node.sendSubscription(["SSUBSCRIBE", channel]) }
    }

    private func failWaiting(_ which: (String) -> Bool) {
        for channel in waiting.keys where which(channel) {
            waiting.removeValue(forKey: channel)?.forEach { $0(false) }
        }
    }

    // MARK: Cluster: links and moves

    private func linkChanged(_ node: RedisNodeClient, _ up: Bool) {
        if up {
            for channel in listeners.keys where self.link(for: channel) === node { subscribe(channel) }
        } else {
            let lost = Set(subscribedOn.filter { $0.value == node.endpoint }.keys)
            confirmed.subtract(lost)
            failWaiting { lost.contains($0) }
        }
    }

    /// The map changed: every channel whose slot has a new owner moves there.
    private func follow() {
        guard let router else { return }
        for channel in listeners.keys {
            guard let owner = router.node(forSlot: RedisSlot.of(channel)), subscribedOn[channel] != owner.endpoint else { continue }
            if let old = subscribedOn[channel] { router.nodes[old]?.sendSubscription(["SUNSUBSCRIBE", channel]) }
            move(channel)
        }
    }

    private func move(_ channel: String) {
        logger.info("moving the subscription of \(channel) to the owner of its slot")
        confirmed.remove(channel)
        moving.insert(channel)
        subscribedOn[channel] = nil
        subscribe(channel)
    }

    // MARK: Replies

    /// `node`: the cluster node it came from (nil with one server).
    private func received(_ value: RedisValue, from node: RedisEndpoint?) {
        if case .error(let message) = value { return refused(message) }
        guard let parts = value.array, parts.count >= 3, let kind = parts[0].text, let channel = parts[1].text else { return }
        switch kind {
        case "smessage":
            guard let payload = parts[2].bytes, let list = listeners[channel] else { return }
            for listener in list { listener.handler(payload) }
        case "ssubscribe":
            guard listeners[channel] != nil, router == nil || subscribedOn[channel] == node else { return }
            confirmed.insert(channel)
            if let callbacks = waiting.removeValue(forKey: channel) { callbacks.forEach { $0(true) } }
            if moving.remove(channel) != nil { onStateChange?(true) }
        case "sunsubscribe":
            // Asked for (unlisten, or a move already under way), or the server's notice that the
            // slot moved away from this node: then subscribe again where the map now says.
            guard let router, let node, listeners[channel] != nil, subscribedOn[channel] == node else { return }
            logger.info("Redis ended the subscription of \(channel) on \(node): its slot moved")
            move(channel)
            router.refresh()
        default:
            break
        }
    }

    /// An error in place of a confirmation: MOVED names the slot's owner, where the slot's channels go.
    private func refused(_ message: String) {
        guard let router, let (_, slot, to) = redirection(message) else {
            logger.error("Redis refused a subscription: \(message)")
            return
        }
        // The map now names the owner: `follow` moves the slot's channels there.
        router.noteMoved(slot, to: to)
        router.refresh()
    }
}

/// A client that can be put in push mode (pub/sub): one server, or the primary Sentinel names.
protocol RedisPushClient: RedisClient {
    /// Set before `start()`: every reply comes here, in order.
    var onPush: ((RedisValue) -> Void)? { get set }
    /// A command whose replies go to `onPush`; false when not connected.
    @discardableResult
    func sendSubscription(_ arguments: [String]) -> Bool
}

extension RedisNodeClient: RedisPushClient {}
extension RedisSentinelClient: RedisPushClient {}
