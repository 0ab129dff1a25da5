import Interview
import JSON
import Redis

/// What a connection learns when it goes online.
public struct OnlineState: Sendable {
    public var session: Session
    public var you: Participant
    /// The log entries committed after the client's revision, oldest first; nil when the client
    /// gave none or cannot catch up from it (then it reloads the whole document from `session`).
    public var missed: [LogEntry]?
    /// The interviewers' notes, read for an interviewer only (nil for a candidate).
    public var notes: DocumentText?
    /// The session's question (nil when none is set); `welcome` carries the view for `you`'s role.
    public var question: SessionQuestion?
}

/// Real-time editing and presence: operations, connections, and gateway liveness.
extension Sessions {
    /// Commits `op` (made against `base`) to `document`: transforms it over whatever was committed
    /// since and retries until it lands. Returns the revision it was committed as. (Who may edit
    /// the notes is the caller's check.)
    public func submit(_ id: String, _ document: Document = .code, op: TextOperation, base: Int, connection: String,
                       author: CommitAuthor, _ completion: @escaping (Result<Int, InterviewError>) -> Void) {
        submit(id, document, op: op, base: base, connection: connection, author: author, attempt: 0, resnapshotted: false, completion)
    }

    private func submit(_ id: String, _ document: Document, op: TextOperation, base: Int, connection: String, author: CommitAuthor,
                        attempt: Int, resnapshotted: Bool, _ completion: @escaping (Result<Int, InterviewError>) -> Void) {
        let arguments = Scripts.commitArguments(settings: settings, document, base: base, op: op, connection: connection, author: author)
        run(Scripts.commit, id, arguments, keepingKeys: true) { [self] result in
            switch result {
            case .failure(let error):
                // The stored byte count is an upper bound; a snapshot makes it exact. One retry.
                if error.kind == .tooLarge && !resnapshotted {
                    return documents.writeSnapshot(id, document) { [self] in
                        submit(id, document, op: op, base: base, connection: connection, author: author, attempt: attempt,
                               resnapshotted: true, completion)
                    }
                }
                completion(.failure(error))
            case .success(let value):
                guard let items = value.array, let revision = items.first?.integer else {
                    return completion(.failure(InterviewError(.internalError, "the commit script returned an unexpected reply")))
                }
                if items.count == 3, items[1].bytes == nil {
                    documents.upkeep(id, document, snapshotDue: items[1].integer == 1, foldDue: items[2].integer == 1)
                    return completion(.success(revision))
                }
                // Someone committed first: move our op past their ops, then try at the new head.
                guard attempt < 32 else {
                    return completion(.failure(InterviewError(.conflict, "too much concurrent editing; send the operation again")))
                }
                var mine = op
                do {
                    for item in items.dropFirst() {
                        guard let entry = LogEntry(item) else { throw InterviewError(.internalError, "an op log entry is unreadable") }
                        let theirs = try entry.operation()
                        // Logged ops span the whole document; ours may have left out its trailing retain.
                        guard mine.baseLength <= theirs.baseLength else {
                            throw InterviewError.invalid("ops", "the operation spans \(mine.baseLength) characters but the document had \(theirs.baseLength) at that revision")
                        }
                        mine = try TextOperation.transform(mine.padded(to: theirs.baseLength), theirs).0
                    }
                } catch let error as InterviewError {
                    return completion(.failure(error))
                } catch {
                    return completion(.failure(InterviewError(.internalError, "\(error)")))
                }
                submit(id, document, op: mine, base: revision, connection: connection, author: author, attempt: attempt + 1,
                       resnapshotted: resnapshotted, completion)
            }
        }
    }

    /// The participant a token belongs to (rejoining as the same person).
    public func participant(forToken token: String, in id: String, _ completion: @escaping (Result<Participant, InterviewError>) -> Void) {
        run(Scripts.participantForToken, id, [hash(token)]) { result in
            completion(result.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text), let participant = Participant(json) else {
                    return .failure(InterviewError(.internalError, "participant_for_token returned an unexpected reply"))
                }
                return .success(participant)
            })
        }
    }

    /// Marks a connection online and reads what its client needs to start: its text (the
    /// document read) and the session (the connect script), pipelined; for an interviewer the
    /// notes too.
    public func connect(_ id: String, connection: String, participant: Participant, since revision: Int?,
                        _ completion: @escaping (Result<OnlineState, InterviewError>) -> Void) {
        let arguments = Scripts.connectArguments(settings: settings, connection: connection, participant: participant.id, since: revision)
        let withNotes = participant.role == .interviewer
        var online: Result<RedisValue, InterviewError>?
        var document: Result<DocumentText, InterviewError>?
        var notes: Result<DocumentText, InterviewError>?
        var stored: Result<SessionQuestion?, InterviewError>?
        let done = {
            guard let online, let document, let stored, !withNotes || notes != nil else { return }
            completion(online.flatMap { value in
                guard let items = value.array, let text = items.first?.text, let json = try? JSON.parse(text),
                      let you = json["you"].flatMap(Participant.init) else {
                    return .failure(InterviewError(.internalError, "connect returned an unexpected reply"))
                }
                return document.flatMap { document in
                    // cjson writes an empty list as {}.
                    let participants = (json["participants"]?.arrayValue ?? []).compactMap(Participant.init)
                    var scalars: [String: String] = [:]
                    for (key, value) in json["session"]?.objectValue ?? [] { if let text = value.stringValue { scalars[key] = text } }
                    guard let session = Session(scalars: scalars, participants: participants, document: document) else {
                        return .failure(InterviewError(.internalError, "connect returned an unexpected reply"))
                    }
                    // Entries past the text read (committed between the two reads) are not missed.
                    let missed = json["catch_up"]?.boolValue == true
                        ? items.dropFirst().compactMap(LogEntry.init).filter { $0.revision <= document.revision } : nil
                    var state = OnlineState(session: session, you: you, missed: missed)
                    switch notes {
                    case .failure(let error): return .failure(error)
                    case .success(let text): state.notes = text
                    case nil: break
                    }
                    return stored.map { question in
                        state.question = question
                        return state
                    }
                }
            })
        }
        // The texts first: entries after them come over the channels, which are subscribed already.
        documents.read(id) { result in
            document = result
            done()
        }
        if withNotes {
            documents.read(id, .notes) { result in
                notes = result
                done()
            }
        }
        run(Scripts.connect, id, arguments) { result in
            online = result
            done()
        }
        // After the subscription too: a question set meanwhile comes again as question-changed.
        question(id) { result in
            stored = result
            done()
        }
    }

    /// The pub/sub channel of a session's changes.
    public static func channel(_ id: String) -> String { SessionKeys(id).channel }

    /// The log entries of `document` committed after `revision`, oldest first (at most the
    /// catch-up limit), and its current revision (nil when it cannot be read; 0 for notes never
    /// written).
    public func frames(_ id: String, _ document: Document = .code, after revision: Int,
                       _ completion: @escaping (_ head: Int?, _ entries: [LogEntry]) -> Void) {
        redis.send(["HGET", document.state(SessionKeys(id)), "revision"]) { [self] result in
            guard let value = try? result.get(), let head = value.integer ?? (document == .notes && value == .null ? 0 : nil) else {
                return completion(nil, [])
            }
            guard head > revision else { return completion(head, []) }
            documents.entries(id, document, after: revision, limit: settings.opLogLimit) { result in
                completion(head, (try? result.get()) ?? [])
            }
        }
    }

    public func disconnect(_ id: String, connection: String, _ completion: ((Result<Void, InterviewError>) -> Void)? = nil) {
        run(Scripts.disconnect, id, [connection]) { result in completion?(result.map { _ in () }) }
    }

    // MARK: Gateway liveness

    static func gatewayKeys(_ instance: String) -> [String] {
        [NodeKeys.gateways, NodeKeys.gatewayInfo, NodeKeys.gatewaySessions(instance)]
    }

    /// Renews this gateway's lease; answers the gateways whose lease ran out.
    public func heartbeat(instance: String, leaseMillis: Int, info: JSON, _ completion: @escaping (Result<[String], InterviewError>) -> Void) {
        redis.run(Scripts.gatewayHeartbeat, keys: Self.gatewayKeys(instance), arguments: Scripts.heartbeatArguments(instance: instance, leaseMillis: leaseMillis, info: info.text)) { result in
            switch result {
            case .success(let value): completion(.success((value.array ?? []).compactMap(\.text).filter { $0 != instance }))
            case .failure(let error): completion(.failure(translate(error)))
            }
        }
    }

    /// Records that `instance` has members of session `id`, so a survivor can clean up after it.
    public func trackRoom(instance: String, session id: String, open: Bool) {
        let key = Self.gatewayKeys(instance)[2]
        redis.send([open ? "SADD" : "SREM", key, id]) { _ in }
        if open { redis.send(["PEXPIRE", key, "3600000"]) { _ in } }
    }

    /// A gateway stopping gracefully leaves the registry itself (its connections are gone).
    public func deregister(instance: String, _ completion: @escaping () -> Void) {
        redis.run(Scripts.forgetGateway, keys: Self.gatewayKeys(instance), arguments: [instance]) { _ in completion() }
    }

    /// Marks every connection of a dead gateway offline, session by session, then forgets it.
    public func sweep(deadInstance instance: String, _ completion: @escaping (Int) -> Void) {
        let keys = Self.gatewayKeys(instance)
        redis.send(["SMEMBERS", keys[2]]) { [self] result in
            let sessions = (try? result.get())?.array?.compactMap(\.text) ?? []
            var remaining = sessions.count
            var dropped = 0
            let finish = { [self] in
                redis.run(Scripts.forgetGateway, keys: keys, arguments: [instance]) { _ in completion(dropped) }
            }
            if remaining == 0 { return finish() }
            for id in sessions {
                run(Scripts.dropGateway, id, [instance + "#"]) { result in
                    dropped += (try? result.get())?.integer ?? 0
                    remaining -= 1
                    if remaining == 0 { finish() }
                }
            }
        }
    }
}
