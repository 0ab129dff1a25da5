import Transport

/// Who may call an endpoint, as the OpenAPI document's `security` says it.
enum Authentication: Equatable {
    /// Anyone; no token is read.
    case none
    /// A session's host or participant token may be sent; the session store decides what it allows.
    case optionalToken
    /// A bearer token is required (a session's, or the admin token where the handler accepts it);
    /// the session store or the handler checks it and answers 401/403.
    case token
    /// The admin token, checked by the router before the handler runs (`what`: the routes, for
    /// the problem's detail).
    case admin(String)
    /// The admin token when the gateway has one, open otherwise (checked by the router).
    case adminIfConfigured
}

/// Which rate limit an endpoint counts against, besides the per-client `requests` limit that
/// every endpoint that is not `exempt` counts against. ProtectionSettings holds the rules.
enum RateClass: String, CaseIterable {
    /// Counts nothing: health checks, the OpenAPI document, the web client's files, metrics.
    case exempt
    /// Only the per-client `requests` limit.
    case requests
    /// Session creation (`sessions`).
    case sessions
    /// Joining a session, over REST or WebSocket (`joins`).
    case joins
    /// Running code (`executions` per client; and `session-executions` per session when the
    /// endpoint takes a session id).
    case executions
}

/// What an endpoint reads from the request body.
enum BodyLimit: Equatable {
    /// None: a body, if sent, is ignored (the HTTP parser still bounds it by --max-body-bytes).
    case none
    /// A JSON object up to the server's --max-body-bytes; the HTTP parser answers 413 for a
    /// larger one before any route is matched.
    case server
}

/// An endpoint's policy, declared with the endpoint: the router and Protection act on it.
struct RoutePolicy: Equatable {
    var authentication: Authentication
    var rate: RateClass
    var body: BodyLimit
    /// An RFC 6455 upgrade: the router checks the handshake's headers (426/400) before the path
    /// parameters.
    var webSocket = false
}

/// What a handler gets: the request, its path parameters, and the way to answer.
typealias RouteHandler = (RequestContext) -> Void

/// One method on one path: its policy and its handler.
struct Endpoint {
    enum Handler {
        /// Gets the path parameters as they are.
        case plain(RouteHandler)
        /// Gets the first path parameter as a SessionID; a malformed one is refused before the
        /// handler runs (SessionID.refusal).
        case session((RequestContext, SessionID) -> Void)
    }

    let method: String
    let policy: RoutePolicy
    let handler: Handler

    /// Whether the endpoint takes a session id (its first path parameter).
    var takesSessionID: Bool {
        if case .session = handler { return true }
        return false
    }

    static func get(auth: Authentication, rate: RateClass, _ handler: @escaping RouteHandler) -> Endpoint {
        Endpoint(method: "GET", policy: RoutePolicy(authentication: auth, rate: rate, body: .none), handler: .plain(handler))
    }

    static func get(auth: Authentication, rate: RateClass, _ handler: @escaping (RequestContext, SessionID) -> Void) -> Endpoint {
        Endpoint(method: "GET", policy: RoutePolicy(authentication: auth, rate: rate, body: .none), handler: .session(handler))
    }

    static func post(auth: Authentication, rate: RateClass, body: BodyLimit, _ handler: @escaping RouteHandler) -> Endpoint {
        Endpoint(method: "POST", policy: RoutePolicy(authentication: auth, rate: rate, body: body), handler: .plain(handler))
    }

    static func post(auth: Authentication, rate: RateClass, body: BodyLimit,
                     _ handler: @escaping (RequestContext, SessionID) -> Void) -> Endpoint {
        Endpoint(method: "POST", policy: RoutePolicy(authentication: auth, rate: rate, body: body), handler: .session(handler))
    }

    static func put(auth: Authentication, rate: RateClass, body: BodyLimit, _ handler: @escaping RouteHandler) -> Endpoint {
        Endpoint(method: "PUT", policy: RoutePolicy(authentication: auth, rate: rate, body: body), handler: .plain(handler))
    }

    static func put(auth: Authentication, rate: RateClass, body: BodyLimit,
                    _ handler: @escaping (RequestContext, SessionID) -> Void) -> Endpoint {
        Endpoint(method: "PUT", policy: RoutePolicy(authentication: auth, rate: rate, body: body), handler: .session(handler))
    }

    static func patch(auth: Authentication, rate: RateClass, body: BodyLimit, _ handler: @escaping RouteHandler) -> Endpoint {
        Endpoint(method: "PATCH", policy: RoutePolicy(authentication: auth, rate: rate, body: body), handler: .plain(handler))
    }

    static func patch(auth: Authentication, rate: RateClass, body: BodyLimit,
                      _ handler: @escaping (RequestContext, SessionID) -> Void) -> Endpoint {
        Endpoint(method: "PATCH", policy: RoutePolicy(authentication: auth, rate: rate, body: body), handler: .session(handler))
    }

    static func delete(auth: Authentication, rate: RateClass, _ handler: @escaping RouteHandler) -> Endpoint {
        Endpoint(method: "DELETE", policy: RoutePolicy(authentication: auth, rate: rate, body: .none), handler: .plain(handler))
    }

    static func delete(auth: Authentication, rate: RateClass, _ handler: @escaping (RequestContext, SessionID) -> Void) -> Endpoint {
        Endpoint(method: "DELETE", policy: RoutePolicy(authentication: auth, rate: rate, body: .none), handler: .session(handler))
    }

    /// The WebSocket upgrade of a session (GET with the handshake's headers).
    static func webSocket(auth: Authentication, rate: RateClass, _ handler: @escaping (RequestContext, SessionID) -> Void) -> Endpoint {
        Endpoint(method: "GET", policy: RoutePolicy(authentication: auth, rate: rate, body: .none, webSocket: true),
                 handler: .session(handler))
    }
}

/// Where a route is served.
enum Placement {
    /// Under /api/v1 and /api.
    case api
    /// Under /api/v1 and /api, and at the root too.
    case apiAndRoot
    /// Only at the root, never under /api/v1 or /api (the web client's pages and files, metrics).
    case rootOnly
}

/// A path and what each method does there. The path is written OpenAPI-style below the
/// /api/v1 prefix: "sessions/{id}/users"; a last segment "{*path}" matches one or more
/// remaining segments, its parameter those segments joined by "/" and still percent-encoded
/// (the handler decodes them).
struct Route {
    /// Segments: literals, ":name" for a parameter, "*name" for the rest of the path.
    let pattern: [String]
    let endpoints: [Endpoint]
    let placement: Placement
    /// The Allow header's value: every method, HEAD wherever GET is, and OPTIONS.
    let allow: String

    init(_ path: String, at placement: Placement = .api, _ endpoints: Endpoint...) {
        self.init(path, at: placement, endpoints: endpoints)
    }

    init(_ path: String, at placement: Placement, endpoints: [Endpoint]) {
        pattern = path.split(separator: "/").map { segment in
            guard segment.hasPrefix("{"), segment.hasSuffix("}") else { return String(segment) }
            let name = segment.dropFirst().dropLast()
            return name.hasPrefix("*") ? String(name) : ":" + name
        }
        self.endpoints = endpoints
        self.placement = placement
        var names = endpoints.map(\.method)
        if names.contains("GET") { names.append("HEAD") }
        names.append("OPTIONS")
        allow = names.joined(separator: ", ")
    }

    var atRoot: Bool { placement != .api }
    var rootOnly: Bool { placement == .rootOnly }

    /// The path OpenAPI-style, without a prefix ("sessions/{id}").
    var path: String {
        pattern.map { $0.hasPrefix(":") || $0.hasPrefix("*") ? "{\($0.dropFirst())}" : $0 }.joined(separator: "/")
    }

    /// The endpoint for a method (HEAD is GET's).
    func endpoint(for method: String) -> Endpoint? {
        let wanted = method == "HEAD" ? "GET" : method
        for endpoint in endpoints where endpoint.method == wanted { return endpoint }
        return nil
    }
}

/// A group of routes about one resource, in the file named for it.
protocol Controller {
    var routes: [Route] { get }
}
