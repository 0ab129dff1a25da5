import Interview
import JSON
import Logging
import Redis
import Stores
import Webhooks
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// What the archiver writes to: the record store (PostgreSQL), behind closures so the Redis side
/// runs and is tested without it. `save` must be idempotent (a record written twice is stored
/// once) and all-or-nothing; it answers only when the record is stored for good.
public struct ArchiveStore {
    /// Brings the schema up to date; the archiver retries it until PostgreSQL is there.
    public var migrate: (@escaping (Result<Void, Error>) -> Void) -> Void
    public var save: (InterviewRecord, @escaping (Result<Void, Error>) -> Void) -> Void
    /// Erases records ended before a time (Unix ms); answers how many went.
    public var eraseEnded: (Int64, @escaping (Result<Int, Error>) -> Void) -> Void
    /// Closes its connections so the loop may end.
    public var close: (@escaping () -> Void) -> Void

    public init(migrate: @escaping (@escaping (Result<Void, Error>) -> Void) -> Void,
                save: @escaping (InterviewRecord, @escaping (Result<Void, Error>) -> Void) -> Void,
                eraseEnded: @escaping (Int64, @escaping (Result<Int, Error>) -> Void) -> Void = { _, done in done(.success(0)) },
                close: @escaping (@escaping () -> Void) -> Void = { $0() }) {
        self.migrate = migrate
        self.save = save
        self.eraseEnded = eraseEnded
        self.close = close
    }
}

public struct ArchiverConfiguration: Sendable {
    public var redis = RedisAddress.single(host: "127.0.0.1", port: 6379)
    public var nodeID = "archiver"
    /// Sessions archived at once.
    public var concurrency = 2
    /// How long a claim is this archiver's without a renewal; renewed every third of it while a
    /// session is being read, saved and released.
    public var leaseMillis: Int64 = 60_000
    /// How often an idle archiver looks for due sessions.
    public var pollMillis: UInt64 = 1_000
    public var heartbeatMillis: UInt64 = 1_000
    /// Records ended longer ago than this are erased (hourly, and once at start); 0 keeps them.
    public var retentionMillis: Int64 = 365 * 24 * 3600 * 1000
    public var eraseEveryMillis: UInt64 = 3600 * 1000
    /// Only its gone retention matters here (how long a released session answers 410).
    public var sessions = SessionSettings()
    /// The webhook delivery worker this archiver hosts (WebhookWorker.swift).
    public var webhooks = WebhookWorkerConfiguration()

    public init() {}
}

/// The archiver role: claims ended sessions from the archive queue (a lease in the queue's score),
/// reads each from Redis, saves its record, then releases its keys and completes it. A save that
/// fails is retried with backoff and the keys stay: a session leaves Redis only after its record
/// is stored. One libuv loop; the record store shares it.
public final class Archiver {
    let loop: EventLoop
    let configuration: ArchiverConfiguration
    let logger: Logger
    let store: ArchiveStore
    let redis: RedisConnection
    let queue: ArchiveQueue
    let sessions: SessionArchive
    /// Emits session.ended (expired) and interview.archived; delivers webhooks unless turned off.
    let outbox: WebhookOutbox
    let webhookWorker: WebhookWorker?

    private var signals: SignalWatcher?
    private var heartbeatTimer: LoopTimer?
    private var pollTimer: LoopTimer?
    private var migrateTimer: LoopTimer?
    private var eraseTimer: LoopTimer?
    /// The schema is up to date: claims may begin.
    private(set) var ready = false
    /// PostgreSQL answered the last thing asked of it.
    private(set) var healthy = false
    private var stopping = false
    private var closed = false
    private var claiming = false
    private var inFlight: [String: LoopTimer] = [:]
    private var migrateDelay: UInt64 = 500
    private(set) var archived = 0
    private(set) var failed = 0
    private let startedAt = EventLoop.unixMillis()

    public init(loop: EventLoop, configuration: ArchiverConfiguration, store: ArchiveStore, logger: Logger) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
        self.store = store
        redis = makeRedisClient(loop: loop, address: configuration.redis, logger: logger)
        queue = ArchiveQueue(redis: redis)
        sessions = SessionArchive(redis: redis, settings: configuration.sessions)
        redis.register(RedisFunctions.library)
        outbox = WebhookOutbox(redis: redis, settings: configuration.webhooks.settings)
        webhookWorker = configuration.webhooks.enabled
            ? WebhookWorker(loop: loop, redis: redis, configuration: configuration.webhooks, logger: logger) : nil
    }

    /// Serves until SIGTERM or SIGINT (then finishes what it holds; a second signal abandons it:
    /// the leases lapse and other archivers take those sessions).
    public func run() {
        start()
        logger.info("archiver \(configuration.nodeID) starting: concurrency \(configuration.concurrency), Redis at \(configuration.redis)")
        loop.run()
        logger.info("archiver \(configuration.nodeID) stopped after \(archived) session(s) archived")
    }

    /// Everything but running the loop (tests run it themselves).
    public func start() {
        signals = SignalWatcher(loop: loop, signals: [SIGTERM, SIGINT]) { [unowned self] signum in self.stop(signum) }
        redis.onStateChange = { [unowned self] up in
            if up { self.heartbeat() }
            self.pull()
            if up, !self.stopping { self.webhookWorker?.start() }
        }
        redis.start()
        let heartbeat = LoopTimer(loop: loop)
        heartbeatTimer = heartbeat
        heartbeat.start(after: configuration.heartbeatMillis, repeat: configuration.heartbeatMillis) { [unowned self] in self.heartbeat() }
        migrate()
    }

    // MARK: Schema

    /// Migrates, retrying (backoff to 30 s) until PostgreSQL is there; reported unhealthy meanwhile.
    private func migrate() {
        guard !closed, !stopping else { return }
        store.migrate { [unowned self] result in
            guard !self.closed else { return }
            switch result {
            case .success:
                self.logger.info("archive schema up to date")
                self.ready = true
                self.healthy = true
                self.heartbeat()
                self.erase()
                let timer = LoopTimer(loop: self.loop)
                self.eraseTimer = timer
                timer.start(after: self.configuration.eraseEveryMillis, repeat: self.configuration.eraseEveryMillis) { [unowned self] in self.erase() }
                self.pull()
            case .failure(let error):
                self.healthy = false
                self.logger.warning("the archive (PostgreSQL) is not there yet: \(error); trying again in \(self.migrateDelay) ms")
                if self.migrateTimer == nil { self.migrateTimer = LoopTimer(loop: self.loop) }
                self.migrateTimer?.start(after: self.migrateDelay) { [unowned self] in self.migrate() }
                self.migrateDelay = min(self.migrateDelay * 2, 30_000)
            }
        }
    }

    private func erase() {
        guard configuration.retentionMillis > 0, !closed else { return }
        let before = EventLoop.unixMillis() - configuration.retentionMillis
        store.eraseEnded(before) { [unowned self] result in
            switch result {
            case .success(let count): if count > 0 { self.logger.info("erased \(count) record(s) past the retention") }
            case .failure(let error): self.logger.warning("erasing records past the retention failed: \(error)")
            }
        }
    }

    // MARK: Claims

    /// Claims while a slot is free and something is due; when nothing is, looks again after the
    /// poll interval.
    private func pull() {
        guard ready, !stopping, !closed, !claiming, inFlight.count < configuration.concurrency, redis.isConnected else { return }
        claiming = true
        queue.claim(leaseMillis: configuration.leaseMillis) { [unowned self] result in
            self.claiming = false
            guard !self.closed else { return }
            switch result {
            case .failure(let error):
                self.logger.warning("claiming from the archive queue failed: \(error)")
                self.poll()
            case .success(nil):
                self.poll()
            case .success(let claim?):
                // Stopping: its lease lapses and another archiver takes it.
                guard !self.stopping else { return self.shutdownIfIdle() }
                self.archive(claim)
                self.pull()
            }
        }
    }

    private func poll() {
        if pollTimer == nil { pollTimer = LoopTimer(loop: loop) }
        pollTimer?.start(after: configuration.pollMillis) { [unowned self] in self.pull() }
    }

    private func archive(_ claim: ArchiveQueue.Claim) {
        let id = claim.id
        let renewal = LoopTimer(loop: loop)
        inFlight[id] = renewal
        let every = UInt64(max(configuration.leaseMillis / 3, 100))
        renewal.start(after: every, repeat: every) { [unowned self] in
            self.queue.renew(id, leaseMillis: self.configuration.leaseMillis)
        }
        var log = logger
        log[metadataKey: "session"] = .string(id)
        sessions.read(id, now: claim.now) { [unowned self] result in
            switch result {
            case .failure(let error):
                self.fail(id, "reading it failed: \(error)", log)
            case .success(.missing):
                log.notice("session \(id) is on the archive queue but its keys are gone: nothing to archive")
                self.complete(id, log)
            case .success(.live(let expiresAt)):
                // Not over yet (its create-time entry, or a stale one): due again when it expires.
                self.queue.postpone(id, until: expiresAt) { _ in self.finish(id) }
            case .success(.record(let record, let release)):
                self.store.save(record) { [unowned self] saved in
                    guard !self.closed else { return }
                    switch saved {
                    case .failure(let error):
                        self.healthy = false
                        self.fail(id, "saving its record failed: \(error)", log)
                    case .success:
                        self.healthy = true
                        self.sessions.release(id, release) { [unowned self] released in
                            switch released {
                            case .failure(let error):
                                // The record is stored; the next attempt finds it stored and releases.
                                self.fail(id, "releasing its keys failed: \(error)", log)
                            case .success:
                                log.info("session \(id) archived (\(record.ending.rawValue), code revision \(record.code.revision))")
                                self.archived += 1
                                self.emitArchived(record) { self.complete(id, log) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Webhooks: a session whose time ran out ends here (session.ended, reason expired); every
    /// archived one is announced (interview.archived). Before completing the queue entry: an
    /// archiver that dies in between archives again and emits again (at least once).
    private func emitArchived(_ record: InterviewRecord, _ then: @escaping () -> Void) {
        let id = record.id
        let archived: JSON = ["session_id": .string(id), "ending": .string(record.ending.rawValue),
                              "ended_at": .integer(Int(record.endedAt)), "record_url": .string("/api/v1/interviews/\(id)")]
        let announce = { [outbox, logger] in
            outbox.emit("interview.archived", archived) { result in
                if case .failure(let error) = result { logger.warning("emitting interview.archived for \(id) failed: \(error)") }
                then()
            }
        }
        guard record.ending == .expired else { return announce() }
        let ended: JSON = ["session_id": .string(id), "reason": "expired", "ended_at": .integer(Int(record.endedAt))]
        outbox.emit("session.ended", ended) { [logger] result in
            if case .failure(let error) = result { logger.warning("emitting session.ended for \(id) failed: \(error)") }
            announce()
        }
    }

    private func complete(_ id: String, _ log: Logger) {
        queue.complete(id) { [unowned self] result in
            if case .failure(let error) = result { log.warning("completing it on the queue failed: \(error); its lease will lapse") }
            self.finish(id)
        }
    }

    /// A failed attempt: the keys stay, the session is due again after the backoff.
    private func fail(_ id: String, _ why: String, _ log: Logger) {
        failed += 1
        queue.retry(id) { [unowned self] result in
            switch result {
            case .success(let delay?): log.warning("session \(id): \(why); trying again in \(delay) ms")
            case .success(nil): log.warning("session \(id): \(why); it left the queue meanwhile")
            case .failure(let error): log.warning("session \(id): \(why); scheduling the retry failed (\(error)): its lease will lapse")
            }
            self.finish(id)
        }
    }

    private func finish(_ id: String) {
        inFlight.removeValue(forKey: id)?.close()
        if stopping { return shutdownIfIdle() }
        pull()
    }

    // MARK: Liveness and shutdown

    var info: String {
        let info: JSON = ["id": .string(configuration.nodeID), "host": .string(Self.hostName), "pid": .integer(Int(getpid())),
                          "healthy": .bool(healthy), "ready": .bool(ready), "in_flight": .integer(inFlight.count),
                          "archived": .integer(archived), "failed": .integer(failed), "concurrency": .integer(configuration.concurrency),
                          "started_at": .integer(Int(startedAt)), "heartbeat_at": .integer(Int(EventLoop.unixMillis())),
                          "stopping": .bool(stopping)]
        return info.text
    }

    private static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(cString: buffer)
    }()

    private func heartbeat() {
        guard redis.isConnected, !closed else { return }
        queue.heartbeat(archiver: configuration.nodeID, leaseMillis: Int64(configuration.heartbeatMillis) * 5, info: info) { [logger] result in
            if case .failure(let error) = result { logger.warning("heartbeat failed: \(error)") }
        }
    }

    /// What SIGTERM does: finish the claims held, then close (the loop ends).
    public func stop() { stop(SIGTERM) }

    /// Whether it has closed everything.
    public var isClosed: Bool { closed }

    private func stop(_ signum: Int32) {
        if stopping {
            logger.notice("second signal: abandoning \(inFlight.count) claim(s); their leases lapse and another archiver takes them")
            return shutdown()
        }
        logger.notice("signal \(signum): finishing \(inFlight.count) claim(s), then stopping")
        stopping = true
        webhookWorker?.stop()
        heartbeat()
        shutdownIfIdle()
    }

    private func shutdownIfIdle() {
        guard stopping, inFlight.isEmpty, !claiming else { return }
        shutdown()
    }

    /// Leaves the registry, closes everything so the loop ends.
    private func shutdown() {
        guard !closed else { return }
        closed = true
        webhookWorker?.stop()
        for timer in [heartbeatTimer, pollTimer, migrateTimer, eraseTimer] { timer?.close() }
        for timer in inFlight.values { timer.close() }
        inFlight.removeAll()
        let close = { [unowned self] in
            self.store.close { [unowned self] in
                self.redis.close { [unowned self] in self.signals?.close() }
            }
        }
        guard redis.isConnected else { return close() }
        queue.deregister(archiver: configuration.nodeID) { _ in close() }
    }
}
