import Transport

/// What a handler gets: the request, its path parameters, and the way to answer.
struct RequestContext {
    let request: HTTPRequest
    let responder: HTTPResponder
    let parameters: [String]
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
struct Router {
    static let prefixes: [[String]] = [["api", "v1"], ["api"]]
    let routes: [Route]

    /// The route and the decoded parameters, or nil for an unknown path.
    func match(_ path: String) -> (Route, [String])? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        for prefix in Self.prefixes where segments.starts(with: prefix) {
            if let found = match(Array(segments.dropFirst(prefix.count)), rootOnly: false) { return found }
        }
        return match(segments, rootOnly: true)
    }

    private func match(_ segments: [String], rootOnly: Bool) -> (Route, [String])? {
        for route in routes where route.pattern.count == segments.count && (!rootOnly || route.atRoot) {
            var parameters: [String] = []
            var matched = true
            for (part, segment) in zip(route.pattern, segments) {
                if part.hasPrefix(":") {
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
            let tail = route.pattern.map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : $0 }.joined(separator: "/")
            for prefix in Self.prefixes { paths.append("/" + (prefix + [tail]).joined(separator: "/")) }
            if route.atRoot { paths.append("/" + tail) }
        }
        return paths
    }
}
