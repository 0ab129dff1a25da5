import Archiver
import ArgumentParser
import Interview
import Logging
import Postgres
import Records
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
        0 (a second signal exits at once; their leases lapse). It also delivers webhooks (docs/webhooks.md) \
        unless --no-webhooks.
        """)

    @OptionGroup var common: CommonOptions

    @OptionGroup var archive: PostgresOptions

    @OptionGroup var webhookOptions: WebhookOptions

    @OptionGroup var webhookWorker: WebhookWorkerOptions

    @Option(help: "Sessions archived at once.")
    var concurrency: Int = environment("CONCURRENCY", 2)

    @Option(help: "Milliseconds a claimed session stays this archiver's without a renewal.")
    var leaseMs: Int = environment("LEASE_MS", 60_000)

    @Option(help: "Days a finished interview's record is kept (0: for good); older ones are erased hourly.")
    var archiveRetentionDays: Int = environment("ARCHIVE_RETENTION_DAYS", 365)

    @Option(help: "Seconds a released session still answers 410 instead of 404 (as the gateways' --gone-retention).")
    var goneRetention: Int = environment("GONE_RETENTION", 86_400)

    func validate() throws {
        guard archive.postgres != nil else { throw ValidationError("--postgres=URL is required: the archiver writes to PostgreSQL") }
        guard concurrency >= 1, concurrency <= 64 else { throw ValidationError("--concurrency must be 1...64") }
        guard leaseMs >= 1_000 else { throw ValidationError("--lease-ms must be at least 1000") }
        guard archiveRetentionDays >= 0, goneRetention >= 0 else {
            throw ValidationError("--archive-retention-days and --gone-retention must be at least 0")
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
        configuration.webhooks = webhookWorker.configuration(webhookOptions)
        let logger = try common.makeLogger("codeinterview.archiver")
        let loop = EventLoop()
        guard let postgres = archive.configuration else { throw ValidationError("--postgres=URL is required") }
        let store = recordStore(loop: loop, configuration: postgres, logger: logger)
        Archiver(loop: loop, configuration: configuration, store: store, logger: logger).run()
    }
}

/// The record store on `loop`: InterviewRecords on a PostgreSQL pool of its own.
func recordStore(loop: EventLoop, configuration: PostgresConfiguration, logger: Logger) -> ArchiveStore {
    let pool = PostgresPool(loop: loop, configuration: configuration, logger: logger)
    let records = InterviewRecords(pool: pool)
    return ArchiveStore(
        migrate: { done in
            records.migrate { result in
                if case .success(let applied) = result, applied > 0 { logger.info("applied \(applied) archive schema migration(s)") }
                done(result.map { _ in () }.mapError { $0 })
            }
        },
        save: { record, done in
            records.save(record) { result in
                // Stored by an earlier attempt that died before it released the keys: as good.
                if case .success(.alreadyStored) = result { logger.notice("session \(record.id) was stored already") }
                done(result.map { _ in () }.mapError { $0 })
            }
        },
        eraseEnded: { before, done in eraseEnded(records, before: before, erased: 0, done) },
        close: { done in
            pool.close()
            done()
        })
}

/// Erases in batches (each one statement) until a batch comes back short.
private func eraseEnded(_ records: InterviewRecords, before: Int64, erased: Int, _ done: @escaping (Result<Int, Error>) -> Void) {
    let batch = 500
    records.eraseEnded(before: before, limit: batch) { result in
        switch result {
        case .failure(let error): done(erased > 0 ? .success(erased) : .failure(error))
        case .success(let count) where count < batch: done(.success(erased + count))
        case .success(let count): eraseEnded(records, before: before, erased: erased + count, done)
        }
    }
}
