/// A decoded Redis reply. Copied out of hiredis' reply inside the callback: a reply is valid only there.
public enum RedisValue: Sendable, Equatable {
    case null
    case string([UInt8])
    case status(String)
    case integer(Int)
    case array([RedisValue])
    case error(String)

    public var text: String? {
        switch self {
        case .string(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        if case .string(let bytes) = self { return bytes }
        return nil
    }

    public var integer: Int? {
        switch self {
        case .integer(let value): return value
        case .string(let bytes): return Int(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

/// Why a command did not get a reply. A struct over a private enum, so cases can grow.
public struct RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    enum Kind: Equatable { case unavailable, server, connectionLost, timedOut }
    let kind: Kind
    public let message: String

    /// Redis is not connected right now (down, restarting, or not reached yet).
    public static func unavailable(_ message: String) -> RedisError { RedisError(kind: .unavailable, message: message) }
    /// Redis answered with an error reply.
    public static func server(_ message: String) -> RedisError { RedisError(kind: .server, message: message) }
    /// The connection dropped before the reply came.
    public static func connectionLost(_ message: String) -> RedisError { RedisError(kind: .connectionLost, message: message) }
    /// Redis did not answer within the command timeout.
    public static func timedOut(_ message: String) -> RedisError { RedisError(kind: .timedOut, message: message) }

    /// True for every error that means "Redis could not be reached" (as opposed to an error reply).
    public var isUnavailable: Bool { kind != .server }
    public var description: String { message }
}
