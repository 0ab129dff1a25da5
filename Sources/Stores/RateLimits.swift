import Interview
import Redis

/// "count per period": at most `count` at once, refilling one every period/count (GCRA).
public struct RateRule: Sendable, CustomStringConvertible {
    public let name: String
    public let count: Int
    public let periodMillis: Int

    public init(name: String, count: Int, periodMillis: Int) {
        self.name = name
        self.count = count
        self.periodMillis = periodMillis
    }

    /// Parses "COUNT/SECONDS" (e.g. "600/60").
    public init?(name: String, parsing text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let count = Int(parts[0]), let seconds = Double(parts[1]), count > 0, seconds > 0 else { return nil }
        self.init(name: name, count: count, periodMillis: Int(seconds * 1000))
    }

    public var description: String { "\(count)/\(Double(periodMillis) / 1000)s" }
    /// The IETF RateLimit-Policy form: "name";q=COUNT;w=SECONDS.
    public var policy: String { "\"\(name)\";q=\(count);w=\(max(1, periodMillis / 1000))" }
}

/// The outcome of one check over one or more rules.
public struct RateDecision: Sendable {
    public var allowed: Bool
    /// When denied: how long until the request would pass.
    public var retryAfterMillis: Int
    /// The rule closest to its limit, with what is left of it and when it is full again.
    public var rule: RateRule
    public var remaining: Int
    public var resetMillis: Int
}

/// Rate limits kept in Redis, so every gateway counts against the same numbers. One script
/// call (one round trip) checks every rule of a request and consumes from all or none.
public final class RateLimiter {
    let redis: RedisConnection

    public init(redis: RedisConnection) {
        self.redis = redis
        redis.register(Self.script)
        redis.register(RedisFunctions.library)
    }

    /// The keys of one check: `ci:{rl:<tag>}:<rule>:<subject>`. The tag (the client's address,
    /// or the session id) is the hash tag, so one call's keys share a slot in Redis Cluster while
    /// different addresses spread over the slots (and the shards) instead of all sitting in one.
    static func keys(_ checks: [(rule: RateRule, subject: String)], tag: String) -> [String] {
        checks.map { RateLimitKeys.key(tag: tag, rule: $0.rule.name, subject: $0.subject) }
    }

    /// Checks `rules`, each for its subject (an address, a session id), in one slot (`keys`).
    public func check(_ checks: [(rule: RateRule, subject: String)], tag: String,
                      _ completion: @escaping (Result<RateDecision, RedisError>) -> Void) {
        let keys = Self.keys(checks, tag: tag)
        var arguments: [String] = []
        for check in checks {
            let interval = max(1, check.rule.periodMillis / check.rule.count)
            arguments += [String(interval), String(interval * check.rule.count)]
        }
        redis.run(Self.script, keys: keys, arguments: arguments) { result in
            completion(result.map { value in
                let numbers = (value.array ?? []).map { $0.integer ?? 0 }
                guard numbers.count == 5, numbers[2] >= 1, numbers[2] <= checks.count else {
                    return RateDecision(allowed: true, retryAfterMillis: 0, rule: checks[0].rule, remaining: 0, resetMillis: 0)
                }
                return RateDecision(allowed: numbers[0] == 1, retryAfterMillis: numbers[1], rule: checks[numbers[2] - 1].rule,
                                    remaining: numbers[3], resetMillis: numbers[4])
            })
        }
    }

    /// GCRA. KEYS: one per rule (its theoretical arrival time, ms). ARGV: per rule, the
    /// emission interval and the tolerance (interval * count), in ms. Returns {allowed,
    /// retry_after_ms, index of the tightest rule, its remaining, its reset_ms}.
    static let script = RedisScripts.script("rate_check", PackageResources.rate_check_lua)
}
