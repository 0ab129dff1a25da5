import JSON
import Redis

/// Limits and lifetimes of sessions; every field has a default.
public struct SessionSettings: Sendable {
    public var ttlMillis: Int64 = 24 * 3600 * 1000
    public var defaultMaxParticipants = 10
    public var maxParticipantsLimit = 50
    public var historyLimit = 200
    public var maxCodeBytes = 256 * 1024
    /// How long a deleted or expired session still answers 410 instead of 404.
    public var goneRetentionMillis: Int64 = 24 * 3600 * 1000
    /// Committed operations kept for catch-up; a client further behind reloads the document.
    public var opLogLimit = 1000
    /// WebSocket connections one session may have across all gateways (tabs count separately).
    public var maxConnectionsPerSession = 100

    public init() {}
}

/// The sessions in Redis: every operation is one script call, so it is atomic across gateways.
public final class Sessions {
    public let redis: RedisConnection
    public let settings: SessionSettings
    private static let palette = Palette.colors.joined(separator: ",")

    public init(redis: RedisConnection, settings: SessionSettings) {
        self.redis = redis
        self.settings = settings
        for script in Scripts.all { redis.register(script) }
    }

    public func create(_ draft: SessionDraft, _ completion: @escaping (Result<CreatedSession, InterviewError>) -> Void) {
        let id = Identifiers.sessionID()
        let hostToken = Identifiers.token()
        let code = draft.code ?? Language.named(draft.language)?.template ?? ""
        var arguments = [String(settings.ttlMillis), draft.name ?? "", code, draft.language, String(draft.maxParticipants),
                         Identifiers.tokenHash(hostToken), String(settings.historyLimit), String(settings.goneRetentionMillis)]
        var creatorToken: String?
        if let creatorName = draft.creatorName {
            let token = Identifiers.token()
            creatorToken = token
            arguments += [Identifiers.participantID(), creatorName, Palette.colors[0], Identifiers.tokenHash(token)]
        }
        run(Scripts.create, id, arguments) { result in
            completion(result.flatMap { value in
                guard let session = decodeView(value) else { return .failure(malformed("create")) }
                var created = CreatedSession(session: session, hostToken: hostToken)
                if let creatorToken, let creator = session.participants.first {
                    created.creator = (creator, creatorToken)
                }
                return .success(created)
            })
        }
    }

    public func session(_ id: String, _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        run(Scripts.read, id, []) { result in
            completion(result.flatMap { decodeView($0).map(Result.success) ?? .failure(malformed("read")) })
        }
    }

    public func update(_ id: String, _ changes: SessionChanges, token: String?,
                       _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        update(id, changes, token: token, author: nil, connection: "", completion)
    }

    /// A change made by a connected participant: stamped with them, not echoed to `connection`.
    public func update(_ id: String, _ changes: SessionChanges, token: String?, author: String?, connection: String,
                       _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        let arguments = [hash(token), String(settings.historyLimit),
                         changes.code == nil ? "0" : "1", changes.code ?? "",
                         changes.language == nil ? "0" : "1", changes.language ?? "",
                         changes.status == nil ? "0" : "1", changes.status?.rawValue ?? "",
                         changes.name == nil ? "0" : "1", changes.name ?? "",
                         author ?? "", connection, String(settings.opLogLimit)]
        run(Scripts.update, id, arguments) { result in
            completion(result.flatMap { decodeView($0).map(Result.success) ?? .failure(malformed("update")) })
        }
    }

    public func delete(_ id: String, token: String?, _ completion: @escaping (Result<Void, InterviewError>) -> Void) {
        run(Scripts.delete, id, [hash(token), String(settings.goneRetentionMillis)]) { result in
            completion(result.map { _ in () })
        }
    }

    /// `connected`: the join comes with a WebSocket, which must fit the session's connection cap.
    public func join(_ id: String, name: String, role: Role, token: String?, connected: Bool = false,
                     _ completion: @escaping (Result<(Participant, String), InterviewError>) -> Void) {
        let participantToken = Identifiers.token()
        let arguments = [Identifiers.participantID(), name, role.rawValue, Identifiers.tokenHash(participantToken),
                         hash(token), String(settings.historyLimit), Self.palette,
                         connected ? String(settings.maxConnectionsPerSession) : ""]
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
        run(Scripts.leave, id, [participant, tokenHash, String(settings.historyLimit)]) { result in
            completion(result.map { _ in () })
        }
    }

    public func saveCode(_ id: String, code: String, language: String?, token: String?,
                         _ completion: @escaping (Result<CodeState, InterviewError>) -> Void) {
        run(Scripts.saveCode, id, [code, language ?? "", hash(token), String(settings.historyLimit),
                                   String(settings.opLogLimit)]) { result in
            completion(result.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text),
                      let code = json["code"]?.stringValue, let language = json["language"]?.stringValue,
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
        redis.run(Scripts.availableLanguages, keys: ["ci:{nodes}:runners", "ci:{nodes}:runner-info"], arguments: []) { result in
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

    func hash(_ token: String?) -> String {
        guard let token, !token.isEmpty else { return "" }
        return Identifiers.tokenHash(token)
    }

    func run(_ script: RedisScript, _ id: String, _ arguments: [String],
                     _ completion: @escaping (Result<RedisValue, InterviewError>) -> Void) {
        redis.run(script, keys: Scripts.keys(id), arguments: arguments) { result in
            completion(result.mapError { error in translate(error, session: id) })
        }
    }
}

private func decodeView(_ value: RedisValue) -> Session? {
    guard let text = value.text, let json = try? JSON.parse(text) else { return nil }
    return Session(view: json)
}

private func malformed(_ script: String) -> InterviewError {
    InterviewError(.internalError, "the \(script) script returned an unexpected reply")
}

/// Maps a script's error reply (first word) or a connection problem to a domain error.
func translate(_ error: RedisError, session id: String = "") -> InterviewError {
    if error.isUnavailable { return InterviewError(.unavailable, error.message) }
    var message = Substring(error.message)
    // Redis prefixes "ERR " to a script error whose text has no space ("NOTFOUND").
    if message.hasPrefix("ERR ") { message = message.dropFirst(4) }
    let word = message.prefix { $0 != " " }
    let rest = message.dropFirst(word.count).trimmingWhitespace()
    switch word {
    case "NOTFOUND":
        return InterviewError(.notFound, rest == "participant" ? "no such participant in session \(id)" : "no session with id \(id)")
    case "GONE":
        switch rest {
        case "ended": return InterviewError(.gone, "session \(id) has ended")
        case "deleted": return InterviewError(.gone, "session \(id) was deleted by its host")
        default: return InterviewError(.gone, "session \(id) has expired")
        }
    case "FULL":
        return InterviewError(.full, "session \(id) is full (\(rest) participants, the most it allows)")
    case "FORBIDDEN": return InterviewError(.forbidden, rest)
    case "UNAUTHORIZED": return InterviewError(.unauthorized, rest)
    case "CONFLICT": return InterviewError(.conflict, rest)
    case "FUTURE": return InterviewError(.invalid, "that revision is from the future: the document is at revision \(rest)", field: "revision")
    case "STALE": return InterviewError(.stale, "the document moved on too far (now at revision \(rest)) to catch up from that revision; join again to reload it", field: "revision")
    case "INVALID": return InterviewError(.invalid, rest, field: "ops")
    case "TOOLARGE": return InterviewError(.tooLarge, "the document would be \(rest) bytes, more than the limit", field: "ops")
    case "TOOMANY": return InterviewError(.full, "session \(id) has too many open connections")
    default: return InterviewError(.internalError, "Redis script failed: \(message)")
    }
}

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
