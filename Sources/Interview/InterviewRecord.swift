import JSON

/// A finished interview as it is kept for good (PostgreSQL), after its live room (Redis) is gone:
/// everything an interviewer needs to look back at it. The archiver builds one from a session's
/// Redis keys; the record store writes it in one transaction and reads its parts back. Its parts
/// keep the live shapes (history entries, op log entries, job hashes), so the views built from
/// them (the timeline, the code at a revision, a run) are the live ones.
public struct InterviewRecord: Sendable {
    /// How the room closed.
    public enum Ending: String, Sendable, CaseIterable {
        /// Ended by the host or an interviewer (`status: completed`).
        case completed
        /// Deleted by the host (`DELETE /sessions/{id}`).
        case deleted
        /// Its time ran out (`expires_at` passed).
        case expired
    }

    /// Someone who joined, as the session kept them.
    public struct Person: Sendable, Equatable {
        public var id: String
        public var name: String
        public var role: Role
        public var color: String
        public var joinedAt: Int64
        /// When they left for good (a REST leave); nil when they were still a member at the end.
        public var leftAt: Int64?
        /// The SHA-256 hex of their participant token (so the record answers the same tokens the
        /// room did); nil when unknown.
        public var tokenHash: String?

        public init(id: String, name: String, role: Role, color: String, joinedAt: Int64, leftAt: Int64? = nil,
                    tokenHash: String? = nil) {
            self.id = id
            self.name = name
            self.role = role
            self.color = color
            self.joinedAt = joinedAt
            self.leftAt = leftAt
            self.tokenHash = tokenHash
        }

        public var json: JSON {
            ["id": .string(id), "name": .string(name), "role": .string(role.rawValue), "color": .string(color),
             "joined_at": .integer(Int(joinedAt)), "left_at": leftAt.map { .integer(Int($0)) } ?? .null]
        }
    }

    /// One document (the code, or the interviewers' notes): its final text and revision, and what
    /// replays it: the checkpoint its op log starts after (nil when the log starts at revision 0,
    /// from the empty text... or the session's initial code, see `initialText`), then every op.
    public struct DocumentRecord: Sendable {
        public var text: String
        public var revision: Int
        /// The text at revision 0 (the code the session was created with; "" for the notes).
        public var initialText: String
        public var checkpoint: TimelineCheckpoint?
        /// The ops after the checkpoint (or revision 0), oldest first, contiguous.
        public var ops: [TimelineOp]

        public init(text: String, revision: Int, initialText: String = "", checkpoint: TimelineCheckpoint? = nil,
                    ops: [TimelineOp] = []) {
            self.text = text
            self.revision = revision
            self.initialText = initialText
            self.checkpoint = checkpoint
            self.ops = ops
        }
    }

    /// A run (an execution or a test run), as its job hash held it: `ExecutionJob(id:fields:)` and
    /// `TestRunJob(id:fields:)` rebuild the live views from `fields`.
    public struct Run: Sendable {
        public var id: String
        public var kind: JobKind
        public var createdAt: Int64
        public var fields: [String: String]

        public init(id: String, kind: JobKind, createdAt: Int64, fields: [String: String]) {
            self.id = id
            self.kind = kind
            self.createdAt = createdAt
            self.fields = fields
        }
    }

    /// The session id, which is the record's id too.
    public var id: String
    public var name: String?
    public var language: String
    public var createdAt: Int64
    /// When the room closed (the end, the deletion, or `expires_at`).
    public var endedAt: Int64
    public var ending: Ending
    /// SHA-256 hex of the host token.
    public var hostTokenHash: String
    public var code: DocumentRecord
    public var notes: DocumentRecord
    /// The session's question whole (hidden tests included), as the session kept it; nil for none.
    public var question: JSON?
    public var participants: [Person]
    /// The session's history entries (joins, leaves, language changes, saves, the end...), oldest
    /// first, as the live history keeps them (each with `type` and `at`).
    public var history: [JSON]
    public var runs: [Run]
    /// Later parts (integrity events, scorecards, the terminal): kind -> entries, oldest first.
    public var extras: [String: [JSON]]

    public init(id: String, name: String?, language: String, createdAt: Int64, endedAt: Int64, ending: Ending,
                hostTokenHash: String, code: DocumentRecord, notes: DocumentRecord, question: JSON?,
                participants: [Person], history: [JSON], runs: [Run], extras: [String: [JSON]] = [:]) {
        self.id = id
        self.name = name
        self.language = language
        self.createdAt = createdAt
        self.endedAt = endedAt
        self.ending = ending
        self.hostTokenHash = hostTokenHash
        self.code = code
        self.notes = notes
        self.question = question
        self.participants = participants
        self.history = history
        self.runs = runs
        self.extras = extras
    }

    /// The question's title, what the admin's search matches besides names.
    public var questionTitle: String? { question?["title"]?.stringValue }
}
