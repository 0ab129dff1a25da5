import Interview
import JSON
import Transport

/// The WebSocket endpoint and what keeps rooms, presence and liveness right.
extension Gateway {
    func collaborationRoutes() -> [Route] {
        [Route(pattern: ["ws", "sessions", ":id"], methods: [("GET", webSocket)], atRoot: true)]
    }

    /// GET /ws/sessions/{id} with an RFC 6455 upgrade.
    func webSocket(_ context: RequestContext) {
        let headers = context.request.headers
        guard headers["Upgrade"]?.lowercased().contains("websocket") == true,
              headers["Connection"]?.lowercased().contains("upgrade") == true else {
            var problem = Problem(426, "this endpoint speaks WebSocket: send Upgrade: websocket and Connection: Upgrade")
            problem.headers.add("Upgrade", "websocket")
            return reply(context, problem)
        }
        guard headers["Sec-WebSocket-Version"] == "13" else {
            var problem = Problem(426, "only WebSocket version 13 is supported")
            problem.headers.add("Sec-WebSocket-Version", "13")
            return reply(context, problem)
        }
        guard let key = headers["Sec-WebSocket-Key"], key.utf8.count == 24 else {
            return reply(context, Problem(400, "Sec-WebSocket-Key must be 16 random bytes in base64"))
        }
        let id = context.parameters[0]
        guard Identifiers.isSessionID(id) else { return reply(context, Problem(404, "no session with id '\(id)'")) }
        guard webSocketOriginAllowed(headers["Origin"], host: headers["Host"]) else {
            return reply(context, Problem(403, "WebSocket connections from origin \(headers["Origin"] ?? "") are not allowed"))
        }
        guard !stopping else { return reply(context, Problem.unavailable("this gateway is shutting down; connect again")) }
        guard let socket = context.responder.upgradeToWebSocket(key: key) else { return }
        connectionCounter += 1
        let client = Client(socket: socket, gateway: self, sessionID: id,
                            connectionID: "\(instanceID)#\(connectionCounter)", joinURL: joinURL(context, id))
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
        let room = Room(sessionID: id, gateway: self)
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
        redis.send(bytes: [Array("PUBLISH".utf8), Array(Sessions.channel(client.sessionID).utf8), payload]) { _ in }
    }

    // MARK: Liveness

    /// Every 2 s: renew this gateway's lease, drop clients that never joined, and clean up after
    /// gateways whose lease ran out (their members go offline everywhere).
    func startHeartbeat() {
        let timer = LoopTimer(loop: loop)
        timer.start(after: 2_000, repeat: 2_000) { [unowned self] in self.heartbeat() }
        timer.unref()
        heartbeatTimer = timer
    }

    func heartbeat() {
        let now = loop.now
        for client in clients.values where client.isAwaitingJoin && now - client.connectedAt > 10_000 {
            client.sendError("join_timeout", "send a join message within 10 seconds of connecting")
            client.socket.close(code: 1008, reason: "no join within 10 seconds")
        }
        let info: JSON = ["id": .string(instanceID), "node_id": .string(configuration.nodeID), "kind": "gateway",
                          "address": .string("\(configuration.http.host):\(server.boundPort)"),
                          "started_at": .integer(Int(startedAtMillis)), "connections": .integer(server.connectionCount),
                          "websockets": .integer(server.webSocketCount), "sessions": .integer(rooms.count),
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
