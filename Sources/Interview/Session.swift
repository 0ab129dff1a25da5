import JSON

public enum Role: String, Sendable {
    case interviewer, candidate
}

public enum SessionStatus: String, Sendable {
    case active, completed
}

public struct Participant: Sendable {
    public var id: String
    public var name: String
    public var role: Role
    public var color: String
    public var joinedAt: Int64
    /// Whether a live connection has it on any gateway (known where presence was read).
    public var isOnline: Bool?

    public init?(_ json: JSON) {
        guard let id = json["id"]?.stringValue, let name = json["name"]?.stringValue,
              let role = json["role"]?.stringValue.flatMap(Role.init(rawValue:)),
              let color = json["color"]?.stringValue, let joinedAt = json["joined_at"]?.doubleValue else { return nil }
        self.id = id
        self.name = name
        self.role = role
        self.color = color
        self.joinedAt = Int64(joinedAt)
        isOnline = json["is_online"]?.boolValue
    }

    public var json: JSON {
        var json: JSON = ["id": .string(id), "name": .string(name), "role": .string(role.rawValue), "color": .string(color),
                          "joined_at": .integer(Int(joinedAt))]
        if let isOnline { json.set("is_online", .bool(isOnline)) }
        return json
    }
}

public struct Session: Sendable {
    public var id: String
    public var name: String?
    public var code: String
    public var language: String
    public var revision: Int
    public var status: SessionStatus
    public var createdAt: Int64
    public var updatedAt: Int64
    public var expiresAt: Int64
    public var maxParticipants: Int
    public var participants: [Participant]
    /// The room controls (RoomControls.swift).
    public var controls = RoomControls()
    /// The revision an update's code change was committed as (nil when it committed none).
    public var committedRevision: Int?

    /// Decodes the `{session, participants}` view the scripts return.
    public init?(view: JSON) {
        guard let s = view["session"], let id = s["id"]?.stringValue else { return nil }
        func number(_ key: String) -> Int64? { s[key]?.stringValue.flatMap { Int64($0) } }
        guard let revision = number("revision"), let created = number("created_at"), let updated = number("updated_at"),
              let expires = number("expires_at"), let max = number("max_participants"),
              let status = s["status"]?.stringValue.flatMap(SessionStatus.init(rawValue:)) else { return nil }
        self.id = id
        let name = s["name"]?.stringValue ?? ""
        self.name = name.isEmpty ? nil : name
        code = s["code"]?.stringValue ?? ""
        language = s["language"]?.stringValue ?? "python"
        self.revision = Int(revision)
        self.status = status
        createdAt = created
        updatedAt = updated
        expiresAt = expires
        maxParticipants = Int(max)
        committedRevision = s["committed_revision"]?.intValue
        controls = RoomControls(scalars: RoomControls.names.reduce(into: [:]) { $0[$1] = s[$1]?.stringValue })
        // cjson encodes an empty list as an empty object.
        participants = (view["participants"]?.arrayValue ?? []).compactMap(Participant.init)
    }

    public var codeState: CodeState {
        CodeState(code: code, language: language, revision: revision, updatedAt: updatedAt)
    }

    public func json(joinURL: String) -> JSON {
        ["id": .string(id), "name": name.map(JSON.string) ?? .null, "join_url": .string(joinURL), "code": .string(code),
         "language": .string(language), "revision": .integer(revision), "status": .string(status.rawValue),
         "created_at": .integer(Int(createdAt)), "updated_at": .integer(Int(updatedAt)),
         "expires_at": .integer(Int(expiresAt)), "max_participants": .integer(maxParticipants),
         "participants": .array(participants.map(\.json)), "controls": controls.json]
    }
}

/// The document as saved: what `GET /code` answers.
public struct CodeState: Sendable {
    public var code: String
    public var language: String
    public var revision: Int
    public var updatedAt: Int64

    public init(code: String, language: String, revision: Int, updatedAt: Int64) {
        self.code = code
        self.language = language
        self.revision = revision
        self.updatedAt = updatedAt
    }

    public var json: JSON {
        ["code": .string(code), "language": .string(language), "revision": .integer(revision),
         "updated_at": .integer(Int(updatedAt))]
    }
}

/// What creating a session asks for, already validated.
public struct SessionDraft: Sendable {
    public var name: String?
    public var code: String?
    public var language: String
    public var maxParticipants: Int
    /// The person creating it, who joins as interviewer.
    public var creatorName: String?

    public init(name: String?, code: String?, language: String, maxParticipants: Int, creatorName: String?) {
        self.name = name
        self.code = code
        self.language = language
        self.maxParticipants = maxParticipants
        self.creatorName = creatorName
    }
}

public struct CreatedSession: Sendable {
    public var session: Session
    public var hostToken: String
    public var creator: (participant: Participant, token: String)?

    public init(session: Session, hostToken: String, creator: (participant: Participant, token: String)? = nil) {
        self.session = session
        self.hostToken = hostToken
        self.creator = creator
    }
}

/// A PATCH: nil fields stay as they are.
public struct SessionChanges: Sendable {
    public var code: String?
    public var language: String?
    public var status: SessionStatus?
    public var name: String?

    public init(code: String? = nil, language: String? = nil, status: SessionStatus? = nil, name: String? = nil) {
        self.code = code
        self.language = language
        self.status = status
        self.name = name
    }
}

/// A document's text at a revision.
public struct DocumentText: Sendable {
    public var text: String
    public var revision: Int
    /// Unicode scalars.
    public var length: Int

    public init(text: String, revision: Int, length: Int) {
        self.text = text
        self.revision = revision
        self.length = length
    }
}

extension Session {
    /// The session hash's fields a read needs, in the order `init(scalars:...)` reads them.
    public static let fields = ["id", "name", "language", "revision", "status", "created_at", "updated_at", "expires_at", "max_participants",
                                "editor_locked", "runs_held", "question_hidden"]

    /// Put together from the session hash, its participants and its text (a pipelined read).
    public init?(scalars s: [String: String], participants: [Participant], document: DocumentText) {
        func number(_ key: String) -> Int64? { s[key].flatMap { Int64($0) } }
        guard let id = s["id"], let created = number("created_at"), let updated = number("updated_at"),
              let expires = number("expires_at"), let max = number("max_participants"),
              let status = s["status"].flatMap(SessionStatus.init(rawValue:)) else { return nil }
        self.id = id
        let name = s["name"] ?? ""
        self.name = name.isEmpty ? nil : name
        code = document.text
        language = s["language"] ?? "python"
        // The text read may be a revision ahead of the hash read just before it (a commit between).
        revision = document.revision
        self.status = status
        createdAt = created
        updatedAt = updated
        expiresAt = expires
        maxParticipants = Int(max)
        self.participants = participants
        controls = RoomControls(scalars: s)
    }
}
