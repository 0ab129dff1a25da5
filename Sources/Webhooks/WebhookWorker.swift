import Interview
import JSON
import Logging
import Redis
import Stores
import Transport

public struct WebhookWorkerConfiguration: Sendable {
    /// Off: this process delivers no webhooks (`--no-webhooks`).
    public var enabled = true
    /// Deliveries in flight at once.
    public var concurrency = 8
    /// How long a claimed delivery is this worker's; longer than an attempt can take, so a live
    /// worker never loses one, and a dead worker's comes back after it.
    public var leaseMillis: Int64 = 30_000
    /// One attempt's deadline: resolution, connect, request, response.
    public var timeoutMillis: UInt64 = 10_000
    public var pollMillis: UInt64 = 500
    /// `--webhook-allow-private`: the SSRF rule off (endpoints on the cluster's own networks).
    public var allowPrivate = false
    /// A PEM file of CA certificates trusted besides the system's (`--webhook-ca-file`; tests).
    public var caFile: String?
    public var settings = WebhookSettings()

    public init() {}
}

/// Delivers webhook events from the outbox (WebhookOutbox): claims a delivery with a lease,
/// resolves its endpoint's host and checks every address again (the SSRF rule; DNS may have
/// changed since registration), connects to a checked address, POSTs the signed body, and records
/// the attempt: delivered (2xx), retried after the schedule's delay, or given up. At least once:
/// a worker that dies mid-attempt lets the lease lapse and the delivery is claimed again, with
/// the same event id.
public final class WebhookWorker {
    let loop: EventLoop
    let outbox: WebhookOutbox
    let configuration: WebhookWorkerConfiguration
    let logger: Logger
    private var pollTimer: LoopTimer?
    private var claiming = false
    private var stopped = false
    private var inFlight = 0
    /// Ends each attempt in flight (by delivery id): what stop() calls.
    private var abandon: [String: () -> Void] = [:]
    public private(set) var delivered = 0
    public private(set) var failed = 0
    /// https: one TLS context for every attempt; nil when it could not be made (https attempts fail).
    private let tls: TLSClientContext?
    private let tlsProblem: String?

    public init(loop: EventLoop, redis: RedisConnection, configuration: WebhookWorkerConfiguration, logger: Logger) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
        outbox = WebhookOutbox(redis: redis, settings: configuration.settings)
        do {
            tls = try TLSClientContext(caFile: configuration.caFile)
            tlsProblem = nil
        } catch {
            tls = nil
            tlsProblem = error.description
            logger.error("https webhooks will fail: \(error)")
        }
    }

    public func start() {
        stopped = false
        pull()
    }

    /// Claims no more; attempts in flight end now as failed ones (retried after the schedule's
    /// delay, by this or another worker; if recording that fails, after their lease).
    public func stop() {
        stopped = true
        pollTimer?.close()
        pollTimer = nil
        for end in abandon.values { end() }
        abandon.removeAll()
    }

    public func pull() {
        guard !stopped, !claiming, inFlight < configuration.concurrency else { return }
        guard outbox.redis.isConnected else { return poll() }
        claiming = true
        outbox.claim(leaseMillis: configuration.leaseMillis) { [self] result in
            claiming = false
            guard !stopped else { return }
            switch result {
            case .failure(let error):
                logger.warning("claiming a webhook delivery failed: \(error)")
                poll()
            case .success(nil):
                poll()
            case .success(let delivery?):
                inFlight += 1
                attempt(delivery)
                pull()
            }
        }
    }

    private func poll() {
        guard !stopped else { return }
        if pollTimer == nil { pollTimer = LoopTimer(loop: loop) }
        pollTimer?.start(after: configuration.pollMillis) { [unowned self] in self.pull() }
    }

    // MARK: One attempt

    private func attempt(_ delivery: WebhookOutbox.Delivery) {
        let started = EventLoop.hrtime()
        let startedAt = EventLoop.unixMillis()
        var done = false
        var exchange: HTTPClientExchange?
        let deadline = LoopTimer(loop: loop)
        let finish: (HTTPClientExchange.Outcome, String?) -> Void = { [self] outcome, address in
            guard !done else { return }
            done = true
            abandon.removeValue(forKey: delivery.id)
            deadline.close()
            exchange?.finish(outcome)
            let duration = Int((EventLoop.hrtime() - started) / 1_000_000)
            record(delivery, outcome, address: address, at: startedAt, durationMillis: duration)
        }
        abandon[delivery.id] = { finish(.error("the worker stopped"), nil) }
        deadline.start(after: configuration.timeoutMillis) { finish(.error("timed out after \(self.configuration.timeoutMillis) ms"), nil) }
        let url: OutboundURL
        do {
            url = try OutboundURL(delivery.endpoint.url)
        } catch {
            return finish(.error("the endpoint's url is invalid: \(error)"), nil)
        }
        var secure: (context: TLSClientContext, serverName: String)?
        if url.scheme == "https" {
            guard let tls else { return finish(.error("no TLS: \(tlsProblem ?? "?")"), nil) }
            secure = (tls, url.resolvableHost)
        }
        Resolver.resolve(loop: loop, host: url.resolvableHost, port: url.port) { [self] resolved in
            guard !done else { return }
            let addresses: [[UInt8]]
            switch resolved {
            case .failure(let why): return finish(.error("resolving \(url.host) failed: \(why)"), nil)
            case .success(let found): addresses = found
            }
            let allowed = configuration.allowPrivate ? addresses : addresses.filter { OutboundAddress.refusal($0) == nil }
            guard let address = allowed.first else {
                let why = addresses.first.flatMap(OutboundAddress.refusal) ?? "not allowed"
                return finish(.error("refused: \(url.host) resolves to \(OutboundAddress.text(addresses[0])), \(why) "
                                     + "(start every process that delivers webhooks, archivers and gateways, with --webhook-allow-private to allow it)"), nil)
            }
            let text = OutboundAddress.text(address)
            let request = Self.request(delivery, url)
            exchange = HTTPClientExchange.start(loop: loop, address: address, port: url.port, request: request,
                                                timeoutMillis: configuration.timeoutMillis, tls: secure) { outcome in finish(outcome, text) }
        }
    }

    /// The signed POST (Standard Webhooks headers), Connection: close.
    static func request(_ delivery: WebhookOutbox.Delivery, _ url: OutboundURL) -> [UInt8] {
        let body = Array(delivery.body.utf8)
        let timestamp = EventLoop.unixMillis() / 1000
        let signature = WebhookSignature.sign(secret: delivery.endpoint.secret, id: delivery.eventID, timestamp: timestamp, body: body) ?? ""
        let head = "POST \(url.target) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUser-Agent: CodeInterview-Webhooks/1\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
            + "webhook-id: \(delivery.eventID)\r\nwebhook-timestamp: \(timestamp)\r\nwebhook-signature: \(signature)\r\n\r\n"
        return Array(head.utf8) + body
    }

    private func record(_ delivery: WebhookOutbox.Delivery, _ result: HTTPClientExchange.Outcome, address: String?, at: Int64, durationMillis: Int) {
        var outcome = WebhookOutbox.Outcome.delivered
        var delay: Int64 = 0
        var status: JSON = .null, error: JSON = .null
        switch result {
        case .status(let code) where (200...299).contains(code):
            status = .integer(code)
        case .status(let code):
            status = .integer(code)
            if (300...399).contains(code) { error = "redirects are not followed" }
        case .error(let why):
            error = .string(why)
        }
        if case .string = error { outcome = .retry } else if case .integer(let code) = status, !(200...299).contains(code) { outcome = .retry }
        if outcome == .retry {
            if let next = outbox.retryDelay(afterAttempt: delivery.attempt) { delay = next } else { outcome = .givenUp }
        }
        let entry: JSON = ["delivery_id": .string(delivery.id), "event_id": .string(delivery.eventID), "type": .string(delivery.type),
                           "attempt": .integer(delivery.attempt), "at": .integer(Int(at)), "status": status, "error": error,
                           "duration_ms": .integer(durationMillis), "address": address.map(JSON.string) ?? .null,
                           "outcome": .string(outcome == .delivered ? "delivered" : outcome == .retry ? "retrying" : "given-up"),
                           "next_attempt_in_ms": outcome == .retry ? .integer(Int(delay)) : .null]
        if outcome == .delivered { delivered += 1 } else { failed += 1 }
        outbox.finish(delivery, outcome, record: entry, retryAfterMillis: delay) { [self] answer in
            switch answer {
            case .success("disabled"):
                logger.warning("webhook \(delivery.endpoint.id) disabled: \(configuration.settings.disableAfterGivenUp) deliveries in a row given up")
            case .success(let word) where word != "ok":
                logger.notice("webhook delivery \(delivery.id) attempt \(delivery.attempt): \(error.stringValue ?? status.intValue.map { "status \($0)" } ?? "?"); \(word)")
            case .failure(let failure):
                logger.warning("recording webhook delivery \(delivery.id) failed: \(failure); its lease will lapse and it is tried again")
            default: break
            }
            inFlight -= 1
            pull()
        }
    }
}
