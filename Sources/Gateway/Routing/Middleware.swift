import Logging
import Transport

/// A step the router runs for every request: before routing (`prepare`), once the route is
/// known (`intercept`: it may answer the request itself), and on every response on its way out
/// (`outgoing`, in the chain's order). Handlers never stamp what middleware owns.
protocol Middleware: AnyObject {
    func prepare(_ context: inout RequestContext)
    /// True when the middleware answered the request itself (nothing else runs).
    func intercept(_ context: RequestContext, route: Route) -> Bool
    func outgoing(_ context: RequestContext, _ response: inout HTTPResponse)
}

extension Middleware {
    func prepare(_ context: inout RequestContext) {}
    func intercept(_ context: RequestContext, route: Route) -> Bool { false }
    func outgoing(_ context: RequestContext, _ response: inout HTTPResponse) {}
}

/// X-Request-Id: the client's when it is short and plain (it ends up in logs), else this
/// instance's id and a counter (unique across the cluster without coordination); on every
/// response and in the logs.
final class RequestIDMiddleware: Middleware {
    private let instanceID: String
    private var counter = 0

    init(instanceID: String) {
        self.instanceID = instanceID
    }

    func prepare(_ context: inout RequestContext) {
        context.requestID = requestID(context.request)
    }

    func outgoing(_ context: RequestContext, _ response: inout HTTPResponse) {
        response.headers.add("X-Request-Id", context.requestID)
    }

    private func requestID(_ request: HTTPRequest) -> String {
        if let given = request.headers["X-Request-Id"], (1...64).contains(given.utf8.count),
           given.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46 }) {
            return given
        }
        return next()
    }

    /// A new id (also for the transport's own error responses, which never reach a route).
    func next() -> String {
        counter += 1
        return "\(instanceID)-\(String(counter, radix: 36))"
    }
}

/// One debug line per response: method, path, status, time, request id, client.
final class AccessLogMiddleware: Middleware {
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func outgoing(_ context: RequestContext, _ response: inout HTTPResponse) {
        if logger.logLevel <= .debug {
            let millis = Double(EventLoop.hrtime() - context.startedAt) / 1e6
            logger.debug("\(context.request.method) \(context.path) \(response.status) \(millis) ms",
                         metadata: ["request_id": .string(context.requestID), "client": .string(context.clientAddress)])
        }
    }
}

/// CORS: answers preflights (and plain OPTIONS, which just lists the methods) for every route,
/// and lets the allowed origins read every response.
final class CORSMiddleware: Middleware {
    private let origins: [String]

    init(origins: [String]) {
        self.origins = origins
    }

    func intercept(_ context: RequestContext, route: Route) -> Bool {
        guard context.request.method == "OPTIONS" else { return false }
        var response = HTTPResponse(status: 204)
        response.headers.add("Allow", route.allow)
        if let origin = context.request.headers["Origin"], context.request.headers["Access-Control-Request-Method"] != nil,
           let allowed = allowedOrigin(origin) {
            response.headers.add("Access-Control-Allow-Origin", allowed)
            response.headers.add("Access-Control-Allow-Methods", route.allow)
            response.headers.add("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-Id")
            response.headers.add("Access-Control-Max-Age", "600")
            if allowed != "*" { response.headers.add("Vary", "Origin") }
        }
        // A preflight's answer is final as it is: no request id, no rate-limit state.
        context.responder.respond(response)
        return true
    }

    func outgoing(_ context: RequestContext, _ response: inout HTTPResponse) {
        if let origin = context.request.headers["Origin"], let allowed = allowedOrigin(origin) {
            response.headers.add("Access-Control-Allow-Origin", allowed)
            response.headers.add("Access-Control-Expose-Headers", "Location, Retry-After")
            if allowed != "*" { response.headers.add("Vary", "Origin") }
        }
    }

    private func allowedOrigin(_ origin: String) -> String? {
        if origins.contains("*") { return "*" }
        return origins.contains(origin) ? origin : nil
    }
}
