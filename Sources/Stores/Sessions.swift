import Interview
import JSON
import Redis
import Transport

/// Limits and lifetimes of sessions; every field has a default.
public struct SessionSettings: Sendable {
    public var ttlMillis: Int64 = 24 * 3600 * 1000
    public var defaultMaxParticipants = 10
    public var maxParticipantsLimit = 50
    public var historyLimit = 200
    public var maxCodeBytes = 256 * 1024
    /// The interviewers' notes (a second document) are bounded on their own.
    public var maxNotesBytes = 64 * 1024
    /// How long a deleted or expired session still answers 410 instead of 404.
    public var goneRetentionMillis: Int64 = 24 * 3600 * 1000
    /// Most log entries a rejoining client (or a stale op) catches up over; a client further
    /// behind reloads the document.
    public var opLogLimit = 1000
    /// Bytes of op log kept per session; beyond, the oldest entries are folded into the checkpoint.
    public var opLogBytes = 8 << 20
    /// A new snapshot is written after this many revisions, or this many bytes of log, since the
    /// last one (bounds what a reader applies).
    public var snapshotEveryOps = 50
    public var snapshotEveryBytes = 32 * 1024
    /// Log entries folded into the checkpoint per step (bounds one fold's work in Redis).
    public var foldBatch = 2000
    /// WebSocket connections one session may have across all gateways (tabs count separately).
    public var maxConnectionsPerSession = 100
    /// Archiving (the gateway has PostgreSQL): how long a session's keys outlive its expires_at
    /// waiting for the archiver (`--archive-hold-hours`); nil without archiving, when the keys
    /// expire at expires_at and DELETE deletes them at once. Stored in the session at create, so a
    /// session keeps the behaviour it was created with.
    public var archiveHoldMillis: Int64?

    public init() {}

    /// The byte bound of a document.
    public func maxBytes(_ document: Document) -> Int { document == .code ? maxCodeBytes : maxNotesBytes }
}

/// The sessions in Redis: every change is one script call, so it is atomic across gateways.
public final class Sessions {
    public let redis: RedisConnection
    public let settings: SessionSettings
    /// The documents' reader and upkeep.
    public let documents: Documents
    /// The archive queue, when archiving is on: sessions are scheduled when created (due at their
    /// expires_at), ended and deleted (due now). A separate command after the session's script
    /// (another slot); a gateway that dies in between leaves the create-time entry, which still
    /// archives the session at its expires_at.
    public let archive: ArchiveQueue?
    /// Webhooks: session.created and session.ended are emitted here, after the script that made
    /// them so (nil: none).
    public var webhooks: WebhookOutbox?
    private static let palette = Palette.colors.joined(separator: ",")

    public init(redis: RedisConnection, settings: SessionSettings) {
        self.redis = redis
        self.settings = settings
        documents = Documents(redis: redis, settings: settings)
        archive = settings.archiveHoldMillis == nil ? nil : ArchiveQueue(redis: redis)
        for script in Scripts.all { redis.register(script) }
        redis.register(RedisFunctions.library)
    }

    public func create(_ draft: SessionDraft, _ completion: @escaping (Result<CreatedSession, InterviewError>) -> Void) {
        let id = Identifiers.sessionID()
        let hostToken = Identifiers.token()
        let code = draft.code ?? Language.named(draft.language)?.template ?? ""
        var creator: (id: String, name: String, color: String, tokenHash: String)?
        var creatorToken: String?
        if let creatorName = draft.creatorName {
            let token = Identifiers.token()
            creatorToken = token
            creator = (Identifiers.participantID(), creatorName, Palette.colors[0], Identifiers.tokenHash(token))
        }
        let arguments = Scripts.createArguments(settings: settings, name: draft.name ?? "", code: code, language: draft.language,
                                                maxParticipants: draft.maxParticipants, hostTokenHash: Identifiers.tokenHash(hostToken),
                                                creator: creator)
        run(Scripts.create, id, arguments) { [archive, webhooks] result in
            if case .success(let value) = result, let archive, let expires = decodeView(value)?.expiresAt {
                archive.schedule(id, dueAt: expires)
            }
            if case .success(let value) = result, let webhooks, let session = decodeView(value) {
                webhooks.emit("session.created", ["session_id": .string(id), "name": session.name.map(JSON.string) ?? .null,
                                                  "language": .string(session.language), "created_at": .integer(Int(session.createdAt)),
                                                  "expires_at": .integer(Int(session.expiresAt))])
            }
            completion(result.flatMap { value in
                guard var session = decodeView(value) else { return .failure(malformed("create")) }
                session.code = code
                var created = CreatedSession(session: session, hostToken: hostToken)
                if let creatorToken, let creator = session.participants.first {
                    created.creator = (creator, creatorToken)
                }
                return .success(created)
            })
        }
    }

    /// The session, its participants (with presence) and its text: one standalone script
    /// (Lua/session_read.lua) on the six keys it reads, put together here, no script assembling
    /// JSON in Redis. It was three pipelined commands and the document script on all 20 session
    /// keys: four commands to format, send, parse and call back on every GET (profile in
    /// docs/benchmarks.md, "Profiling the session GET").
    public func session(_ id: String, _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        redis.run(Scripts.sessionRead, keys: Self.readKeys(id), arguments: Session.fields) { result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let value): completion(Self.assemble(value))
            }
        }
    }

    /// KEYS of Lua/session_read.lua, in its order.
    static func readKeys(_ id: String) -> [String] {
        let keys = SessionKeys(id)
        return [keys.session, keys.participants, keys.presence, keys.gone, keys.log, keys.snapshot]
    }

    /// Why session `id` is not there, from its `gone` key's value: 410 and why, or 404.
    static func missing(_ id: String, gone: String?) -> InterviewError {
        ScriptError.missing(gone: gone).interviewError(session: id)
    }

    /// Why a session whose keys are there is over for live routes, from its hash's status and
    /// expires_at; nil while it is live (an ended one is `ended`, for the routes that refuse it).
    /// An archived session's keys outlive its deletion and its expires_at (until the archiver
    /// has its record), so plain reads check both, as the scripts' `over` does; the clock is this
    /// process's, which for a session without a hold only matters within the clocks' skew.
    static func over(status: String?, expiresAt: String?) -> ScriptError? {
        if status == "deleted" { return .gone(.deleted) }
        if let expires = expiresAt.flatMap({ Int64($0) }), expires <= EventLoop.unixMillis() { return .gone(.expired) }
        if status == SessionStatus.completed.rawValue { return .gone(.ended) }
        return nil
    }

    /// session_read.lua's reply, {fields, participants, presence, document part...}, put together.
    private static func assemble(_ reply: RedisValue) -> Result<Session, InterviewError> {
        guard let values = reply.array, values.count >= 6 else { return .failure(malformed("session read")) }
        let fields = values[0].array ?? []
        var scalars = [String: String](minimumCapacity: Session.fields.count)
        for (name, value) in zip(Session.fields, fields) { if let text = value.text { scalars[name] = text } }
        if let over = over(status: scalars["status"], expiresAt: scalars["expires_at"]) {
            return .failure(over.interviewError(session: scalars["id"] ?? ""))
        }
        let online = Set((values[2].array ?? []).compactMap(\.text))
        var participants: [Participant] = []
        let flat = values[1].array ?? []
        var index = 1
        while index < flat.count {
            if let text = flat[index].text, let json = try? JSON.parse(text), var participant = Participant(json) {
                participant.isOnline = online.contains(participant.id)
                participants.append(participant)
            }
            index += 2
        }
        participants.sort { ($0.joinedAt, $0.id) < ($1.joinedAt, $1.id) }
        // The rest is the document script's reply from its layout on (Documents.decode).
        let text: DocumentText
        switch Documents.decode(.array(Array(values[3...]))) {
        case .success(let value): text = value
        case .failure(let error): return .failure(error)
        }
        guard let session = Session(scalars: scalars, participants: participants, document: text) else {
            return .failure(malformed("session read"))
        }
        return .success(session)
    }

    public func update(_ id: String, _ changes: SessionChanges, token: String?,
                       _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        update(id, changes, token: token, author: nil, connection: "", completion)
    }

    /// A change made by a connected participant: stamped with them, not echoed to `connection`.
    /// A code equal to the current text commits nothing (the text is compared here, not in Redis).
    public func update(_ id: String, _ changes: SessionChanges, token: String?, author: String?, connection: String,
                       _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        guard let code = changes.code else { return apply(id, changes, token: token, author: author, connection: connection, completion) }
        documents.read(id) { [self] result in
            var changes = changes
            if case .success(let document) = result, document.text == code { changes.code = nil }
            apply(id, changes, token: token, author: author, connection: connection, completion)
        }
    }

    private func apply(_ id: String, _ changes: SessionChanges, token: String?, author: String?, connection: String,
                       _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        apply(id, changes, presentedTokenHash: hash(token), author: author, connection: connection, completion)
    }

    /// A change without code (the room controls' end) by the holder of a token known by its hash
    /// (a WebSocket connection's).
    func update(_ id: String, _ changes: SessionChanges, presentedTokenHash: String, author: String?, connection: String,
                _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        precondition(changes.code == nil, "a code change goes through update(_:_:token:author:connection:)")
        apply(id, changes, presentedTokenHash: presentedTokenHash, author: author, connection: connection, completion)
    }

    private func apply(_ id: String, _ changes: SessionChanges, presentedTokenHash: String, author: String?, connection: String,
                       _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        let arguments = Scripts.updateArguments(settings: settings, changes: changes, presentedTokenHash: presentedTokenHash,
                                                author: author, connection: connection)
        run(Scripts.update, id, arguments) { [self] result in
            if case .success = result, changes.status == .completed {
                archive?.schedule(id)
                webhooks?.emit("session.ended", ["session_id": .string(id), "reason": "ended", "ended_at": .integer(Int(EventLoop.unixMillis()))])
            }
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let value):
                guard var session = decodeView(value) else { return completion(.failure(malformed("update"))) }
                if let code = changes.code, session.committedRevision != nil {
                    session.code = code
                    return completion(.success(session))
                }
                // The view carries no text: read it (a PATCH without code is rare).
                documents.read(id) { result in
                    completion(result.map { document in
                        session.code = document.text
                        return session
                    })
                }
            }
        }
    }

    public func delete(_ id: String, token: String?, _ completion: @escaping (Result<Void, InterviewError>) -> Void) {
        run(Scripts.delete, id, Scripts.deleteArguments(settings: settings, presentedTokenHash: hash(token))) { [archive] result in
            if case .success = result { archive?.schedule(id) }
            completion(result.map { _ in () })
        }
    }

    /// `connected`: the join comes with a WebSocket, which must fit the session's connection cap.
    public func join(_ id: String, name: String, role: Role, token: String?, connected: Bool = false,
                     _ completion: @escaping (Result<(Participant, String), InterviewError>) -> Void) {
        let participantToken = Identifiers.token()
        let arguments = Scripts.joinArguments(settings: settings, id: Identifiers.participantID(), name: name, role: role,
                                              tokenHash: Identifiers.tokenHash(participantToken), presentedTokenHash: hash(token),
                                              palette: Self.palette, connected: connected)
        run(Scripts.join, id, arguments) { result in
            completion(result.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text), let participant = Participant(json) else {
                    return .failure(malformed("join"))
                }
                return .success((participant, participantToken))
            })
        }
    }

    public func leave(_ id: String, participant: String, token: String?,
                      _ completion: @escaping (Result<Void, InterviewError>) -> Void) {
        leave(id, participant: participant, tokenHash: hash(token), completion)
    }

    /// Removal by a caller that holds the token's hash already (a joined WebSocket).
    public func leave(_ id: String, participant: String, tokenHash: String,
                      _ completion: @escaping (Result<Void, InterviewError>) -> Void) {
        run(Scripts.leave, id, Scripts.leaveArguments(settings: settings, participant: participant, presentedTokenHash: tokenHash)) { result in
            completion(result.map { _ in () })
        }
    }

    public func saveCode(_ id: String, code: String, language: String?, token: String?,
                         _ completion: @escaping (Result<CodeState, InterviewError>) -> Void) {
        let arguments = Scripts.saveCodeArguments(settings: settings, code: code, language: language, presentedTokenHash: hash(token))
        run(Scripts.saveCode, id, arguments) { result in
            completion(result.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text), let language = json["language"]?.stringValue,
                      let revision = json["revision"]?.intValue, let updated = json["updated_at"]?.doubleValue else {
                    return .failure(malformed("save_code"))
                }
                return .success(CodeState(code: code, language: language, revision: revision, updatedAt: Int64(updated)))
            })
        }
    }

    /// The newest `limit` events, oldest first.
    public func history(_ id: String, limit: Int, _ completion: @escaping (Result<[JSON], InterviewError>) -> Void) {
        run(Scripts.history, id, [String(max(1, min(limit, settings.historyLimit)))]) { result in
            completion(result.map { value in
                (value.array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
            })
        }
    }

    /// The ids of the languages some live runner offers now.
    public func availableLanguages(_ completion: @escaping (Result<Set<String>, InterviewError>) -> Void) {
        redis.run(Scripts.availableLanguages, keys: [NodeKeys.runners, NodeKeys.runnerInfo], arguments: []) { result in
            switch result {
            case .success(let value): completion(.success(Set((value.array ?? []).compactMap(\.text))))
            case .failure(let error): completion(.failure(translate(error)))
            }
        }
    }

    // MARK: Validation shared by every entry point (REST now, WebSocket later)

    /// A display name: trimmed, 1 to 64 characters, no control characters.
    public static func validName(_ raw: String, field: String) throws(InterviewError) -> String {
        let name = raw.trimmingWhitespace()
        guard !name.isEmpty else { throw .invalid(field, "\(field) must not be empty") }
        guard name.unicodeScalars.count <= 64 else { throw .invalid(field, "\(field) must be at most 64 characters") }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalid(field, "\(field) must not contain control characters")
        }
        return name
    }

    public static func validLanguage(_ id: String, field: String) throws(InterviewError) -> String {
        guard Language.named(id) != nil else {
            throw .invalid(field, "\(field) '\(id)' is not a supported language; use one of: \(Language.ids.joined(separator: ", "))")
        }
        return id
    }

    public func validCode(_ code: String, field: String) throws(InterviewError) -> String {
        guard code.utf8.count <= settings.maxCodeBytes else {
            throw InterviewError(.tooLarge, "\(field) is \(code.utf8.count) bytes; the limit is \(settings.maxCodeBytes) bytes", field: field)
        }
        return code
    }

    // MARK: Plumbing

    /// The KEYS of the sessions that commit. Building the 20 names costs about 29,000 instructions
    /// (60 string allocations), once per commit on the typing path (scripts/bench.d/profile.py);
    /// a session's commits come one after another, so its names are kept. Only commits keep them:
    /// kept for every script, an idle room's names (about 2 KiB a session) showed as 0.2 KiB more
    /// memory per idle connection (scripts/bench --only idle). Bounded: emptied when it holds
    /// `keysCacheLimit` sessions. Used on the loop only, as the rest of this class.
    private var keysCache: [String: [String]] = [:]
    private static let keysCacheLimit = 4096

    func keys(of id: String) -> [String] {
        if let keys = keysCache[id] { return keys }
        if keysCache.count >= Self.keysCacheLimit { keysCache.removeAll(keepingCapacity: true) }
        let keys = SessionKeys(id).all
        keysCache[id] = keys
        return keys
    }

    func hash(_ token: String?) -> String {
        guard let token, !token.isEmpty else { return "" }
        return Identifiers.tokenHash(token)
    }

    /// Runs a session script on session `id`'s keys (`keepingKeys`: from the commits' cache).
    func run(_ script: RedisScript, _ id: String, _ arguments: [String], keepingKeys: Bool = false,
             _ completion: @escaping (Result<RedisValue, InterviewError>) -> Void) {
        redis.run(script, keys: keepingKeys ? keys(of: id) : SessionKeys(id).all, arguments: arguments) { result in
            completion(result.mapError { error in translate(error, session: id) })
        }
    }
}

private func decodeView(_ value: RedisValue) -> Session? {
    guard let text = value.text, let json = try? JSON.parse(text) else { return nil }
    return Session(view: json)
}

func malformed(_ script: String) -> InterviewError {
    InterviewError(.internalError, "the \(script) script returned an unexpected reply")
}

/// Maps a script's error reply (first word) or a connection problem to a domain error.
extension StringProtocol {
    /// Without leading and trailing white space (Unicode's, not only ASCII's).
    public func trimmingWhitespace() -> String {
        let scalars = Array(unicodeScalars)
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[first...last])
        return String(out)
    }
}
