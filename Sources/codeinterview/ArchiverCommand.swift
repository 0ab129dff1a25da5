import Archiver
import ArgumentParser
import Interview
import Logging
import Stores
import Transport

struct ArchiverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archiver",
        abstract: "Move ended interviews from Redis to PostgreSQL, the interview record.",
        discussion: """
        The archiver claims ended sessions from the archive queue in Redis (ci:{archive}:due; a claim is a \
        lease, renewed while the archiver works; an archiver that dies lets it lapse and another takes the \
        session), reads each whole session, writes its record to PostgreSQL in one transaction (idempotent: \
        a record written twice is stored once), then deletes the session's Redis keys, leaving the marker \
        that answers 410. A write that fails (PostgreSQL down, a timeout) is retried with backoff (2^n s, at \
        most 5 min) and the keys stay. At start it brings the schema up to date, retrying until PostgreSQL \
        is there (reported unhealthy in the registry meanwhile), and erases records past \
        --archive-retention-days, then hourly. SIGTERM or SIGINT: finishes the sessions it holds, then exits \
        0 (a second signal exits at once; their leases lapse).
        """)

    @OptionGroup var common: CommonOptions

    @Option(help: "PostgreSQL connection URL (postgresql://user@host:port/database).")
    var postgres: String = environment("POSTGRES") ?? ""

    @Option(help: "Sessions archived at once.")
    var concurrency: Int = environment("CONCURRENCY", 2)

    @Option(help: "Milliseconds a claimed session stays this archiver's without a renewal.")
    var leaseMs: Int = environment("LEASE_MS", 60_000)

    @Option(help: "Days a finished interview's record is kept (0: for good); older ones are erased hourly.")
    var archiveRetentionDays: Int = environment("ARCHIVE_RETENTION_DAYS", 365)

    @Option(help: "Hours an archived session's Redis keys outlive its end (set on gateways; accepted here for one shared environment).")
    var archiveHoldHours: Int = environment("ARCHIVE_HOLD_HOURS", 168)

    @Option(help: "Seconds a released session still answers 410 instead of 404 (as the gateways' --gone-retention).")
    var goneRetention: Int = environment("GONE_RETENTION", 86_400)

    func validate() throws {
        guard !postgres.isEmpty else { throw ValidationError("--postgres=URL is required: the archiver writes to PostgreSQL") }
        guard concurrency >= 1, concurrency <= 64 else { throw ValidationError("--concurrency must be 1...64") }
        guard leaseMs >= 1_000 else { throw ValidationError("--lease-ms must be at least 1000") }
        guard archiveRetentionDays >= 0, archiveHoldHours >= 1, goneRetention >= 0 else {
            throw ValidationError("--archive-retention-days must be at least 0, --archive-hold-hours at least 1, --gone-retention at least 0")
        }
    }

    func run() throws {
        var configuration = ArchiverConfiguration()
        configuration.redis = try common.redisAddress()
        configuration.nodeID = common.nodeID
        configuration.concurrency = concurrency
        configuration.leaseMillis = Int64(leaseMs)
        configuration.retentionMillis = Int64(archiveRetentionDays) * 24 * 3600 * 1000
        configuration.sessions.goneRetentionMillis = Int64(goneRetention) * 1000
        let logger = try common.makeLogger("codeinterview.archiver")
        let loop = EventLoop()
        let store = try recordStore(loop: loop, url: postgres, logger: logger)
        Archiver(loop: loop, configuration: configuration, store: store, logger: logger).run()
    }
}

/// The record store on `loop`. (Until the PostgreSQL store is part of this build, one whose
/// schema never comes up: the archiver stays up, unhealthy, and archives nothing.)
func recordStore(loop: EventLoop, url: String, logger: Logger) throws -> ArchiveStore {
    struct NoStore: Error, CustomStringConvertible { var description: String { "this build has no PostgreSQL record store" } }
    return ArchiveStore(migrate: { $0(.failure(NoStore())) }, save: { _, done in done(.failure(NoStore())) })
}
