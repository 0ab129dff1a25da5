import Interview
import JSON
import Redis

/// Limits of the question library; every field has a default.
public struct LibrarySettings: Sendable {
    /// The most questions the library holds; adding one more answers 409.
    public var maxQuestions = 10_000

    public init() {}
}

/// Who reads a session's question: interviewers see every test, everybody else the visible ones.
public enum QuestionReader: Sendable, Equatable {
    /// The host token, or the participant token of an interviewer.
    case interviewer
    /// A candidate's participant token.
    case candidate
    /// No token, or a token of nobody in this session.
    case stranger
}

/// Where a session's question comes from.
public enum QuestionSource: Sendable {
    case given(Question)
    /// A copy of the library's question with this id.
    case library(String)
}

/// One page of the library's list: summaries, newest first, and the cursor of the next page.
public struct LibraryPage: Sendable {
    public var questions: [JSON]
    public var nextCursor: String?
}

/// Sessions' questions (`ci:{id}:question`, set by one script that also broadcasts the change)
/// and the deployment's library (`LibraryKeys`). Every change is one script; reads are plain
/// commands, pipelined.
public final class Questions {
    let redis: RedisConnection
    let sessions: Sessions
    public let library: LibrarySettings

    /// The scripts are registered with the sessions' (Scripts.all).
    public init(sessions: Sessions, library: LibrarySettings) {
        redis = sessions.redis
        self.sessions = sessions
        self.library = library
    }

    // MARK: A session's question

    /// Who `token` is in session `id` and, with `withQuestion`, the session's question (nil when
    /// none is set), in one round trip. 404/410 as for the session itself.
    public func read(_ id: String, token: String?, withQuestion: Bool = true,
                     _ completion: @escaping (Result<(reader: QuestionReader, question: SessionQuestion?), InterviewError>) -> Void) {
        let keys = SessionKeys(id)
        let tokenHash = sessions.hash(token)
        var commands = [["HMGET", keys.session, "id", "host_token_hash", "status", "expires_at", "question_hidden"], ["HGET", keys.tokens, tokenHash],
                        ["HVALS", keys.participants], ["GET", keys.gone]]
        if withQuestion { commands.append(["GET", keys.question]) }
        redis.pipeline(commands) { result in
            let replies: [RedisValue]
            switch result {
            case .failure(let error): return completion(.failure(translate(error, session: id)))
            case .success(let values): replies = values
            }
            let fields = replies[0].array ?? []
            guard fields.first?.text != nil else { return completion(.failure(Sessions.missing(id, gone: replies[3].text))) }
            if let over = Sessions.over(status: fields[safe: 2]?.text, expiresAt: fields[safe: 3]?.text) {
                return completion(.failure(over.interviewError(session: id)))
            }
            let reader: QuestionReader
            if tokenHash.isEmpty {
                reader = .stranger
            } else if tokenHash == fields[safe: 1]?.text {
                reader = .interviewer
            } else if let participant = replies[1].text {
                let role = (replies[2].array ?? []).lazy.compactMap { $0.text.flatMap { try? JSON.parse($0) } }
                    .first { $0["id"]?.stringValue == participant }?["role"]?.stringValue
                reader = role == Role.interviewer.rawValue ? .interviewer : .candidate
            } else {
                reader = .stranger
            }
            // Hidden by the room controls: none to anybody but the interviewers.
            let hidden = fields[safe: 4]?.text == "1" && reader != .interviewer
            guard withQuestion, !hidden else { return completion(.success((reader, nil))) }
            completion(SessionQuestion.decode(replies[4], session: id).map { (reader, $0) })
        }
    }

    /// Sets the session's question (the host only), and with `loadStarterCode` makes its starter
    /// code for the session's language the document, as one revision. Answers the question as
    /// stored and the document's revision when the starter code was loaded.
    public func set(_ id: String, _ source: QuestionSource, loadStarterCode: Bool, token: String?,
                    _ completion: @escaping (Result<(question: SessionQuestion, codeRevision: Int?), InterviewError>) -> Void) {
        switch source {
        case .given(let question):
            store(id, SessionQuestion(question: question, sourceQuestionID: nil, updatedAt: nil), loadStarterCode: loadStarterCode,
                  token: token, completion)
        case .library(let questionID):
            // The token is checked before the library is read: only the host learns whether a
            // library question exists. The script checks it again, atomically with the write.
            guard let token, !token.isEmpty else {
                return completion(.failure(InterviewError(.unauthorized, "setting the question needs the host token")))
            }
            let keys = SessionKeys(id)
            // Two round trips, the session's slot then the library's: on Redis Cluster one
            // pipeline is one slot.
            redis.pipeline([["HGET", keys.session, "host_token_hash"], ["GET", keys.gone]]) { [self] result in
                let replies: [RedisValue]
                switch result {
                case .failure(let error): return completion(.failure(translate(error, session: id)))
                case .success(let values): replies = values
                }
                guard let host = replies[0].text else { return completion(.failure(Sessions.missing(id, gone: replies[1].text))) }
                guard host == sessions.hash(token) else {
                    return completion(.failure(InterviewError(.forbidden, "setting the question needs the host token; this token is not it")))
                }
                let missing = InterviewError(.notFound, "from: there is no question '\(questionID)' in the library", field: "from")
                guard LibraryQuestion.isID(questionID) else { return completion(.failure(missing)) }
                redis.send(["GET", LibraryKeys.question(questionID)]) { [self] result in
                    let text: String
                    switch result {
                    case .failure(let error): return completion(.failure(translate(error, session: id)))
                    case .success(let value):
                        guard let found = value.text else { return completion(.failure(missing)) }
                        text = found
                    }
                    guard let stored = try? JSON.parse(text), let copy = LibraryQuestion(stored: stored) else {
                        return completion(.failure(InterviewError(.internalError, "library question \(questionID) is unreadable")))
                    }
                    store(id, SessionQuestion(question: copy.question, sourceQuestionID: questionID, updatedAt: nil),
                          loadStarterCode: loadStarterCode, token: token, completion)
                }
            }
        }
    }

    private func store(_ id: String, _ question: SessionQuestion, loadStarterCode: Bool, token: String?,
                       _ completion: @escaping (Result<(question: SessionQuestion, codeRevision: Int?), InterviewError>) -> Void) {
        let arguments = Scripts.setQuestionArguments(settings: sessions.settings, question: question,
                                                     starterCode: loadStarterCode ? question.question.starterCode : nil,
                                                     presentedTokenHash: sessions.hash(token))
        redis.run(Scripts.question, keys: SessionKeys(id).all, arguments: arguments) { [self] result in
            switch result {
            case .failure(let error):
                // TOOLARGE <bytes> <language>: that language's starter code would overflow the document.
                let words = error.message.split(separator: " ")
                if !error.isUnavailable, words.count == 3, words[0] == "TOOLARGE" {
                    let field = "starter_code.\(words[2])"
                    return completion(.failure(InterviewError(.tooLarge, "\(field) is \(words[1]) bytes, more than a document may hold "
                                                              + "(\(sessions.settings.maxCodeBytes) bytes); shorten it, or set the "
                                                              + "question with load_starter_code false", field: field)))
                }
                completion(.failure(translate(error, session: id)))
            case .success(let value):
                guard let text = value.text, let json = try? JSON.parse(text), let updated = json["updated_at"]?.doubleValue else {
                    return completion(.failure(InterviewError(.internalError, "the question script returned an unexpected reply")))
                }
                var stored = question
                stored.updatedAt = Int64(updated)
                completion(.success((stored, json["revision"]?.intValue)))
            }
        }
    }

    /// Clears the session's question (the host only); 404 when it has none.
    public func clear(_ id: String, token: String?, _ completion: @escaping (Result<Void, InterviewError>) -> Void) {
        let arguments = Scripts.clearQuestionArguments(settings: sessions.settings, presentedTokenHash: sessions.hash(token))
        sessions.run(Scripts.question, id, arguments) { result in
            completion(result.flatMap { value in
                value.integer == 1 ? .success(()) : .failure(InterviewError(.notFound, "session \(id) has no question"))
            })
        }
    }

    // MARK: The library

    public func create(_ question: Question, _ completion: @escaping (Result<LibraryQuestion, InterviewError>) -> Void) {
        save(LibraryQuestion.newID(), question, creating: true, completion)
    }

    public func replace(_ id: String, with question: Question, _ completion: @escaping (Result<LibraryQuestion, InterviewError>) -> Void) {
        guard LibraryQuestion.isID(id) else { return completion(.failure(Self.noSuchQuestion(id))) }
        save(id, question, creating: false, completion)
    }

    private func save(_ id: String, _ question: Question, creating: Bool,
                      _ completion: @escaping (Result<LibraryQuestion, InterviewError>) -> Void) {
        let arguments = Scripts.librarySaveArguments(id: id, creating: creating, question: question, maxQuestions: library.maxQuestions)
        redis.run(Scripts.librarySave, keys: LibraryKeys.keys(id), arguments: arguments) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(libraryError(error, id)))
            case .success(let value):
                guard let times = value.array, times.count == 2, let created = times[0].integer, let updated = times[1].integer else {
                    return completion(.failure(InterviewError(.internalError, "the library_save script returned an unexpected reply")))
                }
                completion(.success(LibraryQuestion(id: id, question: question, createdAt: Int64(created), updatedAt: Int64(updated))))
            }
        }
    }

    public func delete(_ id: String, _ completion: @escaping (Result<Void, InterviewError>) -> Void) {
        guard LibraryQuestion.isID(id) else { return completion(.failure(Self.noSuchQuestion(id))) }
        redis.run(Scripts.libraryDelete, keys: LibraryKeys.keys(id), arguments: [id]) { [self] result in
            switch result {
            case .failure(let error): completion(.failure(libraryError(error, id)))
            case .success(let value): completion(value.integer == 1 ? .success(()) : .failure(Self.noSuchQuestion(id)))
            }
        }
    }

    /// The whole question (hidden tests included); 404 when the library has no such question.
    public func question(_ id: String, _ completion: @escaping (Result<LibraryQuestion, InterviewError>) -> Void) {
        guard LibraryQuestion.isID(id) else { return completion(.failure(Self.noSuchQuestion(id))) }
        redis.send(["GET", LibraryKeys.question(id)]) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(libraryError(error, id)))
            case .success(let value):
                guard let text = value.text else { return completion(.failure(Self.noSuchQuestion(id))) }
                guard let json = try? JSON.parse(text), let question = LibraryQuestion(stored: json) else {
                    return completion(.failure(InterviewError(.internalError, "library question \(id) is unreadable")))
                }
                completion(.success(question))
            }
        }
    }

    /// A page of summaries, newest first, after `cursor` (a `nextCursor` of an earlier page).
    public func list(limit: Int, cursor: String?, _ completion: @escaping (Result<LibraryPage, InterviewError>) -> Void) {
        var after: (updatedAt: Int64, id: String)?
        if let cursor {
            let parts = cursor.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].utf8.count <= 16, let updated = Int64(parts[0]), updated >= 0,
                  LibraryQuestion.isID(parts[1]) else {
                return completion(.failure(.invalid("cursor", "cursor must be the next_cursor of an earlier page, not '\(cursor.prefix(64))'")))
            }
            after = (updated, parts[1])
        }
        redis.run(Scripts.libraryList, keys: [LibraryKeys.index, LibraryKeys.summaries],
                  arguments: Scripts.libraryListArguments(limit: limit, after: after)) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(libraryError(error, "")))
            case .success(let value):
                let items = value.array ?? []
                guard items.count >= 2, let score = items[0].text, let last = items[1].text else {
                    return completion(.failure(InterviewError(.internalError, "the library_list script returned an unexpected reply")))
                }
                let summaries = items.dropFirst(2).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
                completion(.success(LibraryPage(questions: summaries, nextCursor: last.isEmpty ? nil : "\(score).\(last)")))
            }
        }
    }

    private static func noSuchQuestion(_ id: String) -> InterviewError {
        InterviewError(.notFound, "there is no question '\(id.prefix(64))' in the library")
    }

    /// A library script's error reply (or a connection problem) as a domain error.
    private func libraryError(_ error: RedisError, _ id: String) -> InterviewError {
        if error.isUnavailable { return InterviewError(.unavailable, error.message) }
        switch ScriptError(error) {
        case .full?:
            return InterviewError(.full, "the question library is full: it holds \(library.maxQuestions) questions, the most "
                                  + "--max-library-questions allows; delete one first")
        case .notFound?: return Self.noSuchQuestion(id)
        default: return translate(error)
        }
    }
}

extension SessionQuestion {
    /// A GET of `ci:{id}:question`: nil when no question is set.
    static func decode(_ value: RedisValue, session id: String) -> Result<SessionQuestion?, InterviewError> {
        guard let text = value.text else { return .success(nil) }
        guard let json = try? JSON.parse(text), let question = SessionQuestion(stored: json) else {
            return .failure(InterviewError(.internalError, "the question of session \(id) is unreadable"))
        }
        return .success(question)
    }
}

extension Sessions {
    /// The session's question (both views: `json(forInterviewer:)`), nil when none is set: what a
    /// `welcome` carries. No session check: the caller has one.
    public func question(_ id: String, _ completion: @escaping (Result<SessionQuestion?, InterviewError>) -> Void) {
        redis.send(["GET", SessionKeys(id).question]) { result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let value): completion(SessionQuestion.decode(value, session: id))
            }
        }
    }
}
