import Interview
import JSON
import Logging
import Postgres

/// What `save` did: wrote the record, or found it already there (written before: by this
/// archiver before it was killed, or by another one).
public enum RecordSaveOutcome: Sendable { case stored, alreadyStored }

/// One page of the admin's list.
public struct RecordListPage: Sendable {
    /// Newest first: `{id, name, language, created_at, ended_at, ending, question_title,
    /// participants: [{id, name, role}]}`.
    public var items: [JSON]
    /// Where the next page starts (opaque); nil on the last page.
    public var nextCursor: String?

    public var json: JSON {
        ["interviews": .array(items), "next_cursor": nextCursor.map(JSON.string) ?? .null]
    }
}

/// Why a list was refused: bad input (a 400 at the gateway), or PostgreSQL.
public enum RecordListError: Error, Sendable {
    case invalidCursor(String)
    case postgres(PostgresError)
}

/// The interview record's PostgreSQL contract, as `Stores` is the Redis one: the schema (the
/// versioned files in Migrations/, applied by `migrate`), the statements (RecordStatements), and
/// typed calls. Everything runs on the pool's loop; every completion is called once, on it.
public final class InterviewRecords {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    // MARK: Migrations

    /// A versioned schema change: Migrations/NNN_name.sql.
    struct Migration {
        let version: Int
        let name: String
        let statement: PostgresStatement
    }

    /// Every migration, in order. A file is run as the body of one `DO` block: a prepared
    /// statement holds one command, and PL/pgSQL runs the file's DDL as written (no `$records$`
    /// in a file, and nothing that cannot run in a transaction, such as CREATE INDEX CONCURRENTLY).
    static let migrations: [Migration] = [
        migration(1, "interviews", PackageResources._01_interviews_sql), // (SwiftPM's name for 001_interviews.sql)
    ]

    private static func migration(_ version: Int, _ name: String, _ bytes: [UInt8]) -> Migration {
        let sql = String(decoding: bytes, as: UTF8.self)
        let body = "DO $records$ BEGIN\n\(sql)\nEND $records$"
        return Migration(version: version, name: name,
                         statement: PostgresStatement("records_migration_\(version)", body))
    }

    /// The latest schema version this build knows.
    public static var schemaVersion: Int { migrations.last?.version ?? 0 }

    /// Applies the migrations the database lacks, in order, each in its own transaction under
    /// the advisory lock (so two processes starting at once take turns, and the second finds the
    /// first's work done). Answers how many this call applied.
    public func migrate(_ completion: @escaping (Result<Int, PostgresError>) -> Void) {
        pool.transaction([(RecordStatements.migrationLock, []), (RecordStatements.createMigrations, []),
                          (RecordStatements.appliedMigrations, [])]) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let results):
                let applied = Set((results.last?.rows ?? []).compactMap { $0.first.flatMap { $0 }.flatMap { Int($0) } })
                let missing = Self.migrations.filter { !applied.contains($0.version) }
                apply(missing[...], count: 0, completion)
            }
        }
    }

    private func apply(_ missing: ArraySlice<Migration>, count: Int, _ completion: @escaping (Result<Int, PostgresError>) -> Void) {
        guard let migration = missing.first else { return completion(.success(count)) }
        pool.transaction([(RecordStatements.migrationLock, []),
                          (RecordStatements.claimMigration, [String(migration.version), migration.name]),
                          (migration.statement, [])]) { [self] result in
            switch result {
            case .success:
                apply(missing.dropFirst(), count: count + 1, completion)
            case .failure(let error) where error.sqlState == "23505":
                // Another process applied it between our read and our lock: nothing to do.
                apply(missing.dropFirst(), count: count, completion)
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    // MARK: Save

    /// Writes the whole record in ONE transaction (all of it or nothing), idempotently: every
    /// table's insert does nothing on its primary key, so a second save of the same id stores
    /// nothing more and answers `alreadyStored`.
    public func save(_ record: InterviewRecord, _ completion: @escaping (Result<RecordSaveOutcome, PostgresError>) -> Void) {
        let steps: [(PostgresStatement, [String?])]
        do {
            steps = try RecordEncoding.steps(record)
        } catch {
            return completion(.failure(error))
        }
        pool.transaction(steps) { result in
            completion(result.map { results in
                (results.first?.affectedRows ?? 0) > 0 ? .stored : .alreadyStored
            })
        }
    }

    // MARK: Read

    /// The record, or nil when there is none. `includeOps: false` leaves both documents' op logs
    /// empty (the record and the code view need only the final texts; the timeline and the text
    /// at a revision need the ops).
    public func record(_ id: String, includeOps: Bool, _ completion: @escaping (Result<InterviewRecord?, PostgresError>) -> Void) {
        var steps: [(PostgresStatement, [String?])] = [
            (RecordStatements.interview, [id]), (RecordStatements.participants, [id]),
            (RecordStatements.history, [id]), (RecordStatements.runs, [id]), (RecordStatements.extras, [id]),
        ]
        if includeOps { steps.append((RecordStatements.ops, [id])) }
        // One transaction: one connection and one snapshot-consistent read of a record that is
        // written and erased by single transactions.
        pool.transaction(steps) { result in
            completion(result.flatMap { results in
                Result { () throws(PostgresError) in try RecordDecoding.record(results, includeOps: includeOps) }
            })
        }
    }

    /// The record's host token hash (nil: no such record), for checking who may erase it.
    public func hostTokenHash(_ id: String, _ completion: @escaping (Result<String?, PostgresError>) -> Void) {
        pool.query(RecordStatements.hostTokenHash, [id]) { result in
            completion(result.map { $0.rows.isEmpty ? nil : $0[0, "host_token_hash"] })
        }
    }

    // MARK: Erase

    /// Erases the record and everything of it (a candidate's deletion request, the host's or the
    /// admin's DELETE): true when there was one.
    public func erase(_ id: String, _ completion: @escaping (Result<Bool, PostgresError>) -> Void) {
        pool.query(RecordStatements.erase, [id]) { result in
            completion(result.map { $0.affectedRows > 0 })
        }
    }

    /// Retention: erases up to `limit` records that ended before `endedAt` (Unix ms), oldest
    /// first; answers how many. Call again while it answers `limit`.
    public func eraseEnded(before endedAt: Int64, limit: Int, _ completion: @escaping (Result<Int, PostgresError>) -> Void) {
        pool.query(RecordStatements.eraseEnded, [String(endedAt), String(max(limit, 0))]) { result in
            completion(result.map(\.affectedRows))
        }
    }

    // MARK: List

    public static let defaultListLimit = 50
    public static let maximumListLimit = 200

    /// Finished interviews for the admin, newest first (ended_at, then id), `from <= ended_at <
    /// to`, matching `query` (a case-insensitive substring of the session name, a participant's
    /// name or the question title; `%`, `_` and `\` match themselves), after `cursor`.
    public func list(from: Int64?, to: Int64?, query: String?, cursor: String?, limit: Int,
                     _ completion: @escaping (Result<RecordListPage, RecordListError>) -> Void) {
        var after: RecordCursor?
        if let cursor {
            guard let parsed = RecordCursor(cursor) else {
                return completion(.failure(.invalidCursor("cursor is not one this API gave out: pass next_cursor from the previous page as it is")))
            }
            after = parsed
        }
        let limit = min(max(limit, 1), Self.maximumListLimit)
        let pattern = query.flatMap { $0.isEmpty ? nil : "%" + Self.likeEscaped($0) + "%" }
        let parameters: [String?] = [from.map { String($0) }, to.map { String($0) }, pattern,
                                     after.map { String($0.endedAt) }, after?.id, String(limit + 1)]
        pool.query(RecordStatements.list, parameters) { result in
            switch result {
            case .failure(let error):
                completion(.failure(.postgres(error)))
            case .success(let rows):
                let items = (0..<rows.rows.count).map { RecordDecoding.listItem(rows, $0) }
                var next: String?
                if items.count > limit, let last = items[limit - 1]["ended_at"]?.intValue, let id = items[limit - 1]["id"]?.stringValue {
                    next = RecordCursor(endedAt: Int64(last), id: id).text
                }
                completion(.success(RecordListPage(items: Array(items.prefix(limit)), nextCursor: next)))
            }
        }
    }

    /// `text` as a LIKE pattern matching itself (escape character '\').
    static func likeEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if character == "\\" || character == "%" || character == "_" { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

/// Where a list page ends: the last item's (ended_at, id), base64url-encoded so clients treat it
/// as opaque (and so it can change shape with a new prefix).
struct RecordCursor: Equatable {
    let endedAt: Int64
    let id: String

    init(endedAt: Int64, id: String) {
        self.endedAt = endedAt
        self.id = id
    }

    init?(_ text: String) {
        guard text.utf8.count <= 200, let decoded = Base64URL.decode(text) else { return nil }
        let parts = decoded.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "r1", let endedAt = Int64(parts[1]), endedAt >= 0,
              Identifiers.isSessionID(String(parts[2])) else { return nil }
        self.endedAt = endedAt
        id = String(parts[2])
    }

    var text: String { Base64URL.encode("r1:\(endedAt):\(id)") }
}

/// Unpadded base64url (RFC 4648 section 5), for the cursor.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * offset) }
            for position in 0...chunk.count { out.append(alphabet[Int((value >> (18 - 6 * position)) & 63)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> String? {
        var values: [UInt8] = []
        for byte in text.utf8 {
            guard let value = alphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt8(value))
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var value: UInt32 = 0
            for (offset, sextet) in chunk.enumerated() { value |= UInt32(sextet) << (18 - 6 * offset) }
            for position in 0..<(chunk.count - 1) { out.append(UInt8((value >> (16 - 8 * position)) & 255)) }
            index += 4
        }
        // Canonical only: re-encoding gives the same text (no stray low bits).
        guard let decoded = String(validating: out, as: UTF8.self), encode(decoded) == text else { return nil }
        return decoded
    }
}
