import JSON
import Redis

/// What a connection learns when it goes online.
public struct OnlineState: Sendable {
    public var session: Session
    public var you: Participant
    /// The op frames committed after the client's revision, oldest first; nil when the client
    /// gave none or is too far behind (then it reloads the whole document from `session`).
    public var missed: [String]?
}

/// Real-time editing and presence: operations, connections, and gateway liveness.
extension Sessions {
    /// Commits `op` (made against `base`): transforms it over whatever was committed since and
    /// retries until it lands. Returns the revision it was committed as.
    public func submit(_ id: String, op: TextOperation, base: Int, connection: String, author: String,
                       _ completion: @escaping (Result<Int, InterviewError>) -> Void) {
        submit(id, op: op, base: base, connection: connection, author: author, attempt: 0, completion)
    }

    private func submit(_ id: String, op: TextOperation, base: Int, connection: String, author: String, attempt: Int,
                        _ completion: @escaping (Result<Int, InterviewError>) -> Void) {
        let arguments = [String(base), op.json.text, connection, author, String(settings.maxCodeBytes), String(settings.opLogLimit)]
        run(Scripts.submitOp, id, arguments) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let value):
                guard let items = value.array, let revision = items.first?.integer else {
                    return completion(.failure(InterviewError(.internalError, "submit_op returned an unexpected reply")))
                }
                if items.count == 1 { return completion(.success(revision)) }
                // Someone committed first: move our op past their ops, then try at the new head.
                guard attempt < 32 else {
                    return completion(.failure(InterviewError(.conflict, "too much concurrent editing; send the operation again")))
                }
                var mine = op
                do {
                    for frame in items.dropFirst() {
                        guard let text = frame.text, let parsed = try? JSON.parse(text), let ops = parsed["data"]?["ops"] else {
                            throw InterviewError(.internalError, "an op log entry is unreadable")
                        }
                        let theirs = try TextOperation(json: ops, maxComponents: .max)
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
                submit(id, op: mine, base: revision, connection: connection, author: author, attempt: attempt + 1, completion)
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

    /// Marks a connection online and reads what its client needs to start.
    public func connect(_ id: String, connection: String, participant: String, since revision: Int?,
                        _ completion: @escaping (Result<OnlineState, InterviewError>) -> Void) {
        let arguments = [connection, participant, revision.map(String.init) ?? "", String(settings.maxConnectionsPerSession)]
        run(Scripts.connect, id, arguments) { result in
            completion(result.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text), let session = Session(view: json),
                      let you = json["you"].flatMap(Participant.init) else {
                    return .failure(InterviewError(.internalError, "connect returned an unexpected reply"))
                }
                // cjson writes an empty list as {}.
                let missed: [String]? = json["missed"].map { $0.arrayValue?.compactMap(\.stringValue) ?? [] }
                return .success(OnlineState(session: session, you: you, missed: missed))
            })
        }
    }

    /// The pub/sub channel of a session's changes.
    public static func channel(_ id: String) -> String { Scripts.channel(id) }

    /// The op frames committed after `revision` that the log still holds, oldest first, and the
    /// current revision (nil when it cannot be read).
    public func frames(_ id: String, after revision: Int,
                       _ completion: @escaping (_ head: Int?, _ frames: [(revision: Int, frame: [UInt8])]) -> Void) {
        let keys = Scripts.keys(id)
        redis.send(["HGET", keys[0], "revision"]) { [redis] result in
            guard let head = (try? result.get())?.integer else { return completion(nil, []) }
            guard head > revision else { return completion(head, []) }
            redis.send(["LRANGE", keys[5], String(-(head - revision)), "-1"]) { result in
                let frames = (try? result.get())?.array?.compactMap(\.bytes) ?? []
                completion(head, frames.enumerated().map { (head - frames.count + $0.offset + 1, $0.element) })
            }
        }
    }

    public func disconnect(_ id: String, connection: String, _ completion: ((Result<Void, InterviewError>) -> Void)? = nil) {
        run(Scripts.disconnect, id, [connection]) { result in completion?(result.map { _ in () }) }
    }

    // MARK: Gateway liveness

    static func gatewayKeys(_ instance: String) -> [String] {
        ["ci:{nodes}:gateways", "ci:{nodes}:gateway-info", "ci:{nodes}:gateway-sessions:\(instance)"]
    }

    /// Renews this gateway's lease; answers the gateways whose lease ran out.
    public func heartbeat(instance: String, leaseMillis: Int, info: JSON, _ completion: @escaping (Result<[String], InterviewError>) -> Void) {
        redis.run(Scripts.gatewayHeartbeat, keys: Self.gatewayKeys(instance), arguments: [instance, String(leaseMillis), info.text]) { result in
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
