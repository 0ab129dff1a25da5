import Logging
import Transport

/// A connection in subscriber mode. A channel is subscribed while it has a listener and
/// unsubscribed when the last one goes, so a gateway receives only the sessions it serves.
/// After a reconnect every channel is subscribed again; messages published meanwhile are lost,
/// so `onStateChange(true)` is the listeners' cue to catch up from Redis.
public final class RedisSubscriber {
    public typealias Handler = ([UInt8]) -> Void

    private let connection: RedisConnection
    private var listeners: [String: [(id: Int, handler: Handler)]] = [:]
    private var confirmed: Set<String> = []
    private var waiting: [String: [(Bool) -> Void]] = [:]
    private var nextID = 0

    /// Called with true after every (re)connect, once the channels are being resubscribed.
    public var onStateChange: ((Bool) -> Void)?

    public init(loop: EventLoop, address: RedisAddress, logger: Logger) {
        connection = RedisConnection(loop: loop, address: address, logger: logger)
        connection.onPush = { [unowned self] value in self.received(value) }
        connection.onStateChange = { [unowned self] up in
            self.confirmed.removeAll()
            if up {
                if !self.listeners.isEmpty { self.connection.sendSubscription(["SUBSCRIBE"] + self.listeners.keys) }
            } else {
                for (_, callbacks) in self.waiting { callbacks.forEach { $0(false) } }
                self.waiting.removeAll()
            }
            self.onStateChange?(up)
        }
    }

    public var isConnected: Bool { connection.isConnected }
    public var reconnectCount: Int { connection.reconnectCount }
    public var channelCount: Int { listeners.count }

    public func start() { connection.start() }

    public func close(_ completion: @escaping () -> Void) { connection.close(completion) }

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
            } else if !connection.isConnected {
                ready(false)
            } else {
                waiting[channel, default: []].append(ready)
            }
        }
        if first { connection.sendSubscription(["SUBSCRIBE", channel]) }
        return nextID
    }

    public func unlisten(_ channel: String, _ id: Int) {
        guard var list = listeners[channel] else { return }
        list.removeAll { $0.id == id }
        if list.isEmpty {
            listeners[channel] = nil
            confirmed.remove(channel)
            connection.sendSubscription(["UNSUBSCRIBE", channel])
        } else {
            listeners[channel] = list
        }
    }

    private func received(_ value: RedisValue) {
        guard let parts = value.array, parts.count >= 3, let kind = parts[0].text, let channel = parts[1].text else { return }
        switch kind {
        case "message":
            guard let payload = parts[2].bytes, let list = listeners[channel] else { return }
            for listener in list { listener.handler(payload) }
        case "subscribe":
            guard listeners[channel] != nil else { return }
            confirmed.insert(channel)
            if let callbacks = waiting.removeValue(forKey: channel) { callbacks.forEach { $0(true) } }
        default:
            break
        }
    }
}
