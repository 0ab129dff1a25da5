/// The Redis keys of one session, all hash-tagged to one slot (`ci:{id}:...`), so a session's
/// keys and its channel stay together on Redis Cluster. Lua/prelude.lua describes each key; every
/// session script takes `all` as KEYS, in this order.
public struct SessionKeys: Sendable {
    public let id: String

    public init(_ id: String) { self.id = id }

    private func key(_ name: String) -> String { "ci:{\(id)}:\(name)" }

    /// Hash: the session's scalars, the document's revision, length and byte bound.
    public var session: String { key("session") }
    public var participants: String { key("participants") }
    public var tokens: String { key("tokens") }
    public var history: String { key("history") }
    /// Why a session no longer exists; outlives it so clients get 410, not 404.
    public var gone: String { key("gone") }
    /// The previous layout's capped list of op frames (removed when a session is migrated).
    public var legacyOps: String { key("ops") }
    public var presence: String { key("presence") }
    /// List: the op log, one JSON entry per revision (LogEntry).
    public var log: String { key("log") }
    /// Hash: the latest text written, at its revision.
    public var snapshot: String { key("snapshot") }
    /// Hash: the text the log starts after, and the summary of what was folded into it.
    public var checkpoint: String { key("checkpoint") }
    /// The interviewers' private notes: a second document with its own revision and op log,
    /// laid out as the code's is (the state hash, the log, the latest text, the checkpoint).
    public var notes: String { key("notes") }
    public var notesLog: String { key("notes-log") }
    public var notesSnapshot: String { key("notes-snapshot") }
    public var notesCheckpoint: String { key("notes-checkpoint") }
    /// String: the session's question as JSON (hidden tests included; Question strips them).
    public var question: String { key("question") }
    /// The pub/sub channel of the session's changes (ChannelMessage), for every member.
    public var channel: String { key("events") }
    /// The pub/sub channel of what only interviewers may see (notes ops, hidden test cases).
    public var privateChannel: String { key("private") }

    /// KEYS of every session script.
    public var all: [String] {
        [session, participants, tokens, history, gone, legacyOps, presence, log, snapshot, checkpoint,
         notes, notesLog, notesSnapshot, notesCheckpoint, question]
    }
}

/// Node liveness keys, shared by the whole cluster.
enum NodeKeys {
    static let gateways = "ci:{nodes}:gateways"
    static let gatewayInfo = "ci:{nodes}:gateway-info"
    static func gatewaySessions(_ instance: String) -> String { "ci:{nodes}:gateway-sessions:\(instance)" }
    static let runners = "ci:{nodes}:runners"
    static let runnerInfo = "ci:{nodes}:runner-info"
}

/// The deployment's question library, one slot (`{questions}`) and no expiry: it lives as long as
/// Redis keeps its data (the AOF; see the README). Lua/library_*.lua take `keys(id)` as KEYS.
public enum LibraryKeys {
    /// Sorted set: question id by updated_at (the list's order; its size is the cap's count).
    public static let index = "ci:{questions}:index"
    /// Hash: question id -> its summary JSON (what the list shows, without reading whole questions).
    public static let summaries = "ci:{questions}:summaries"
    /// String: the question JSON (LibraryQuestion), hidden tests included.
    public static func question(_ id: String) -> String { "ci:{questions}:q:\(id)" }

    static func keys(_ id: String) -> [String] { [index, summaries, question(id)] }
}

/// A message on one of a session's channels (`channel`, every member's; `privateChannel`, the
/// interviewers'): `"<exclude> <revision>\n<frame>"`: the connection that must not get it (its
/// author, who gets an ack instead; empty for none; on the events channel `exceptInterviewers` for
/// a message only candidates get, the interviewers getting its fuller view on the private one),
/// the revision it carries of the document that channel's ops number (the code on events, the
/// notes on private; 0 for none), and the exact JSON text frame for clients. Lua/prelude.lua's
/// `publish` writes the same form.
public struct ChannelMessage: Sendable {
    /// The exclude of a message on the events channel that only candidates get.
    public static let exceptInterviewers = "~interviewers"

    public var exclude: String
    public var revision: Int
    public var frame: [UInt8]

    public init(exclude: String, revision: Int, frame: [UInt8]) {
        self.exclude = exclude
        self.revision = revision
        self.frame = frame
    }

    /// Decodes a payload; nil when it has no header line.
    public init?(payload: [UInt8]) {
        guard let newline = payload.firstIndex(of: 10) else { return nil }
        let header = payload[..<newline]
        if let space = header.firstIndex(of: 32) {
            exclude = String(decoding: header[..<space], as: UTF8.self)
            revision = Int(String(decoding: header[(space + 1)...], as: UTF8.self)) ?? 0
        } else {
            exclude = String(decoding: header, as: UTF8.self)
            revision = 0
        }
        frame = Array(payload[(newline + 1)...])
    }

    public var payload: [UInt8] { Array("\(exclude) \(revision)\n".utf8) + frame }
}
