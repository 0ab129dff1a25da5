import Transport

/// What a handler gets: the request, its path parameters, and the way to answer.
struct RequestContext {
    let request: HTTPRequest
    let responder: HTTPResponder
    let parameters: [String]
    /// Who the client is (the peer, or what a trusted balancer forwarded).
    var clientAddress = ""
    /// Added to whatever the handler answers (rate-limit state).
    var responseHeaders = HTTPHeaders()
    /// The request's id: the client's X-Request-Id when sane, else ours; on the response and in logs.
    var requestID = ""
    /// When handling began (monotonic ns), for the access log.
    var startedAt: UInt64 = 0
    /// The path as requested, for problem `instance` members.
    var path: String { request.path }
}

typealias RouteHandler = (RequestContext) -> Void

/// A path pattern ("sessions/:id/users") and what each method does there.
struct Route {
    let pattern: [String]
    let methods: [(method: String, handler: RouteHandler)]
    /// Served at the root too, not only under /api/v1 and /api.
    var atRoot = false
    /// Served only at the root, never under /api/v1 or /api (the web client's pages and files).
    var rootOnly = false

    /// The Allow header's value: every method, HEAD wherever GET is, and OPTIONS.
    var allow: String {
        var names = methods.map(\.method)
        if names.contains("GET") { names.append("HEAD") }
        names.append("OPTIONS")
        return names.joined(separator: ", ")
    }

    func handler(for method: String) -> RouteHandler? {
        let wanted = method == "HEAD" ? "GET" : method
        return methods.first { $0.method == wanted }?.handler
    }
}

/// Matches paths under `/api/v1` and `/api` (same routes), and the few root routes.
/// A pattern's last segment may be `*name`: it matches one or more remaining segments, and its
/// parameter is those segments joined by "/" and still percent-encoded (the handler decodes them).
struct Router {
    static let prefixes: [[String]] = [["api", "v1"], ["api"]]
    let routes: [Route]

    /// The route and the decoded parameters, or nil for an unknown path.
    func match(_ path: String) -> (Route, [String])? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        for prefix in Self.prefixes where segments.starts(with: prefix) {
            if let found = match(Array(segments.dropFirst(prefix.count)), atRoot: false) { return found }
        }
        return match(segments, atRoot: true)
    }

    private func match(_ segments: [String], atRoot: Bool) -> (Route, [String])? {
        for route in routes where atRoot ? (route.atRoot || route.rootOnly) : !route.rootOnly {
            let rest = route.pattern.last?.hasPrefix("*") == true
            guard rest ? segments.count >= route.pattern.count : segments.count == route.pattern.count else { continue }
            var parameters: [String] = []
            var matched = true
            for (index, (part, segment)) in zip(route.pattern, segments).enumerated() {
                if rest && index == route.pattern.count - 1 {
                    parameters.append(segments[index...].joined(separator: "/"))
                } else if part.hasPrefix(":") {
                    parameters.append(percentDecode(segment))
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
            let tail = route.pattern.map { $0.hasPrefix(":") || $0.hasPrefix("*") ? "{\($0.dropFirst())}" : $0 }.joined(separator: "/")
            if !route.rootOnly {
                for prefix in Self.prefixes { paths.append("/" + (prefix + [tail]).joined(separator: "/")) }
            }
            if route.atRoot || route.rootOnly { paths.append("/" + tail) }
        }
        return paths
    }
}
