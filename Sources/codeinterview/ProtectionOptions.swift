import ArgumentParser
import Gateway
import Interview
import Stores
import Transport

/// The gateway's protection settings: client identity, rate limits, connection bounds, origins.
struct GatewayProtectionOptions: ParsableArguments {
    @Option(help: "Comma-separated addresses or networks (CIDR) of trusted balancers: only their X-Forwarded-For / PROXY line is believed.")
    var trustedProxies: String = environment("TRUSTED_PROXIES") ?? ""

    @Flag(help: "Expect a PROXY protocol v1 line first on connections from trusted proxies (HAProxy's send-proxy).")
    var proxyProtocol: Bool = environment("PROXY_PROTOCOL", false)

    @Option(help: "Rate limits kept in Redis: on or off (off only for tests that do not test them).")
    var rateLimits: String = environment("RATE_LIMITS") ?? "on"

    @Option(help: "When Redis cannot be asked about a rate limit: open (let the request through; it needs Redis anyway) or closed (503).")
    var rateLimitFailure: String = environment("RATE_LIMIT_FAILURE") ?? "open"

    @Option(help: "API requests and WebSocket upgrades per client address, COUNT/SECONDS.")
    var rateRequests: String = environment("RATE_REQUESTS") ?? "600/60"

    @Option(help: "Sessions created per client address, COUNT/SECONDS.")
    var rateSessions: String = environment("RATE_SESSIONS") ?? "60/3600"

    @Option(help: "Joins (REST and WebSocket) per client address, COUNT/SECONDS.")
    var rateJoins: String = environment("RATE_JOINS") ?? "60/60"

    @Option(help: "Code executions per client address, COUNT/SECONDS.")
    var rateExecutions: String = environment("RATE_EXECUTIONS") ?? "30/60"

    @Option(help: "Code executions per session, COUNT/SECONDS.")
    var rateSessionExecutions: String = environment("RATE_SESSION_EXECUTIONS") ?? "60/60"

    @Option(help: "WebSocket messages per connection, COUNT/SECONDS (an error past it; 20 refusals in a row close with 1008).")
    var wsRateMessages: String = environment("WS_RATE_MESSAGES") ?? "100/1"

    @Option(help: "WebSocket cursor updates per connection, COUNT/SECONDS.")
    var wsRateCursors: String = environment("WS_RATE_CURSORS") ?? "30/1"

    @Option(help: "Open connections (HTTP and WebSocket) per gateway process; past it: 503 and close.")
    var maxConnections: Int = environment("MAX_CONNECTIONS", 20_000)

    @Option(help: "Open connections per client address on one gateway (trusted proxies exempt); past it: 429 and close.")
    var maxConnectionsPerAddress: Int = environment("MAX_CONNECTIONS_PER_ADDRESS", 256)

    @Option(help: "Comma-separated origins a browser WebSocket may come from ('*' any; default: the CORS origins, else same-origin only).")
    var wsOrigins: String = environment("WS_ORIGINS") ?? ""

    @Option(help: "Admin token guarding operator routes (empty: those routes are off).")
    var adminToken: String = environment("ADMIN_TOKEN") ?? ""

    /// Applies these options to the configuration.
    func apply(to configuration: inout GatewayConfiguration) throws {
        var protection = ProtectionSettings()
        for entry in list(trustedProxies) {
            guard let range = AddressRange(entry) else { throw ValidationError("--trusted-proxies: '\(entry)' is not an address or CIDR network") }
            protection.trustedProxies.append(range)
        }
        guard ["on", "off"].contains(rateLimits) else { throw ValidationError("--rate-limits must be on or off") }
        guard ["open", "closed"].contains(rateLimitFailure) else { throw ValidationError("--rate-limit-failure must be open or closed") }
        protection.rateLimitsEnabled = rateLimits == "on"
        protection.rateLimitFailOpen = rateLimitFailure == "open"
        protection.requests = try rule("requests", rateRequests, flag: "--rate-requests")
        protection.sessions = try rule("sessions", rateSessions, flag: "--rate-sessions")
        protection.joins = try rule("joins", rateJoins, flag: "--rate-joins")
        protection.executions = try rule("executions", rateExecutions, flag: "--rate-executions")
        protection.sessionExecutions = try rule("session-executions", rateSessionExecutions, flag: "--rate-session-executions")
        protection.webSocketMessages = try rule("ws-messages", wsRateMessages, flag: "--ws-rate-messages")
        protection.webSocketCursors = try rule("ws-cursors", wsRateCursors, flag: "--ws-rate-cursors")
        protection.webSocketOrigins = list(wsOrigins)
        protection.adminToken = adminToken
        guard maxConnections >= 1, maxConnectionsPerAddress >= 1 else { throw ValidationError("connection limits must be at least 1") }
        configuration.protection = protection
        configuration.http.maxConnections = maxConnections
        configuration.http.maxConnectionsPerAddress = maxConnectionsPerAddress
        configuration.http.trustedProxies = protection.trustedProxies
        configuration.http.proxyProtocol = proxyProtocol
    }

    private func rule(_ name: String, _ text: String, flag: String) throws -> RateRule {
        guard let rule = RateRule(name: name, parsing: text) else { throw ValidationError("\(flag) must be COUNT/SECONDS, e.g. 600/60, not '\(text)'") }
        return rule
    }

    private func list(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
    }
}
