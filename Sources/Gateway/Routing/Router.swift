import Logging
import Transport

/// Matches paths under `/api/v1` and `/api` (same routes) and the root routes, and runs a
/// request through the middleware, the endpoint's policy (rate limits, admin token, WebSocket
/// handshake, typed path parameters) and its handler.
final class Router {
    static let prefixes: [[String]] = [["api", "v1"], ["api"]]
    let routes: [Route]
    let middleware: [any Middleware]
    let rateLimiting: RateLimiting
    let admin: AdminToken
    let protection: ProtectionSettings
    let logger: Logger

    init(routes: [Route], middleware: [any Middleware], rateLimiting: RateLimiting, protection: ProtectionSettings, logger: Logger) {
        self.routes = routes
        self.middleware = middleware
        self.rateLimiting = rateLimiting
        self.protection = protection
        admin = AdminToken(protection.adminToken)
        self.logger = logger
        apiCandidates = Self.candidates(routes, atRoot: false)
        rootCandidates = Self.candidates(routes, atRoot: true)
    }

    /// For each segment count n (index n, up to the longest pattern; the last entry serves every
    /// longer path), the routes that can match a path of n segments, in declaration order (the
    /// first match wins, as before): a fixed pattern of n segments, or a "*rest" one of at most n.
    /// Built once, so a request compares its path with a handful of routes, not all of them.
    private let apiCandidates: [[Route]]
    private let rootCandidates: [[Route]]

    private static func candidates(_ routes: [Route], atRoot: Bool) -> [[Route]] {
        let eligible = routes.filter { atRoot ? $0.atRoot : !$0.rootOnly }
        let longest = eligible.map(\.pattern.count).max() ?? 0
        return (0...longest + 1).map { count in
            eligible.filter { route in
                route.pattern.last?.hasPrefix("*") == true ? count >= route.pattern.count : count == route.pattern.count
            }
        }
    }

    // MARK: Dispatch

    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        var context = RequestContext(request: request, responder: responder, router: self,
                                     clientAddress: protection.clientAddress(request))
        for step in middleware { step.prepare(&context) }
        context.startedAt = EventLoop.hrtime()
        guard let (route, parameters) = match(request.path) else {
            return context.reply(Problem(404, "no route for \(request.path); the API lives under /api/v1 (see /openapi.json)"))
        }
        context.parameters = parameters
        for step in middleware where step.intercept(context, route: route) { return }
        guard let endpoint = route.endpoint(for: request.method) else {
            var problem = Problem(405, "\(request.method) is not allowed on \(request.path); allowed: \(route.allow)")
            problem.headers.add("Allow", route.allow)
            return context.reply(problem)
        }
        guard rateLimiting.counts(endpoint) else { return run(context, endpoint) }
        rateLimiting.admit(context, endpoint) { [self] context in run(context, endpoint) }
    }

    /// The endpoint's own checks, in this order: the admin token, the WebSocket handshake, the
    /// session id; then its handler.
    private func run(_ context: RequestContext, _ endpoint: Endpoint) {
        switch endpoint.policy.authentication {
        case .admin(let what):
            guard admin.require(context, for: what) else { return }
        case .adminIfConfigured:
            // With an admin token configured the route is the operator's; without one it is open.
            if admin.isConfigured && !admin.require(context, for: "operator routes") { return }
        case .none, .optionalToken, .token:
            break
        }
        if endpoint.policy.webSocket, let problem = WebSocketHandshake.problem(context.request.headers) {
            return context.reply(problem)
        }
        switch endpoint.handler {
        case .plain(let handler):
            handler(context)
        case .session(let handler):
            let raw = context.parameters[0]
            guard let id = SessionID(raw) else { return context.reply(SessionID.refusal(raw)) }
            handler(context, id)
        }
    }

    /// Every response's way out: the headers gathered on the way in, then the middleware.
    func send(_ context: RequestContext, _ response: HTTPResponse) {
        var response = response
        for field in context.responseHeaders { response.headers.add(field.name, field.value) }
        for step in middleware { step.outgoing(context, &response) }
        context.responder.respond(response)
    }

    // MARK: Matching

    /// The route and the decoded parameters, or nil for an unknown path.
    func match(_ path: String) -> (Route, [String])? {
        // Split on the bytes into slices of the path: no String per segment, no Character walk.
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map { Substring($0) }
        for prefix in Self.prefixes where segments.starts(with: prefix, by: { $0 == $1 }) {
            if let found = match(segments.dropFirst(prefix.count), in: apiCandidates) { return found }
        }
        return match(segments[...], in: rootCandidates)
    }

    private func match(_ segments: ArraySlice<Substring>, in candidates: [[Route]]) -> (Route, [String])? {
        for route in candidates[min(segments.count, candidates.count - 1)] {
            let rest = route.pattern.last?.hasPrefix("*") == true
            guard rest ? segments.count >= route.pattern.count : segments.count == route.pattern.count else { continue }
            var parameters: [String] = []
            var matched = true
            for (index, (part, segment)) in zip(route.pattern, segments).enumerated() {
                if rest && index == route.pattern.count - 1 {
                    parameters.append(segments.dropFirst(index).joined(separator: "/"))
                } else if part.hasPrefix(":") {
                    parameters.append(percentDecode(String(segment)))
                } else if part != segment {
                    matched = false
                    break
                }
            }
            if matched { return (route, parameters) }
        }
        return nil
    }

    /// Every concrete path served, OpenAPI-style ("/api/v1/sessions/{id}"), for the spec check.
    var documentedPaths: [String] {
        var paths: [String] = []
        for route in routes {
            let tail = route.path
            if !route.rootOnly {
                for prefix in Self.prefixes { paths.append("/" + (prefix + [tail]).joined(separator: "/")) }
            }
            if route.atRoot { paths.append("/" + tail) }
        }
        return paths
    }
}

/// The RFC 6455 handshake's headers, checked before a WebSocket endpoint's path parameters.
enum WebSocketHandshake {
    static func problem(_ headers: HTTPHeaders) -> Problem? {
        guard headers["Upgrade"]?.lowercased().contains("websocket") == true,
              headers["Connection"]?.lowercased().contains("upgrade") == true else {
            var problem = Problem(426, "this endpoint speaks WebSocket: send Upgrade: websocket and Connection: Upgrade")
            problem.headers.add("Upgrade", "websocket")
            return problem
        }
        guard headers["Sec-WebSocket-Version"] == "13" else {
            var problem = Problem(426, "only WebSocket version 13 is supported")
            problem.headers.add("Sec-WebSocket-Version", "13")
            return problem
        }
        guard let key = headers["Sec-WebSocket-Key"], key.utf8.count == 24 else {
            return Problem(400, "Sec-WebSocket-Key must be 16 random bytes in base64")
        }
        return nil
    }
}
