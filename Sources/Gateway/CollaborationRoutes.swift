import Interview
import Stores
import JSON
import Transport

/// The WebSocket endpoint; what happens on the socket is Collaboration's.
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
        collaboration.accept(socket, session: id, joinURL: joinURL(context, id))
    }
}
