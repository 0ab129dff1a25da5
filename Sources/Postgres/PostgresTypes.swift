/// Where PostgreSQL is and how the pool uses it. Every field but the URL has a default.
public struct PostgresConfiguration: Sendable {
    /// A libpq connection URI (`postgresql://user@host:port/db`) or key=value string.
    public var url: String
    /// Connections kept open (each runs one statement or transaction at a time).
    public var poolSize: Int = 4
    /// Sent as `options=-c statement_timeout=...`: the server cancels a longer statement (57014).
    public var statementTimeoutMs: Int = 5_000
    /// A connect attempt (TCP, TLS, authentication) unfinished after this long is given up.
    public var connectTimeoutMs: Int = 5_000
    /// Requests waiting for a connection; beyond, fail at once (.unavailable).
    public var maxQueued: Int = 1_000

    public init(url: String, poolSize: Int = 4, statementTimeoutMs: Int = 5_000, connectTimeoutMs: Int = 5_000, maxQueued: Int = 1_000) {
        self.url = url
        self.poolSize = poolSize
        self.statementTimeoutMs = statementTimeoutMs
        self.connectTimeoutMs = connectTimeoutMs
        self.maxQueued = maxQueued
    }
}

/// A statement prepared once per connection (PQsendPrepare on first use, then PQsendQueryPrepared);
/// parameters and results in text format. The name identifies it on a connection: one name, one SQL.
public struct PostgresStatement: Sendable, Hashable {
    public let name: String
    public let sql: String

    public init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}

extension PostgresStatement {
    /// A statement run without preparing (its name is empty), for SQL run once: without
    /// parameters it goes by the simple query protocol, so the text may hold several commands (a
    /// migration file; the result is the last command's); with parameters, as one unnamed
    /// statement.
    public static func unprepared(_ sql: String) -> PostgresStatement { PostgresStatement("", sql) }

    /// Whether it is prepared once per connection (it has a name).
    public var isPrepared: Bool { !name.isEmpty }
}

/// The rows of one statement, in text format.
public struct PostgresResult: Sendable {
    public var columns: [String]
    /// Text format; NULL is nil.
    public var rows: [[String?]]
    /// PQcmdTuples: rows inserted, updated, deleted, selected...; 0 when the command reports none.
    public var affectedRows: Int

    public init(columns: [String] = [], rows: [[String?]] = [], affectedRows: Int = 0) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    /// The value of `column` in `row`; nil for NULL, an unknown column or a row out of range.
    public subscript(row: Int, column: String) -> String? {
        guard rows.indices.contains(row), let index = columns.firstIndex(of: column), index < rows[row].count else { return nil }
        return rows[row][index]
    }
}

/// Why a request failed. `.unavailable`: no connection (PostgreSQL down, refused, lost mid-way,
/// queue full); `.timeout`: the statement timeout (SQLSTATE 57014) or no answer in time;
/// `.server`: PostgreSQL refused the statement (see `sqlState`); `.protocolError`: an answer
/// this client does not handle; `.closed`: the pool was closed.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case unavailable, timeout, server, protocolError, closed }
    public var kind: Kind
    /// PG_DIAG_SQLSTATE of a server error (e.g. "23505" unique violation, "57014" statement timeout).
    public var sqlState: String?
    public var message: String

    public init(_ kind: Kind, sqlState: String? = nil, _ message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
    }

    public var description: String {
        let state = sqlState.map { " [\($0)]" } ?? ""
        return "PostgreSQL \(kind)\(state): \(message)"
    }

    /// A unique violation (23505): the row is already there (idempotent writes look for it).
    public var isUniqueViolation: Bool { sqlState == "23505" }
}
