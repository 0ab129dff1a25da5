import CCrypto
import Interview
import JSON
import Redis
import Transport

/// The webhook bounds and delivery schedule (docs/webhooks.md).
public struct WebhookSettings: Sendable {
    public var maxEndpoints = 50
    /// Deliveries waiting (due, retrying or claimed) across all endpoints; past it an event's
    /// deliveries are dropped and counted (`dropped` in /metrics).
    public var maxQueued = 100_000
    /// The largest event body (bytes).
    public var maxPayloadBytes = 64 * 1024
    /// Attempts kept per endpoint for GET .../deliveries.
    public var logLength = 100
    /// Delays before the 2nd, 3rd... attempt (ms), each with up to +10% jitter; after the last
    /// attempt fails the delivery is given up. Default: 1 s, 5 s, 30 s, 2 min, 10 min, 30 min, 1 h,
    /// 2 h, 4 h, 6 h, 12 h (12 attempts over about 25.7 hours): quick at first, so a receiver that
    /// blipped gets the event within seconds, then backing off for a day.
    public var retryScheduleMillis: [Int64] = [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000,
                                                21_600_000, 43_200_000]
    /// Deliveries given up in a row that disable an endpoint.
    public var disableAfterGivenUp = 5

    public init() {}
}

/// A registered endpoint as stored (the secret included: only the worker and the creation
/// response see it).
public struct WebhookEndpoint: Sendable {
    public var json: JSON

    public var id: String { json["id"]?.stringValue ?? "" }
    public var url: String { json["url"]?.stringValue ?? "" }
    public var secret: String { json["secret"]?.stringValue ?? "" }
    public var enabled: Bool { json["enabled"]?.boolValue ?? false }

    /// What the API shows: everything but the secret.
    public var publicJSON: JSON {
        guard case .object(let members) = json else { return json }
        return .object(members.filter { $0.key != "secret" })
    }
}

/// The webhooks kept in Redis (WebhookKeys, one `{webhooks}` slot): endpoints, the outbox of
/// delivery jobs and each endpoint's attempt log. `emit` is the one call an event's source makes.
public final class WebhookOutbox {
    public let redis: RedisConnection
    public var settings: WebhookSettings

    static let register = RedisScripts.script("webhook_register", PackageResources.webhook_register_lua)
    static let update = RedisScripts.script("webhook_update", PackageResources.webhook_update_lua)
    static let delete = RedisScripts.script("webhook_delete", PackageResources.webhook_delete_lua)
    static let emit = RedisScripts.script("webhook_emit", PackageResources.webhook_emit_lua)
    static let claim = RedisScripts.script("webhook_claim", PackageResources.webhook_claim_lua)
    static let result = RedisScripts.script("webhook_result", PackageResources.webhook_result_lua)
    static let all: [RedisScript] = [register, update, delete, emit, claim, result]

    /// The event types an endpoint may subscribe to (`ping` is sent by the test route only).
    public static let eventTypes = ["session.created", "session.ended", "scorecard.submitted", "interview.archived"]

    public init(redis: RedisConnection, settings: WebhookSettings = WebhookSettings()) {
        self.redis = redis
        self.settings = settings
        for script in Self.all { redis.register(script) }
    }

    // MARK: Events

    /// Emits one event: `{"type", "timestamp" (Unix seconds), "data"}` under a new `evt_` id, one
    /// delivery job per enabled endpoint subscribed to `type`. Fire and forget for callers that do
    /// not care; the completion answers how many deliveries were queued.
    public func emit(_ type: String, _ data: JSON, _ completion: @escaping (Result<Int, InterviewError>) -> Void = { _ in }) {
        let id = "evt_" + Identifiers.hex(Identifiers.randomBytes(12))
        emit(id: id, type, data, completion)
    }

    public func emit(id: String, _ type: String, _ data: JSON, only endpoint: String = "",
                     _ completion: @escaping (Result<Int, InterviewError>) -> Void = { _ in }) {
        let body: JSON = ["type": .string(type), "timestamp": .integer(Int(unixSeconds())), "data": data]
        let text = body.text
        guard text.utf8.count <= settings.maxPayloadBytes else {
            return completion(.failure(InterviewError(.tooLarge, "the \(type) event is \(text.utf8.count) bytes, more than \(settings.maxPayloadBytes)")))
        }
        redis.run(Self.emit, keys: WebhookKeys.keys, arguments: [id, type, text, String(settings.maxQueued), endpoint]) { result in
            completion(result.map { $0.array?.first?.integer ?? 0 }.mapError { translate($0) })
        }
    }

    /// Queues a `ping` event for one endpoint alone (the test route), as emit does; answers its id.
    public func ping(_ endpoint: String, _ completion: @escaping (Result<String, InterviewError>) -> Void) {
        get(endpoint) { [self] result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let found):
                guard found.enabled else {
                    return completion(.failure(InterviewError(.conflict, "webhook \(endpoint) is disabled; enable it with PATCH {\"enabled\": true} first")))
                }
                let id = "evt_" + Identifiers.hex(Identifiers.randomBytes(12))
                emit(id: id, "ping", ["webhook_id": .string(endpoint)], only: endpoint) { queued in
                    completion(queued.flatMap { count in
                        count == 1 ? .success(id) : .failure(InterviewError(.conflict, "webhook \(endpoint) is disabled, gone, or the queue is full"))
                    })
                }
            }
        }
    }

    // MARK: Endpoints

    /// Registers an endpoint (already validated); answers it with its new secret.
    public func create(url: String, events: [String], description: String?,
                       _ completion: @escaping (Result<WebhookEndpoint, InterviewError>) -> Void) {
        let id = "wh_" + Identifiers.hex(Identifiers.randomBytes(8))
        let now = Int(EventLoop.unixMillis())
        let endpoint: JSON = ["id": .string(id), "url": .string(url), "events": .array(events.map(JSON.string)),
                              "description": description.map(JSON.string) ?? .null, "enabled": true, "disabled_reason": .null,
                              "disabled_at": .null, "given_up": 0, "created_at": .integer(now), "updated_at": .integer(now),
                              "secret": .string(WebhookSignature.newSecret())]
        redis.run(Self.register, keys: WebhookKeys.keys, arguments: [id, endpoint.text, String(settings.maxEndpoints)]) { [settings] result in
            switch result {
            case .success: completion(.success(WebhookEndpoint(json: endpoint)))
            case .failure(let error):
                if case .full? = ScriptError(error) {
                    return completion(.failure(InterviewError(.full, "there are \(settings.maxEndpoints) webhooks already, the most allowed; delete one first")))
                }
                completion(.failure(translate(error)))
            }
        }
    }

    public func list(_ completion: @escaping (Result<[WebhookEndpoint], InterviewError>) -> Void) {
        redis.send(["HVALS", WebhookKeys.endpoints]) { result in
            completion(result.mapError { translate($0) }.map { value in
                (value.array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }.map(WebhookEndpoint.init(json:))
                    .sorted { ($0.json["created_at"]?.intValue ?? 0, $0.id) < ($1.json["created_at"]?.intValue ?? 0, $1.id) }
            })
        }
    }

    public func get(_ id: String, _ completion: @escaping (Result<WebhookEndpoint, InterviewError>) -> Void) {
        redis.send(["HGET", WebhookKeys.endpoints, id]) { result in
            completion(result.mapError { translate($0) }.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text) else { return .failure(Self.notFound(id)) }
                return .success(WebhookEndpoint(json: json))
            })
        }
    }

    /// Sets the given fields (url, events, description, enabled).
    public func update(_ id: String, _ changes: JSON, _ completion: @escaping (Result<WebhookEndpoint, InterviewError>) -> Void) {
        redis.run(Self.update, keys: WebhookKeys.keys, arguments: [id, changes.text, String(EventLoop.unixMillis())]) { result in
            completion(Self.decode(result, id))
        }
    }

    public func delete(_ id: String, _ completion: @escaping (Result<Void, InterviewError>) -> Void) {
        redis.run(Self.delete, keys: WebhookKeys.keys + [WebhookKeys.log(id)], arguments: [id]) { result in
            completion(Self.decode(result, id).map { _ in () })
        }
    }

    /// The endpoint's last attempts, newest first.
    public func deliveries(_ id: String, limit: Int, _ completion: @escaping (Result<[JSON], InterviewError>) -> Void) {
        get(id) { [redis] found in
            if case .failure(let error) = found { return completion(.failure(error)) }
            redis.send(["LRANGE", WebhookKeys.log(id), "0", String(limit - 1)]) { result in
                completion(result.mapError { translate($0) }.map { value in
                    (value.array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
                })
            }
        }
    }

    private static func notFound(_ id: String) -> InterviewError {
        InterviewError(.notFound, "no webhook with id \(id); GET /api/v1/webhooks lists them")
    }

    private static func decode(_ result: Result<RedisValue, RedisError>, _ id: String) -> Result<WebhookEndpoint, InterviewError> {
        switch result {
        case .failure(let error):
            if case .notFound? = ScriptError(error) { return .failure(notFound(id)) }
            return .failure(translate(error))
        case .success(let value):
            guard let text = value.text, let json = try? JSON.parse(text) else {
                return .success(WebhookEndpoint(json: ["id": .string(id)]))
            }
            return .success(WebhookEndpoint(json: json))
        }
    }

    // MARK: The delivery worker's side

    /// A claimed delivery.
    public struct Delivery: Sendable {
        public var id: String
        public var endpoint: WebhookEndpoint
        public var eventID: String
        public var type: String
        public var body: String
        /// 1 for the first attempt.
        public var attempt: Int
    }

    /// The most overdue delivery, leased for `leaseMillis`; nil when none is due.
    public func claim(leaseMillis: Int64, _ completion: @escaping (Result<Delivery?, RedisError>) -> Void) {
        redis.run(Self.claim, keys: WebhookKeys.keys, arguments: [String(leaseMillis)]) { result in
            completion(result.flatMap { value in
                guard let items = value.array else { return .success(nil) }
                guard items.count == 5, let id = items[0].text, let jobText = items[1].text, let endpointText = items[2].text,
                      let attempt = items[3].integer, let job = try? JSON.parse(jobText), let endpoint = try? JSON.parse(endpointText) else {
                    return .failure(.server("webhook_claim returned an unexpected reply"))
                }
                return .success(Delivery(id: id, endpoint: WebhookEndpoint(json: endpoint), eventID: job["event"]?.stringValue ?? "",
                                         type: job["type"]?.stringValue ?? "", body: job["body"]?.stringValue ?? "", attempt: attempt))
            })
        }
    }

    public enum Outcome: String, Sendable { case delivered = "ok", retry, givenUp = "give-up" }

    /// Records an attempt (`record`: the log entry) and its consequence; answers the script's word
    /// (ok, retry, given-up, disabled, lost).
    public func finish(_ delivery: Delivery, _ outcome: Outcome, record: JSON, retryAfterMillis: Int64,
                       _ completion: @escaping (Result<String, RedisError>) -> Void) {
        let arguments = [delivery.id, delivery.endpoint.id, outcome.rawValue, record.text, String(retryAfterMillis),
                         String(settings.logLength), String(settings.disableAfterGivenUp)]
        redis.run(Self.result, keys: WebhookKeys.keys + [WebhookKeys.log(delivery.endpoint.id)], arguments: arguments) { result in
            completion(result.map { $0.text ?? "" })
        }
    }

    /// The delay before attempt `attempt + 1`, with up to +10% jitter; nil: give up.
    public func retryDelay(afterAttempt attempt: Int) -> Int64? {
        guard attempt >= 1, attempt <= settings.retryScheduleMillis.count else { return nil }
        let base = settings.retryScheduleMillis[attempt - 1]
        return base + Int64.random(in: 0...max(0, base / 10))
    }

    /// For /metrics: deliveries queued, and the counters.
    public struct Stats: Sendable {
        public var queued = 0
        public var delivered = 0
        public var failed = 0
        public var givenUp = 0
        public var dropped = 0
    }

    public func stats(_ completion: @escaping (Stats?) -> Void) {
        redis.send(["ZCARD", WebhookKeys.due]) { [redis] size in
            redis.send(["HGETALL", WebhookKeys.stats]) { counters in
                guard case .success(let size) = size, case .success(let counters) = counters else { return completion(nil) }
                var stats = Stats(queued: size.integer ?? 0)
                let items = counters.array ?? []
                for index in stride(from: 0, to: items.count - 1, by: 2) {
                    let value = Int(items[index + 1].text ?? "") ?? 0
                    switch items[index].text {
                    case "delivered": stats.delivered = value
                    case "failed": stats.failed = value
                    case "given_up": stats.givenUp = value
                    case "dropped": stats.dropped = value
                    default: break
                    }
                }
                completion(stats)
            }
        }
    }

    private func unixSeconds() -> Int64 { EventLoop.unixMillis() / 1000 }
}

/// Standard Webhooks signing (standardwebhooks.com): `v1,<base64 HMAC-SHA256 of
/// "{id}.{timestamp}.{body}">`, keyed with the secret's decoded bytes (`whsec_<base64>`).
public enum WebhookSignature {
    /// A new secret: `whsec_` and the base64 of 32 random bytes.
    public static func newSecret() -> String { "whsec_" + base64(Identifiers.randomBytes(32)) }

    /// The `webhook-signature` header value; nil for a malformed secret.
    public static func sign(secret: String, id: String, timestamp: Int64, body: [UInt8]) -> String? {
        guard secret.hasPrefix("whsec_"), let key = unbase64(String(secret.dropFirst(6))), !key.isEmpty else { return nil }
        let message = Array("\(id).\(timestamp).".utf8) + body
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &digest, &length)
            }
        }
        guard ok != nil else { return nil }
        return "v1," + base64(Array(digest.prefix(Int(length))))
    }

    public static func base64(_ bytes: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: (bytes.count + 2) / 3 * 4 + 1)
        let written = bytes.withUnsafeBufferPointer { EVP_EncodeBlock(&out, $0.baseAddress, Int32($0.count)) }
        return String(decoding: out.prefix(Int(written)), as: UTF8.self)
    }

    public static func unbase64(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard !input.isEmpty, input.count % 4 == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: input.count / 4 * 3)
        let written = input.withUnsafeBufferPointer { EVP_DecodeBlock(&out, $0.baseAddress, Int32($0.count)) }
        guard written >= 0 else { return nil }
        let padding = input.suffix(2).filter { $0 == UInt8(ascii: "=") }.count
        return Array(out.prefix(Int(written) - padding))
    }
}
