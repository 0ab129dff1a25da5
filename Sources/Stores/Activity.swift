import Interview
import JSON
import Redis

/// Integrity signals (issue 22, part 1): what a participant's browser reports over the WebSocket
/// (`activity` messages): a paste, the page hidden or the window left (and for how long), a large
/// insertion that was not a paste. Each is kept with the session in a capped list
/// (`SessionKeys.activity`), stamped with who and when by the script (Lua/activity_add.lua), and
/// published on the private channel only: interviewers see everyone's, candidates none. The list
/// is read whole by interviewers (GET /sessions/{id}/activity), by the timeline, and by the archiver
/// into the record (extras kind `integrity`).
///
/// A signal is a hint for a conversation, never proof (docs/integrity.md).
public final class Activity {
    public let redis: RedisConnection

    /// Most signals one session keeps; beyond, new ones are refused (the first ones stay).
    public static let cap = 5_000
    /// Most bytes of a signal's `data` object as the client sent it (re-encoded).
    public static let maxDataBytes = 512
    /// Per connection: at most `count` signals per `periodMillis` (a burst of `count`).
    public static let rate = RateRule(name: "activity", count: 20, periodMillis: 10_000)

    static let add = RedisScripts.session("activity_add", PackageResources.activity_add_lua)

    public init(redis: RedisConnection) {
        self.redis = redis
        redis.register(Self.add)
    }

    /// Refusals of the REST read open with this.
    static let purpose = "the integrity signals are for the session's interviewers"

    /// Stores a validated signal as `participant`'s (its id; the script reads its name and role);
    /// answers the stored entry.
    public func add(_ id: String, participant: String, _ signal: ActivitySignal,
                    _ completion: @escaping (Result<JSON, InterviewError>) -> Void) {
        let arguments = [participant, signal.kind.rawValue, JSON.object(signal.fields).text, String(Self.cap)]
        redis.run(Self.add, keys: SessionKeys(id).all, arguments: arguments) { result in
            switch result {
            case .failure(let error):
                if case .full? = ScriptError(error) {
                    return completion(.failure(InterviewError(.full, "session \(id) holds \(Self.cap) integrity signals, its cap; "
                                                              + "no more are kept")))
                }
                completion(.failure(translate(error, session: id)))
            case .success(let value):
                guard let text = value.text, let entry = try? JSON.parse(text) else { return completion(.failure(malformed("activity_add"))) }
                completion(.success(entry))
            }
        }
    }

    /// The signals after the `after`-th (all for 0), oldest first, for an interviewer's token (or
    /// `admin`: the operator's token, checked by the caller).
    public func list(_ id: String, token: String?, admin: Bool, after: Int,
                     _ completion: @escaping (Result<[JSON], InterviewError>) -> Void) {
        let keys = SessionKeys(id)
        let read = RedisRequest.command(["LRANGE", keys.activity, String(after), "-1"])
        let decode: ([RedisValue]) -> [JSON] = { $0.compactMap { $0.text.flatMap { try? JSON.parse($0) } } }
        guard admin else {
            return InterviewerRead.run(redis, session: id, token: token, purpose: Self.purpose, fields: [], reads: [read]) { result in
                completion(result.map { decode($0.replies[0].array ?? []) })
            }
        }
        redis.pipeline([.command(["HGET", keys.session, "id"]), .command(["GET", keys.gone]), read]) { result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let replies):
                guard replies[0].text != nil else {
                    return completion(.failure(ScriptError.missing(gone: replies[1].text).interviewError(session: id)))
                }
                completion(.success(decode(replies[2].array ?? [])))
            }
        }
    }
}

/// One signal as a client reports it (`{"type": "activity", "data": {"kind": ..., ...}}`),
/// validated: a known kind, only its own fields, each within bounds. Who and when are never taken
/// from the client (a `user_id`, `name`, `role`, `at` or `timestamp` it sends is refused as unknown).
public struct ActivitySignal: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// A paste into the code or the notes: `length` (characters), `source` (`document` or
        /// `notes`: its text was found in this session's own code or notes; `external`: not
        /// found), `document` (where it landed: `code` or `notes`), `offset`, `line` (1-based).
        case paste
        /// The page was hidden (`cause`: `hidden`) or the window lost focus (`blur`).
        case away
        /// Back after `away`: `cause` as it was, `duration_ms` away.
        case back
        /// One insertion of `length` characters that was not a paste (typed by a tool, dropped,
        /// autocompleted), above the client's threshold; `document`, `offset`, `line` as a paste's.
        case insert
    }

    public let kind: Kind
    /// The validated fields, in a fixed order.
    public let fields: [(key: String, value: JSON)]

    /// Longest paste or insertion reported (characters): a document is far smaller.
    public static let maxLength = 10_000_000
    /// Longest absence reported: a day.
    public static let maxDurationMillis = 86_400_000

    public init(_ data: JSON) throws(InterviewError) {
        guard let members = data.objectValue else { throw .invalid("data", "activity needs a data object") }
        guard data.text.utf8.count <= Activity.maxDataBytes else {
            throw InterviewError(.tooLarge, "an activity message's data is at most \(Activity.maxDataBytes) bytes; this one is "
                                 + "\(data.text.utf8.count)", field: "data")
        }
        guard let name = data["kind"]?.stringValue else {
            throw .invalid("kind", "activity needs kind: one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let kind = Kind(rawValue: name) else {
            throw .invalid("kind", "unknown activity kind '\(name.prefix(40))'; known: \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let allowed: [String]
        let required: [String]
        switch kind {
        case .paste: allowed = ["length", "source", "document", "offset", "line"]; required = ["length", "source"]
        case .insert: allowed = ["length", "document", "offset", "line"]; required = ["length"]
        case .away: allowed = ["cause"]; required = ["cause"]
        case .back: allowed = ["cause", "duration_ms"]; required = ["cause", "duration_ms"]
        }
        for (key, _) in members where key != "kind" && !allowed.contains(key) {
            throw .invalid(String(key.prefix(40)), "unknown field '\(key.prefix(40))' in a \(name) signal; it may have "
                           + allowed.joined(separator: ", ") + " (who and when are the server's)")
        }
        for key in required where data[key] == nil || data[key]!.isNull {
            throw .invalid(key, "a \(name) signal needs \(key)")
        }
        var fields: [(key: String, value: JSON)] = []
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(InterviewError) {
            guard let value = data[key], !value.isNull else { return }
            guard let number = value.intValue, range.contains(number) else {
                throw .invalid(key, "\(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            fields.append((key: key, value: .integer(number)))
        }
        func choice(_ key: String, _ options: [String]) throws(InterviewError) {
            guard let value = data[key], !value.isNull else { return }
            guard let text = value.stringValue, options.contains(text) else {
                throw .invalid(key, "\(key) must be one of \(options.joined(separator: ", "))")
            }
            fields.append((key: key, value: .string(text)))
        }
        switch kind {
        case .paste, .insert:
            try integer("length", 1...Self.maxLength)
            if kind == .paste { try choice("source", ["document", "notes", "external"]) }
            try choice("document", ["code", "notes"])
            try integer("offset", 0...Self.maxLength)
            try integer("line", 1...Self.maxLength)
        case .away:
            try choice("cause", ["hidden", "blur"])
        case .back:
            try choice("cause", ["hidden", "blur"])
            try integer("duration_ms", 0...Self.maxDurationMillis)
        }
        self.kind = kind
        self.fields = fields
    }
}
