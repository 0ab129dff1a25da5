import Interview
import Stores
import JSON
import Logging
import Redis
import Transport

/// Counters of the collaboration side, for /metrics.
struct CollaborationCounters {
    var broadcasts = 0
    var deliveries = 0
    var rateLimitedMessages = 0
}

/// This gateway's side of real-time collaboration: its WebSocket clients, the rooms they are in
/// (one per session with members here, subscribed to its channel), cursor throttling, and gateway
/// liveness (its own heartbeat, and cleaning up after gateways whose lease ran out). The Gateway
/// owns one and hands it each upgraded WebSocket.
final class Collaboration {
    let loop: EventLoop
    let configuration: GatewayConfiguration
    let sessions: Sessions
    let subscriber: RedisSubscriber
    let redis: RedisConnection
    let instanceID: String
    let logger: Logger
    /// What the heartbeat reports about the HTTP side: its port, open connections and WebSockets.
    private let serverLoad: () -> (port: Int, connections: Int, webSockets: Int)
    private let startedAtMillis: Int64
    private(set) var rooms: [String: Room] = [:]
    private var clients: [ObjectIdentifier: Client] = [:]
    private var connectionCounter = 0
    private var cursorsWaiting: [ObjectIdentifier: Client] = [:]
    private var cursorTimer: LoopTimer?
    private var heartbeatTimer: LoopTimer?
    private var sweeping: Set<String> = []
    var counters = CollaborationCounters()
    /// The integrity signals clients report (`activity` messages, Client+Activity.swift).
    let activity: Activity

    init(loop: EventLoop, configuration: GatewayConfiguration, sessions: Sessions, subscriber: RedisSubscriber,
         redis: RedisConnection, instanceID: String, startedAtMillis: Int64, logger: Logger,
         serverLoad: @escaping () -> (port: Int, connections: Int, webSockets: Int)) {
        self.loop = loop
        self.configuration = configuration
        self.sessions = sessions
        self.subscriber = subscriber
        self.redis = redis
        self.instanceID = instanceID
        self.startedAtMillis = startedAtMillis
        self.logger = logger
        self.serverLoad = serverLoad
        activity = Activity(redis: sessions.redis)
    }

    /// Starts the heartbeat, and catches rooms up whenever the subscription comes back.
    func start() {
        subscriber.onStateChange = { [unowned self] up in
            if up { for room in self.rooms.values { room.catchUp() } }
        }
        // Register as soon as Redis is there, not only on the next tick.
        redis.onStateChange = { [unowned self] up in if up { self.heartbeat() } }
        let timer = LoopTimer(loop: loop)
        timer.start(after: 2_000, repeat: 2_000) { [unowned self] in self.heartbeat() }
        timer.unref()
        heartbeatTimer = timer
    }

    func stop() {
        heartbeatTimer?.close()
        heartbeatTimer = nil
        cursorTimer?.close()
        cursorTimer = nil
    }

    // MARK: Clients

    /// A WebSocket upgraded for session `id`: it becomes a client waiting for its `join`.
    func accept(_ socket: WebSocketConnection, session id: String, joinURL: String) {
        // The members of a room share its key's storage for the session id (a 22-byte id is a
        // heap string of its own per connection otherwise).
        let id = rooms.index(forKey: id).map { rooms.keys[$0] } ?? id
        connectionCounter += 1
        let client = Client(socket: socket, collaboration: self, sessionID: id,
                            connectionID: "\(instanceID)#\(connectionCounter)", joinURL: joinURL)
        socket.delegate = client
        clients[ObjectIdentifier(client)] = client
        socket.start()
    }

    func clientClosed(_ client: Client) {
        clients[ObjectIdentifier(client)] = nil
        cursorsWaiting[ObjectIdentifier(client)] = nil
    }

    // MARK: Rooms

    func room(for id: String) -> Room {
        if let room = rooms[id] { return room }
        let room = Room(sessionID: id, collaboration: self)
        rooms[id] = room
        room.open()
        return room
    }

    func closeRoom(_ room: Room) {
        guard room.isEmpty, rooms[room.sessionID] === room else { return }
        rooms[room.sessionID] = nil
        room.close()
    }

    // MARK: Cursors

    /// Cursor moves go out at most every 50 ms per connection; in between, only the latest is kept.
    func cursorMoved(_ client: Client) {
        let now = loop.now
        if now - client.lastCursorAt >= 50 {
            flushCursor(client, now: now)
            return
        }
        cursorsWaiting[ObjectIdentifier(client)] = client
        if cursorTimer == nil {
            let timer = LoopTimer(loop: loop)
            timer.start(after: 50, repeat: 50) { [unowned self] in
                let now = self.loop.now
                for client in Array(self.cursorsWaiting.values) where now - client.lastCursorAt >= 50 {
                    self.flushCursor(client, now: now)
                }
                if self.cursorsWaiting.isEmpty {
                    self.cursorTimer?.close()
                    self.cursorTimer = nil
                }
            }
            cursorTimer = timer
        }
    }

    private func flushCursor(_ client: Client, now: UInt64) {
        cursorsWaiting[ObjectIdentifier(client)] = nil
        guard let payload = client.pendingCursor else { return }
        client.pendingCursor = nil
        client.lastCursorAt = now
        // Ephemeral: published straight to the channel, never stored.
        redis.send(bytes: [Array("SPUBLISH".utf8), Array(Sessions.channel(client.sessionID).utf8), payload]) { _ in }
    }

    // MARK: Liveness

    /// Every 2 s: renew this gateway's lease, drop clients that never joined, and clean up after
    /// gateways whose lease ran out (their members go offline everywhere).
    func heartbeat() {
        let now = loop.now
        for client in clients.values where client.isAwaitingJoin && now - client.connectedAt > 10_000 {
            client.sendError("join_timeout", "send a join message within 10 seconds of connecting")
            client.socket.close(code: 1008, reason: "no join within 10 seconds")
        }
        let load = serverLoad()
        let info: JSON = ["id": .string(instanceID), "node_id": .string(configuration.nodeID), "kind": "gateway",
                          "address": .string("\(configuration.http.host):\(load.port)"),
                          "started_at": .integer(Int(startedAtMillis)), "connections": .integer(load.connections),
                          "websockets": .integer(load.webSockets), "sessions": .integer(rooms.count),
                          "heartbeat_at": .integer(Int(EventLoop.unixMillis()))]
        sessions.heartbeat(instance: instanceID, leaseMillis: 6_000, info: info) { [weak self] result in
            guard let self, case .success(let dead) = result else { return }
            for instance in dead where !self.sweeping.contains(instance) {
                self.sweeping.insert(instance)
                self.sessions.sweep(deadInstance: instance) { [weak self] count in
                    self?.sweeping.remove(instance)
                    self?.logger.info("gateway \(instance) stopped heartbeating; \(count) participant(s) went offline")
                }
            }
        }
    }
}
