import ArgumentParser
import Postgres

/// Where the interview archive (PostgreSQL) is. Without --postgres a gateway serves no record
/// (its /api/v1/interviews routes answer 503).
struct PostgresOptions: ParsableArguments {
    @Option(help: "PostgreSQL connection URL of the interview archive, e.g. postgresql://user@host:5432/codeinterview (pass it as --postgres=URL).")
    var postgres: String?

    @Option(help: "PostgreSQL connections this process keeps open.")
    var postgresPoolSize = 4

    @Option(help: "Milliseconds a PostgreSQL statement may run before it is cancelled (its request answers 503).")
    var postgresStatementTimeoutMs = 5000

    @Option(help: "Hours a session's Redis keys outlive its end while they wait for an archiver (with --postgres): how long PostgreSQL may be away without losing an interview.")
    var archiveHoldHours = 168

    func validate() throws {
        guard archiveHoldHours >= 1 else { throw ValidationError("--archive-hold-hours must be at least 1") }
        guard (1...64).contains(postgresPoolSize) else { throw ValidationError("--postgres-pool-size must be 1...64") }
        guard postgresStatementTimeoutMs >= 1 else { throw ValidationError("--postgres-statement-timeout-ms must be positive") }
        if let postgres, postgres.isEmpty { throw ValidationError("--postgres must be a URL, e.g. postgresql://user@127.0.0.1:5432/db") }
    }

    /// How long an ended session's keys wait for the archiver; nil (no archiving: keys expire with
    /// the session, as without an archive) without --postgres.
    var archiveHoldMillis: Int64? { postgres == nil ? nil : Int64(archiveHoldHours) * 3_600_000 }

    /// The pool's configuration, or nil without --postgres.
    var configuration: PostgresConfiguration? {
        postgres.map { PostgresConfiguration(url: $0, poolSize: postgresPoolSize, statementTimeoutMs: postgresStatementTimeoutMs) }
    }
}
