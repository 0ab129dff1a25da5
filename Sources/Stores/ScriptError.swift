import Interview
import Redis

/// The scripts' error vocabulary, decoded in this one place: a script refuses with an error reply
/// whose first word is one of these (Lua/lib.lua lists them), and Swift code that finds the same
/// condition itself (a session read by plain commands) uses the same cases, never a made-up reply.
public enum ScriptError: Equatable, Sendable {
    /// NOTFOUND [what]: no such session ("participant": no such participant; the library: no such question).
    case notFound(String)
    /// GONE <why>: the session is over.
    case gone(GoneReason)
    /// FULL <n>: a session at its capacity, or the library at its cap.
    case full(String)
    case forbidden(String)
    case unauthorized(String)
    case conflict(String)
    /// FUTURE <revision>: a base revision ahead of the document's.
    case future(String)
    /// STALE <revision>: a base revision too far behind to transform.
    case stale(String)
    case invalid(String)
    /// TOOLARGE <bytes>: the document would pass its byte limit.
    case tooLarge(String)
    /// TOOMANY: the session has too many open connections.
    case tooMany
    /// BUSY <depth>: the job queue is full.
    case busy(Int?)
    /// LOCKED <code> <why>: a room control refuses it (code `editor_locked` or `runs_held`).
    case locked(code: String, detail: String)

    public enum GoneReason: String, Sendable {
        case ended, deleted, expired
    }

    /// The session-is-not-there error from its `gone` key's value (what a script answers with
    /// gone_or_not_found in Lua/lib.lua).
    public static func missing(gone: String?) -> ScriptError {
        guard let gone else { return .notFound("") }
        return .gone(gone == "deleted" ? .deleted : (gone == "ended" ? .ended : .expired))
    }

    /// Decodes a script's error reply; nil for a connection problem or an error outside the vocabulary.
    public init?(_ error: RedisError) {
        if error.isUnavailable { return nil }
        var message = Substring(error.message)
        // Redis prefixes "ERR " to a script error whose text has no space ("NOTFOUND").
        if message.hasPrefix("ERR ") { message = message.dropFirst(4) }
        let word = message.prefix { $0 != " " }
        let rest = message.dropFirst(word.count).trimmingWhitespace()
        switch word {
        case "NOTFOUND": self = .notFound(rest)
        case "GONE": self = .gone(GoneReason(rawValue: rest) ?? .expired)
        case "FULL": self = .full(rest)
        case "FORBIDDEN": self = .forbidden(rest)
        case "UNAUTHORIZED": self = .unauthorized(rest)
        case "CONFLICT": self = .conflict(rest)
        case "FUTURE": self = .future(rest)
        case "STALE": self = .stale(rest)
        case "INVALID": self = .invalid(rest)
        case "TOOLARGE": self = .tooLarge(rest)
        case "TOOMANY": self = .tooMany
        case "BUSY": self = .busy(Int(rest))
        case "LOCKED":
            let code = rest.prefix { $0 != " " }
            self = .locked(code: String(code), detail: String(rest.dropFirst(code.count).trimmingWhitespace()))
        default: return nil
        }
    }

    /// The error as a domain error about session `id`.
    public func interviewError(session id: String) -> InterviewError {
        switch self {
        case .notFound(let what):
            return InterviewError(.notFound, what == "participant" ? "no such participant in session \(id)" : "no session with id \(id)")
        case .gone(.ended): return InterviewError(.gone, "session \(id) has ended")
        case .gone(.deleted): return InterviewError(.gone, "session \(id) was deleted by its host")
        case .gone(.expired): return InterviewError(.gone, "session \(id) has expired")
        case .full(let count): return InterviewError(.full, "session \(id) is full (\(count) participants, the most it allows)")
        case .forbidden(let detail): return InterviewError(.forbidden, detail)
        case .unauthorized(let detail): return InterviewError(.unauthorized, detail)
        case .conflict(let detail): return InterviewError(.conflict, detail)
        case .future(let revision):
            return InterviewError(.invalid, "that revision is from the future: the document is at revision \(revision)", field: "revision")
        case .stale(let revision):
            return InterviewError(.stale, "the document moved on too far (now at revision \(revision)) to catch up from that revision; "
                                  + "join again to reload it", field: "revision")
        case .invalid(let detail): return InterviewError(.invalid, detail, field: "ops")
        case .tooLarge(let bytes): return InterviewError(.tooLarge, "the document would be \(bytes) bytes, more than the limit", field: "ops")
        case .tooMany: return InterviewError(.full, "session \(id) has too many open connections")
        case .busy(let depth): return InterviewError(.unavailable, "the execution queue is full (\(depth.map(String.init) ?? "?") jobs)")
        case .locked(let code, let detail):
            var error = InterviewError(.forbidden, detail)
            error.code = code
            return error
        }
    }
}

/// A Redis error as a domain error about session `id`: unavailable, a script's refusal, or an
/// internal error for anything else.
func translate(_ error: RedisError, session id: String = "") -> InterviewError {
    if error.isUnavailable { return InterviewError(.unavailable, error.message) }
    switch ScriptError(error) {
    case nil, .busy?: break  // BUSY outside the job store is Redis' own ("busy running a script")
    case let refusal?: return refusal.interviewError(session: id)
    }
    var message = Substring(error.message)
    if message.hasPrefix("ERR ") { message = message.dropFirst(4) }
    return InterviewError(.internalError, "Redis script failed: \(message)")
}
