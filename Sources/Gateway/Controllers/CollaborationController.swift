import Interview
import Stores
import JSON
import Transport

/// The WebSocket endpoint of a session; what happens on the socket is Collaboration's.
///
///     GET /ws/sessions/{id}    an RFC 6455 upgrade (counts against `joins`); also at the root
final class CollaborationController: Controller {
    private unowned let gateway: Gateway
    private let configuration: GatewayConfiguration
    private let links: JoinLinks

    init(gateway: Gateway, configuration: GatewayConfiguration, links: JoinLinks) {
        self.gateway = gateway
        self.configuration = configuration
        self.links = links
    }

    var routes: [Route] {
        [Route("ws/sessions/{id}", at: .apiAndRoot, .webSocket(auth: .none, rate: .joins, webSocket))]
    }

    /// The router has checked the handshake's headers and the session id.
    func webSocket(_ context: RequestContext, _ id: SessionID) {
        let headers = context.request.headers
        guard configuration.webSocketOriginAllowed(headers["Origin"], host: headers["Host"]) else {
            return context.reply(Problem(403, "WebSocket connections from origin \(headers["Origin"] ?? "") are not allowed"))
        }
        guard !gateway.stopping else { return context.reply(Problem.unavailable("this gateway is shutting down; connect again")) }
        guard let key = headers["Sec-WebSocket-Key"], let socket = context.responder.upgradeToWebSocket(key: key) else { return }
        gateway.collaboration.accept(socket, session: id.rawValue, joinURL: links.joinURL(context, id.rawValue))
    }
}
