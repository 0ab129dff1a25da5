import Interview
import Stores
import JSON
import Transport

/// What protects a public gateway: who the client is, rate limits, origins, the admin token.
public struct ProtectionSettings: Sendable {
    /// Peers whose X-Forwarded-For (or PROXY protocol header) is believed: the balancers.
    public var trustedProxies: [AddressRange] = []
    public var rateLimitsEnabled = true
    /// When Redis cannot be asked: true lets requests through (every route that changes state
    /// needs Redis anyway and answers 503 on its own), false refuses them with 503.
    public var rateLimitFailOpen = true
    /// Every API request and WebSocket upgrade, per client address.
    public var requests = RateRule(name: "requests", count: 600, periodMillis: 60_000)
    /// Session creation, per client address ("sessions per IP per hour").
    public var sessions = RateRule(name: "sessions", count: 60, periodMillis: 3_600_000)
    /// Joins (REST and WebSocket), per client address.
    public var joins = RateRule(name: "joins", count: 60, periodMillis: 60_000)
    /// Code executions, per client address and per session.
    public var executions = RateRule(name: "executions", count: 30, periodMillis: 60_000)
    public var sessionExecutions = RateRule(name: "session-executions", count: 60, periodMillis: 60_000)
    /// WebSocket messages and cursor updates, per connection (counted in the gateway).
    public var webSocketMessages = RateRule(name: "ws-messages", count: 100, periodMillis: 1_000)
    public var webSocketCursors = RateRule(name: "ws-cursors", count: 30, periodMillis: 1_000)
    /// Origins a browser WebSocket may come from; empty: the CORS list, or same-origin only.
    public var webSocketOrigins: [String] = []
    /// Guards operator routes; empty disables them.
    public var adminToken = ""

    public init() {}
}

extension ProtectionSettings {
    /// The client's address: the socket's peer, or what a trusted balancer says it forwarded.
    func clientAddress(_ request: HTTPRequest) -> String {
        let peer = request.remoteAddress
        guard trustedProxies.contains(address: peer), let forwarded = request.headers["X-Forwarded-For"] else { return peer }
        // The rightmost address a trusted proxy did not add is the client.
        for hop in forwarded.split(separator: ",").reversed() {
            let address = hop.trimmingWhitespace()
            if address.isEmpty { continue }
            if !trustedProxies.contains(address: address) { return address }
        }
        return peer
    }

    /// The rate rules an endpoint's class counts against, besides `requests`.
    func rules(for rate: RateClass) -> [RateRule] {
        switch rate {
        case .exempt, .requests: return []
        case .sessions: return [sessions]
        case .joins: return [joins]
        case .executions: return [executions]
        }
    }
}

/// The rate limits of HTTP requests, shared by every gateway through Redis. Which limits an
/// endpoint counts against is its declared RateClass (Route.swift), nothing else.
final class RateLimiting {
    private let settings: ProtectionSettings
    private let limiter: RateLimiter
    /// Requests refused with 429 (for /metrics).
    private(set) var refusedRequests = 0

    init(settings: ProtectionSettings, limiter: RateLimiter) {
        self.settings = settings
        self.limiter = limiter
    }

    /// Whether a request to `endpoint` is counted at all (never for exempt endpoints: the
    /// balancers' health checks and browsers loading the page never count).
    func counts(_ endpoint: Endpoint) -> Bool {
        settings.rateLimitsEnabled && endpoint.policy.rate != .exempt
    }

    /// Runs `handler` when the request is within its limits; otherwise answers 429. An endpoint
    /// of class `executions` that takes a session id also counts against the session's limit.
    func admit(_ context: RequestContext, _ endpoint: Endpoint, _ handler: @escaping (RequestContext) -> Void) {
        let protection = settings
        let client = context.clientAddress
        let checks = ([protection.requests] + protection.rules(for: endpoint.policy.rate)).map { (rule: $0, subject: client) }
        limiter.check(checks, tag: client) { [self] result in
            switch result {
            case .failure(let error):
                if protection.rateLimitFailOpen { return handler(context) }
                context.reply(Problem.unavailable("rate limits cannot be checked right now (\(error.message)); retry shortly"))
            case .success(let decision):
                var context = context
                context.responseHeaders.add("RateLimit-Policy", decision.rule.policy)
                context.responseHeaders.add("RateLimit", "\"\(decision.rule.name)\";r=\(decision.remaining);t=\((decision.resetMillis + 999) / 1000)")
                guard decision.allowed else {
                    refusedRequests += 1
                    let seconds = max(1, (decision.retryAfterMillis + 999) / 1000)
                    var problem = Problem(429, "too many requests (\(decision.rule.name): \(decision.rule.count) per \(decision.rule.periodMillis / 1000) s); retry in \(seconds) s")
                    problem.headers.add("Retry-After", String(seconds))
                    return context.reply(problem)
                }
                // Per-session execution limit: a second check, its keys tagged (and slotted) by the session id.
                if endpoint.policy.rate == .executions, endpoint.takesSessionID, let id = context.parameters.first {
                    limiter.check([(protection.sessionExecutions, id)], tag: id) { [self] result in
                        if case .success(let decision) = result, !decision.allowed {
                            refusedRequests += 1
                            let seconds = max(1, (decision.retryAfterMillis + 999) / 1000)
                            var problem = Problem(429, "this session runs code too often (\(decision.rule.count) per \(decision.rule.periodMillis / 1000) s); retry in \(seconds) s")
                            problem.headers.add("Retry-After", String(seconds))
                            problem.headers.add("RateLimit-Policy", decision.rule.policy)
                            return context.reply(problem)
                        }
                        handler(context)
                    }
                    return
                }
                handler(context)
            }
        }
    }
}

/// The admin token that guards operator routes (empty: they are disabled).
struct AdminToken {
    private let expected: String

    init(_ expected: String) {
        self.expected = expected
    }

    var isConfigured: Bool { !expected.isEmpty }

    /// Checks the admin token of an operator route (`what`: the routes, for the problem's
    /// detail); answers 401/403 itself when it fails.
    func require(_ context: RequestContext, for what: String) -> Bool {
        guard isConfigured else {
            context.reply(Problem(403, "\(what) are disabled: start the gateway with --admin-token"))
            return false
        }
        guard let token = context.bearerToken else {
            var problem = Problem(401, "\(what) need the admin token (Authorization: Bearer ...)")
            problem.headers.add("WWW-Authenticate", "Bearer")
            context.reply(problem)
            return false
        }
        guard matches(token) else {
            context.reply(Problem(403, "that is not the admin token"))
            return false
        }
        return true
    }

    /// Whether `token` is the admin token (never, when the gateway has none).
    func matches(_ token: String) -> Bool {
        isConfigured && constantTimeEqual(Identifiers.tokenHash(token), Identifiers.tokenHash(expected))
    }
}

extension GatewayConfiguration {
    /// Whether a browser WebSocket from `origin` may connect. Non-browser clients send no Origin.
    func webSocketOriginAllowed(_ origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        let allowed = protection.webSocketOrigins.isEmpty ? corsOrigins : protection.webSocketOrigins
        if allowed.contains("*") || allowed.contains(origin) { return true }
        // Same origin: the page this gateway served.
        guard let host else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }
}

/// Compares without an early exit, so timing says nothing about where two secrets differ.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<x.count { difference |= x[index] ^ y[index] }
    return difference == 0
}

/// Messages per WebSocket connection: a token bucket kept in the gateway (a connection lives on
/// one gateway, so there is nothing to share).
struct MessageBucket {
    let rule: RateRule
    private var tokens: Double
    private var updatedAt: UInt64 = 0
    /// Consecutive refusals; sustained abuse closes the connection.
    private(set) var refusals = 0

    init(rule: RateRule) {
        self.rule = rule
        tokens = Double(rule.count)
    }

    mutating func take(now: UInt64) -> Bool {
        let rate = Double(rule.count) / Double(rule.periodMillis)
        tokens = min(Double(rule.count), tokens + Double(now &- updatedAt) * rate)
        updatedAt = now
        guard tokens >= 1 else {
            refusals += 1
            return false
        }
        tokens -= 1
        refusals = 0
        return true
    }
}
