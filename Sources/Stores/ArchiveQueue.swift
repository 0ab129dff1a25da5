import Interview
import Redis

/// The archive queue in Redis (ArchiveKeys, one `{archive}` slot): which sessions still have to be
/// written to PostgreSQL before their keys may go. Gateways schedule (at create, at the session's
/// expires_at; at end or deletion, now); archivers claim with a lease, renew it while they work,
/// and complete or retry. Every change is one script (Lua/archive_*.lua) on the `{archive}` slot.
public final class ArchiveQueue {
    public let redis: RedisConnection
    /// The queue keys' TTL, refreshed by every schedule and retry: longer than any session's life
    /// and hold, so an idle cluster's queue goes in the end and a busy one's never does.
    public var keyTTLMillis: Int64 = 400 * 24 * 3600 * 1000
    /// Backoff after a failed attempt n (1, 2...): min(base * 2^n, most).
    public var retryBaseMillis: Int64 = 1000
    public var retryMostMillis: Int64 = 5 * 60 * 1000

    static let schedule = RedisScripts.script("archive_schedule", PackageResources.archive_schedule_lua)
    static let claim = RedisScripts.script("archive_claim", PackageResources.archive_claim_lua)
    static let renew = RedisScripts.script("archive_renew", PackageResources.archive_renew_lua)
    static let retry = RedisScripts.script("archive_retry", PackageResources.archive_retry_lua)
    static let complete = RedisScripts.script("archive_complete", PackageResources.archive_complete_lua)
    static let stats = RedisScripts.script("archive_stats", PackageResources.archive_stats_lua)
    static let all: [RedisScript] = [schedule, claim, renew, retry, complete, stats]

    public init(redis: RedisConnection) {
        self.redis = redis
        for script in Self.all { redis.register(script) }
        redis.register(ExecutionScripts.registerRunner)
        redis.register(ExecutionScripts.deregisterRunner)
    }

    /// An archiver's liveness, as a runner's (the same script on NodeKeys.archivers): for
    /// cluster/status. Archivers silent for a minute are forgotten.
    public func heartbeat(archiver: String, leaseMillis: Int64, info: String, _ completion: @escaping (Result<Void, RedisError>) -> Void = { _ in }) {
        redis.run(ExecutionScripts.registerRunner, keys: [NodeKeys.archivers, NodeKeys.archiverInfo],
                  arguments: [archiver, String(leaseMillis), info]) { completion($0.map { _ in () }) }
    }

    public func deregister(archiver: String, _ completion: @escaping (Result<Void, RedisError>) -> Void = { _ in }) {
        redis.run(ExecutionScripts.deregisterRunner, keys: [NodeKeys.archivers, NodeKeys.archiverInfo], arguments: [archiver]) {
            completion($0.map { _ in () })
        }
    }

    /// A claimed session: its id, how many attempts failed before, and Redis' clock at the claim.
    public struct Claim: Sendable, Equatable {
        public var id: String
        public var attempts: Int
        public var now: Int64
    }

    /// What the queue holds, for /metrics and cluster/status.
    public struct Stats: Sendable, Equatable {
        /// Sessions queued (due later, due now, or claimed).
        public var size: Int
        /// Due and not claimed (or whose claim lapsed).
        public var overdue: Int
        /// How long the oldest overdue one has waited (ms; 0 for none).
        public var oldestOverdueMillis: Int64
    }

    /// Puts `id` on the queue at `dueAt` (Unix ms; nil for now), or brings its turn forward:
    /// never later than it was.
    public func schedule(_ id: String, dueAt: Int64? = nil, _ completion: @escaping (Result<Void, RedisError>) -> Void = { _ in }) {
        redis.run(Self.schedule, keys: ArchiveKeys.keys, arguments: [id, dueAt.map(String.init) ?? "", String(keyTTLMillis)]) { result in
            completion(result.map { _ in () })
        }
    }

    /// The most overdue session, claimed for `leaseMillis`; nil when none is due.
    public func claim(leaseMillis: Int64, _ completion: @escaping (Result<Claim?, RedisError>) -> Void) {
        redis.run(Self.claim, keys: ArchiveKeys.keys, arguments: [String(leaseMillis)]) { result in
            completion(result.flatMap { value in
                guard let items = value.array else { return .success(nil) }
                guard items.count == 3, let id = items[0].text, let attempts = items[1].integer, let now = items[2].integer else {
                    return .failure(.server("archive_claim returned an unexpected reply"))
                }
                return .success(Claim(id: id, attempts: attempts, now: Int64(now)))
            })
        }
    }

    /// Extends a claim's lease; false when the entry is gone (completed meanwhile).
    public func renew(_ id: String, leaseMillis: Int64, _ completion: @escaping (Result<Bool, RedisError>) -> Void = { _ in }) {
        redis.run(Self.renew, keys: ArchiveKeys.keys, arguments: [id, String(leaseMillis)]) { result in
            completion(result.map { $0.integer == 1 })
        }
    }

    /// A claimed session that is not over yet: due again at `until` (its expires_at). One ZADD XX
    /// on one key, no script: it never adds an entry that was completed meanwhile.
    public func postpone(_ id: String, until: Int64, _ completion: @escaping (Result<Void, RedisError>) -> Void = { _ in }) {
        redis.send(["ZADD", ArchiveKeys.due, "XX", String(until), id]) { completion($0.map { _ in () }) }
    }

    /// Archived (or nothing left to archive): off the queue, with its attempts.
    public func complete(_ id: String, _ completion: @escaping (Result<Void, RedisError>) -> Void = { _ in }) {
        redis.run(Self.complete, keys: ArchiveKeys.keys, arguments: [id]) { result in
            completion(result.map { _ in () })
        }
    }

    /// A failed attempt: due again after the backoff (answered, ms; nil when the entry was gone).
    public func retry(_ id: String, _ completion: @escaping (Result<Int64?, RedisError>) -> Void = { _ in }) {
        let arguments = [id, String(retryBaseMillis), String(retryMostMillis), String(keyTTLMillis)]
        redis.run(Self.retry, keys: ArchiveKeys.keys, arguments: arguments) { result in
            completion(result.map { value in value.integer.flatMap { $0 < 0 ? nil : Int64($0) } })
        }
    }

    public func stats(_ completion: @escaping (Result<Stats, RedisError>) -> Void) {
        redis.run(Self.stats, keys: ArchiveKeys.keys, arguments: []) { result in
            completion(result.flatMap { value in
                guard let items = value.array, items.count == 4, let size = items[0].integer, let overdue = items[1].integer,
                      let oldest = items[2].integer, let now = items[3].integer else {
                    return .failure(.server("archive_stats returned an unexpected reply"))
                }
                return .success(Stats(size: size, overdue: overdue, oldestOverdueMillis: oldest == 0 ? 0 : Int64(max(0, now - oldest))))
            })
        }
    }
}
