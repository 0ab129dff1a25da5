// LOCAL STUB (untracked): the pg branch's API, to compile against until it is merged.
import Logging
import Transport

public struct PostgresConfiguration: Sendable {
    public var url: String
    public var poolSize: Int
    public var statementTimeoutMs: Int
    public var connectTimeoutMs: Int
    public var maxQueued: Int
    public init(url: String, poolSize: Int = 4, statementTimeoutMs: Int = 5000, connectTimeoutMs: Int = 3000, maxQueued: Int = 1000) {
        self.url = url; self.poolSize = poolSize; self.statementTimeoutMs = statementTimeoutMs
        self.connectTimeoutMs = connectTimeoutMs; self.maxQueued = maxQueued
    }
}
public struct PostgresStatement: Sendable {
    public let name: String
    public let sql: String
    public init(_ name: String, _ sql: String) { self.name = name; self.sql = sql }
}
public struct PostgresResult: Sendable {
    public var columns: [String]
    public var rows: [[String?]]
    public var affectedRows: Int
    public subscript(row: Int, column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else { return nil }
        return rows[row][index]
    }
}
public struct PostgresError: Error, Sendable {
    public enum Kind: Sendable { case unavailable, timeout, server, protocolError, closed }
    public var kind: Kind
    public var sqlState: String?
    public var message: String
    public init(kind: Kind, sqlState: String? = nil, message: String) { self.kind = kind; self.sqlState = sqlState; self.message = message }
}
public final class PostgresPool {
    public init(loop: EventLoop, configuration: PostgresConfiguration, logger: Logger) {}
    public func query(_ statement: PostgresStatement, _ parameters: [String?], _ completion: @escaping (Result<PostgresResult, PostgresError>) -> Void) {}
    public func transaction(_ steps: [(PostgresStatement, [String?])], _ completion: @escaping (Result<[PostgresResult], PostgresError>) -> Void) {}
    public var isReachable: Bool { false }
    public func close() {}
}
