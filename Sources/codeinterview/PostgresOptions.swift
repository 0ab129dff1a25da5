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

    func validate() throws {
        guard (1...64).contains(postgresPoolSize) else { throw ValidationError("--postgres-pool-size must be 1...64") }
        guard postgresStatementTimeoutMs >= 1 else { throw ValidationError("--postgres-statement-timeout-ms must be positive") }
        if let postgres, postgres.isEmpty { throw ValidationError("--postgres must be a URL, e.g. postgresql://user@127.0.0.1:5432/db") }
    }

    /// The pool's configuration, or nil without --postgres.
    var configuration: PostgresConfiguration? {
        postgres.map { PostgresConfiguration(url: $0, poolSize: postgresPoolSize, statementTimeoutMs: postgresStatementTimeoutMs) }
    }
}
