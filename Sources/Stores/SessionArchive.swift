import Interview
import JSON
import Redis

/// A finished session as the archiver reads it from Redis (plain pipelined reads: its keys in one
/// slot, its runs in the `{jobs}` slot) and lets go once its record is stored (one script on the
/// session's slot, then the runs' keys). Reads never go through the live routes' checks: a
/// deleted or expired session's keys are what the archiver is there for.
public final class SessionArchive {
    public let redis: RedisConnection
    public let settings: SessionSettings

    static let release = RedisScripts.script("archive_release", PackageResources.archive_release_lua)

    public init(redis: RedisConnection, settings: SessionSettings) {
        self.redis = redis
        self.settings = settings
        redis.register(Self.release)
    }

    /// What a read found.
    public enum Found: Sendable {
        /// Over: its record, with what releasing it needs.
        case record(InterviewRecord, Release)
        /// Still live (not ended, expires_at ahead): due again at its expires_at.
        case live(expiresAt: Int64)
        /// Its keys are gone entirely: nothing to archive.
        case missing
    }

    /// What `release` checks and deletes: the revisions the record holds (the script refuses if
    /// the session moved past them) and the runs' job ids.
    public struct Release: Sendable {
        public var ending: InterviewRecord.Ending
        public var codeRevision: Int
        public var notesRevision: Int
        public var jobIDs: [String]
        /// The integrity signals the record holds (the list's length: it only grows).
        public var activityCount = 0
        /// The session's scorecards_version the record holds (Lua/scorecard_put.lua bumps it).
        public var scorecardsVersion: Int = 0
        /// The terminal log entries the record holds (the list's length: it only grows).
        public var terminalLogCount = 0
    }

    public func read(_ id: String, now: Int64, _ completion: @escaping (Result<Found, InterviewError>) -> Void) {
        read(id, now: now, attempt: 0, completion)
    }

    private func read(_ id: String, now: Int64, attempt: Int, _ completion: @escaping (Result<Found, InterviewError>) -> Void) {
        let keys = SessionKeys(id)
        let commands: [[String]] = [
            ["HGETALL", keys.session], ["HGETALL", keys.participants], ["HGETALL", keys.tokens], ["LRANGE", keys.history, "0", "-1"],
            ["HGETALL", keys.checkpoint], ["LRANGE", keys.log, "0", "-1"],
            ["HGETALL", keys.notes], ["HGETALL", keys.notesCheckpoint], ["LRANGE", keys.notesLog, "0", "-1"],
            ["GET", keys.question], ["LRANGE", keys.activity, "0", "-1"], ["HVALS", keys.scorecards],
            ["LRANGE", keys.terminalLog, "0", "-1"],
        ]
        redis.pipeline(commands) { [self] result in
            let replies: [RedisValue]
            switch result {
            case .failure(let error): return completion(.failure(translate(error, session: id)))
            case .success(let values): replies = values
            }
            let session = pairs(replies[0].array ?? [])
            guard let expiresText = session["expires_at"], let expiresAt = Int64(expiresText) else { return completion(.success(.missing)) }
            let status = session["status"] ?? ""
            let ending: InterviewRecord.Ending
            let endedAt: Int64
            let history = (replies[3].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
            switch status {
            case SessionStatus.completed.rawValue:
                ending = .completed
                let ended = history.last { $0["type"]?.stringValue == "ended" }?["at"]?.intValue
                endedAt = ended.map(Int64.init) ?? Int64(session["updated_at"] ?? "") ?? expiresAt
            case "deleted":
                ending = .deleted
                endedAt = Int64(session["deleted_at"] ?? session["updated_at"] ?? "") ?? now
            default:
                guard expiresAt <= now else { return completion(.success(.live(expiresAt: expiresAt))) }
                ending = .expired
                endedAt = expiresAt
            }
            let code: InterviewRecord.DocumentRecord
            let notes: InterviewRecord.DocumentRecord
            do {
                code = try Self.document(state: session, checkpoint: pairs(replies[4].array ?? []), log: replies[5].array ?? [])
                let notesState = pairs(replies[6].array ?? [])
                notes = notesState.isEmpty ? .init(text: "", revision: 0)
                    : try Self.document(state: notesState, checkpoint: pairs(replies[7].array ?? []), log: replies[8].array ?? [])
            } catch {
                // A fold between the reads moved the checkpoint: read again rather than keep a gap.
                guard attempt < 3 else { return completion(.failure(error as? InterviewError ?? InterviewError(.internalError, "\(error)"))) }
                return read(id, now: now, attempt: attempt + 1, completion)
            }
            let people = Self.people(participants: pairs(replies[1].array ?? []), tokens: pairs(replies[2].array ?? []), history: history)
            let question = replies[9].text.flatMap { try? JSON.parse($0) }
            let activity = (replies[10].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
            let activityCount = replies[10].array?.count ?? 0
            let scorecards = Scorecards.decode(cards: replies[11], question: .null, viewer: nil).cards
                .sorted { ($0["created_at"]?.intValue ?? 0, $0["author_id"]?.stringValue ?? "") < ($1["created_at"]?.intValue ?? 0, $1["author_id"]?.stringValue ?? "") }
            let scorecardsVersion = Int(session["scorecards_version"] ?? "0") ?? 0
            let terminal = (replies[12].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
            let terminalLogCount = replies[12].array?.count ?? 0
            var extras: [String: [JSON]] = [:]
            if !activity.isEmpty { extras[InterviewRecord.integrityExtras] = activity }
            if !scorecards.isEmpty { extras["scorecards"] = scorecards }
            if !terminal.isEmpty { extras[InterviewRecord.terminalExtras] = terminal }
            runs(id) { result in
                switch result {
                case .failure(let error): completion(.failure(error))
                case .success(let runs):
                    let record = InterviewRecord(
                        id: id, name: session["name"].flatMap { $0.isEmpty ? nil : $0 }, language: session["language"] ?? "",
                        createdAt: Int64(session["created_at"] ?? "") ?? 0, endedAt: endedAt, ending: ending,
                        hostTokenHash: session["host_token_hash"] ?? "", code: code, notes: notes, question: question,
                        participants: people, history: history, runs: runs,
                        extras: extras)
                    completion(.success(.record(record, Release(ending: ending, codeRevision: code.revision, notesRevision: notes.revision,
                                                                jobIDs: runs.map(\.id), activityCount: activityCount,
                                                                scorecardsVersion: scorecardsVersion, terminalLogCount: terminalLogCount))))
                }
            }
        }
    }

    /// A document from its state hash, checkpoint hash and whole log: the checkpoint's text with
    /// every op applied is the final text. Throws when the log does not follow the checkpoint
    /// (read across a fold) or does not reach the state's revision.
    static func document(state: [String: String], checkpoint: [String: String], log: [RedisValue]) throws -> InterviewRecord.DocumentRecord {
        let head = Int(state["revision"] ?? "0") ?? 0
        guard let base = checkpoint["revision"].flatMap({ Int($0) }) else {
            // The previous layout, never written since: the text in the session hash, no log.
            let text = state["code"] ?? ""
            return .init(text: text, revision: head, checkpoint: TimelineCheckpoint(revision: head, text: text, timestamp: 0, foldedOps: head))
        }
        let baseText = checkpoint["text"] ?? ""
        var composed = TextOperation()
        composed.retain(baseText.unicodeScalars.count)
        var ops: [TimelineOp] = []
        var revision = base
        for item in log {
            guard let entry = LogEntry(item), entry.revision == revision + 1 else {
                throw InterviewError(.internalError, "the op log does not follow its checkpoint at revision \(revision)")
            }
            composed = try TextOperation.compose(composed, entry.operation())
            ops.append(TimelineOp(revision: entry.revision, ops: entry.ops, userID: entry.userID, timestamp: Int(entry.timestamp)))
            revision = entry.revision
        }
        guard revision == head else { throw InterviewError(.internalError, "the op log ends at \(revision), the document is at \(head)") }
        let text = try composed.apply(baseText)
        guard base > 0 else { return .init(text: text, revision: head, initialText: baseText, checkpoint: nil, ops: ops) }
        var summary: [(key: String, value: JSON)] = []
        if let reason = checkpoint["reason"] { summary.append((key: "reason", value: .string(reason))) }
        for name in ["first_at", "through_at", "folded_bytes"] {
            if let value = checkpoint[name].flatMap({ Int($0) }) { summary.append((key: name, value: .integer(value))) }
        }
        if let authors = checkpoint["authors"].flatMap({ try? JSON.parse($0) }) { summary.append((key: "authors", value: authors)) }
        let mark = TimelineCheckpoint(revision: base, text: baseText, timestamp: Int(checkpoint["ts"] ?? "") ?? 0,
                                      foldedOps: Int(checkpoint["folded_ops"] ?? "") ?? 0, summary: summary)
        // The initial text was folded away with the first ops: not known any more.
        return .init(text: text, revision: head, initialText: "", checkpoint: mark, ops: ops)
    }

    /// Everyone who joined: the members at the end (the participants hash), and those who left
    /// (a REST leave removes them from it; their join and leave stay in the history).
    static func people(participants: [String: String], tokens: [String: String], history: [JSON]) -> [InterviewRecord.Person] {
        var tokenOf: [String: String] = [:]
        for (hash, participant) in tokens { tokenOf[participant] = hash }
        var left: [String: Int64] = [:]
        var joined: [String: JSON] = [:]
        for event in history {
            guard let user = event["user_id"]?.stringValue, let at = event["at"]?.intValue else { continue }
            switch event["type"]?.stringValue {
            case "joined": joined[user] = event
            case "left": left[user] = Int64(at)
            default: break
            }
        }
        var people: [InterviewRecord.Person] = []
        for (id, raw) in participants {
            guard let json = try? JSON.parse(raw) else { continue }
            people.append(.init(id: id, name: json["name"]?.stringValue ?? "", role: Role(rawValue: json["role"]?.stringValue ?? "") ?? .candidate,
                                color: json["color"]?.stringValue ?? "", joinedAt: Int64(json["joined_at"]?.intValue ?? 0), leftAt: nil,
                                tokenHash: tokenOf[id] ?? json["token_hash"]?.stringValue))
        }
        for (id, event) in joined where participants[id] == nil {
            people.append(.init(id: id, name: event["name"]?.stringValue ?? "", role: Role(rawValue: event["role"]?.stringValue ?? "") ?? .candidate,
                                color: "", joinedAt: Int64(event["at"]?.intValue ?? 0), leftAt: left[id], tokenHash: nil))
        }
        return people.sorted { ($0.joinedAt, $0.id) < ($1.joinedAt, $1.id) }
    }

    /// The session's executions and test runs, oldest first (their lists are in the `{jobs}` slot:
    /// one pipeline for the lists, one for the job hashes). Jobs whose hashes expired are left out.
    func runs(_ id: String, _ completion: @escaping (Result<[InterviewRecord.Run], InterviewError>) -> Void) {
        redis.pipeline([["LRANGE", ExecutionKeys.session(id), "0", "-1"], ["LRANGE", ExecutionKeys.testRuns(id), "0", "-1"]]) { [redis] result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let lists):
                var seen = Set<String>()
                let ids = lists.flatMap { $0.array ?? [] }.compactMap(\.text).filter { seen.insert($0).inserted }
                guard !ids.isEmpty else { return completion(.success([])) }
                redis.pipeline(ids.map { ["HGETALL", ExecutionKeys.job($0)] }) { result in
                    completion(result.mapError { translate($0, session: id) }.map { replies in
                        zip(ids, replies).compactMap { jobID, reply -> InterviewRecord.Run? in
                            let fields = pairs(reply.array ?? [])
                            guard !fields.isEmpty else { return nil }
                            return .init(id: jobID, kind: fields["kind"] == JobKind.testRun.rawValue ? .testRun : .execution,
                                         createdAt: Int64(fields["created_at"] ?? "") ?? 0, fields: fields)
                        }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                    })
                }
            }
        }
    }

    /// The gone reason live routes answer for an ending (ScriptError.GoneReason).
    static func goneReason(_ ending: InterviewRecord.Ending) -> String {
        switch ending {
        case .completed: return ScriptError.GoneReason.ended.rawValue
        case .deleted: return ScriptError.GoneReason.deleted.rawValue
        case .expired: return ScriptError.GoneReason.expired.rawValue
        }
    }

    /// After the record is stored: the session's keys go (its gone marker stays, with how it
    /// ended), then its runs' lists and finished jobs. Answers whether the keys were there; fails
    /// with a conflict when the session moved past what the record holds (read it again).
    public func release(_ id: String, _ release: Release, _ completion: @escaping (Result<Bool, InterviewError>) -> Void) {
        let arguments = [Self.goneReason(release.ending), String(settings.goneRetentionMillis), String(release.codeRevision),
                         String(release.notesRevision), String(release.activityCount), String(release.scorecardsVersion),
                         String(release.terminalLogCount)]
        redis.run(Self.release, keys: SessionKeys(id).all, arguments: arguments) { [redis] result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let value):
                // (The session is over: no run of it starts any more. A run still finishing
                // writes a result hash that expires with its retention.)
                let keys = [ExecutionKeys.session(id), ExecutionKeys.testRuns(id)] + release.jobIDs.map(ExecutionKeys.job)
                redis.send(["DEL"] + keys) { deleted in
                    switch deleted {
                    case .failure(let error): completion(.failure(translate(error, session: id)))
                    case .success: completion(.success(value.integer == 1))
                    }
                }
            }
        }
    }
}
