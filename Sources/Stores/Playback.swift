import Interview
import JSON
import Redis

/// Session playback for the session's interviewers, and once it has ended for its candidates in
/// the candidate's view (what they saw live: no notes, no integrity signals, test runs as a
/// candidate saw them; the rule of the record's candidate view): the timeline (committed ops with their
/// authors and times, and among them joins, leaves, language changes, saves, runs and the end)
/// and the text at any revision. Everything here is plain reads, pipelined; nothing is written.
/// Available while the session's keys live (its TTL), ended or not.
public final class Playback {
    let redis: RedisConnection
    let documents: Documents
    let executionHistoryLimit: Int

    public init(sessions: Sessions, executionHistoryLimit: Int) {
        redis = sessions.redis
        documents = sessions.documents
        self.executionHistoryLimit = executionHistoryLimit
    }

    /// What every playback answer needs, read with the token's check (InterviewerRead): the
    /// document's current revision, the session's layout and (previous layout) text, the people.
    struct Access {
        var head: Int
        var layout: String?
        var legacyText: String?
        var participants: [JSON]
        /// False for a candidate's token (an ended session): the candidate's view.
        var interviewer = true
    }

    static let purpose = "session playback is for the session's interviewers until the interview ends"


    /// Checks the token and reads what every playback answer of `document` needs, in one round trip.
    private func access(_ id: String, token: String?, _ document: Document, _ completion: @escaping (Result<Access, InterviewError>) -> Void) {
        // The notes' revision is their own hash's (none until they are first written).
        let reads: [RedisRequest] = document == .notes ? [.command(["HGET", SessionKeys(id).notes, "revision"])] : []
        InterviewerRead.run(redis, session: id, token: token, purpose: Self.purpose,
                            fields: ["revision", "layout", "code"], reads: reads, candidatesAfterEnd: true) { result in
            completion(result.flatMap { read in
                guard read.interviewer || document == .code else {
                    return .failure(InterviewError(.forbidden, "the notes' playback is for the session's interviewers; this token is a candidate's"))
                }
                guard let codeHead = read.fields["revision"].flatMap({ Int($0) }) else {
                    return .failure(InterviewError(.notFound, "no session with id \(id)"))
                }
                let people = read.participants.map { p -> JSON in
                    ["id": p["id"] ?? .null, "name": p["name"] ?? .null, "role": p["role"] ?? .null, "color": p["color"] ?? .null,
                     "joined_at": p["joined_at"] ?? .null]
                }
                if document == .notes {
                    // The notes were never in the previous layout.
                    return .success(Access(head: read.replies[0].integer ?? 0, layout: "2", legacyText: nil, participants: people))
                }
                return .success(Access(head: codeHead, layout: read.fields["layout"], legacyText: read.fields["code"], participants: people,
                                       interviewer: read.interviewer))
            })
        }
    }

    // MARK: Timeline

    /// The page of `document`'s timeline after `after` (at most `limit` events; see TimelinePage
    /// for how pages are cut). The notes' timeline holds their ops (and checkpoint) alone: the
    /// session's other events are the code's timeline's.
    public func timeline(_ id: String, token: String?, document: Document = .code, after: Int, limit: Int,
                         _ completion: @escaping (Result<JSON, InterviewError>) -> Void) {
        access(id, token: token, document) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let access):
                read(id, document, access, after: after, limit: limit) { result in
                    completion(result.map { page in
                        var json = page.json
                        json.set("document", .string(document.rawValue))
                        json.set("participants", .array(access.participants))
                        return json
                    })
                }
            }
        }
    }

    private func read(_ id: String, _ document: Document, _ access: Access, after: Int, limit: Int, attempt: Int = 1,
                      runIDs: [RedisValue]? = nil, _ completion: @escaping (Result<TimelinePage, InterviewError>) -> Void) {
        // Past the head there is nothing to read.
        guard after < access.head else { return completion(.success(TimelinePage(revision: access.head, events: [], nextAfterRevision: nil))) }
        let keys = SessionKeys(id)
        // (For the code) the runs, then the checkpoint, the history and the log: every event read
        // happened before the log was read. The runs' list is in the {jobs} slot, so it is read
        // first on its own (on Redis Cluster a pipeline is one slot), the rest in one pipeline of
        // the session's slot. The log script, not LRANGE: entries are indexed from the checkpoint,
        // which it reads with them.
        guard document != .code || runIDs != nil else {
            return redis.send(["LRANGE", ExecutionKeys.session(id), "0", String(executionHistoryLimit - 1)]) { [self] result in
                switch result {
                case .failure(let error): completion(.failure(translate(error, session: id)))
                case .success(let value):
                    read(id, document, access, after: after, limit: limit, attempt: attempt, runIDs: value.array ?? [], completion)
                }
            }
        }
        var requests: [RedisRequest] = [.command(["HGETALL", document.checkpoint(keys)])]
        if document == .code {
            requests.append(.command(["LRANGE", keys.history, "0", "-1"]))
            // The interactive runs' terminal input and output (Terminals), at their times: the whole
            // room's, so a candidate's view has them too.
            requests.append(.command(["LRANGE", keys.terminalLog, "0", "-1"]))
            // The integrity signals (Activity), as events of the timeline: for interviewers only.
            if access.interviewer { requests.append(.command(["LRANGE", keys.activity, "0", "-1"])) }
        }
        requests.append(.script(Scripts.log, keys: keys.all, arguments: Scripts.logArguments(document, after: after, limit: limit + 1)))
        redis.pipeline(requests) { [self] result in
            let replies: [RedisValue]
            switch result {
            case .failure(let error): return completion(.failure(translate(error, session: id)))
            case .success(let values): replies = values
            }
            let logged = replies.last?.array ?? []
            let checkpoint = Self.checkpoint(pairs(replies[0].array ?? []), access)
            // A fold between the reads moves the checkpoint: read again rather than show a gap.
            if access.layout != nil, let logCheckpoint = logged.first?.integer, logCheckpoint != checkpoint?.revision ?? 0 {
                guard attempt < 3 else { return completion(.failure(InterviewError(.unavailable, "the op log is being folded; retry shortly"))) }
                return read(id, document, access, after: after, limit: limit, attempt: attempt + 1, completion)
            }
            let ops = logged.dropFirst().compactMap(LogEntry.init).map { entry in
                TimelineOp(revision: entry.revision, ops: entry.ops, userID: entry.userID, timestamp: Int(entry.timestamp))
            }
            guard document == .code else {
                return completion(.success(Timeline.page(after: after, limit: limit, head: access.head, ops: ops, others: [], checkpoint: checkpoint)))
            }
            let entries = (replies[1].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
            var history = (access.interviewer ? entries : entries.filter(Timeline.candidateSees(history:))).compactMap(Timeline.event(history:))
            history += (replies[2].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) }.flatMap(Timeline.event(history:)) }
            if access.interviewer {
                history += (replies[3].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) }.flatMap(Timeline.event(history:)) }
            }
            let jobIDs = (runIDs ?? []).compactMap(\.text)
            runs(jobIDs, interviewer: access.interviewer) { result in
                completion(result.map { runs in
                    Timeline.page(after: after, limit: limit, head: access.head, ops: ops, others: history + runs, checkpoint: checkpoint)
                })
            }
        }
    }

    /// The checkpoint hash as the timeline shows it; a session of the previous layout, not
    /// written since, has its current text as its only checkpoint.
    private static func checkpoint(_ fields: [String: String], _ access: Access) -> TimelineCheckpoint? {
        guard let revision = fields["revision"].flatMap({ Int($0) }) else {
            guard access.layout == nil else { return nil }
            return TimelineCheckpoint(revision: access.head, text: access.legacyText ?? "", timestamp: 0, foldedOps: access.head)
        }
        var summary: [(key: String, value: JSON)] = []
        if let reason = fields["reason"] { summary.append((key: "reason", value: .string(reason))) }
        for name in ["first_at", "through_at", "folded_bytes"] {
            if let value = fields[name].flatMap({ Int($0) }) { summary.append((key: name, value: .integer(value))) }
        }
        if let authors = fields["authors"].flatMap({ try? JSON.parse($0) }) { summary.append((key: "authors", value: authors)) }
        return TimelineCheckpoint(revision: revision, text: fields["text"] ?? "", timestamp: fields["ts"].flatMap { Int($0) } ?? 0,
                                  foldedOps: fields["folded_ops"].flatMap { Int($0) } ?? 0, summary: summary)
    }

    /// The session's runs as timeline events (the code that ran, the status, the output as stored);
    /// jobs whose results expired (`--execution-retention`) are left out.
    private func runs(_ ids: [String], interviewer: Bool, _ completion: @escaping (Result<[JSON], InterviewError>) -> Void) {
        redis.pipeline(ids.map { ["HGETALL", ExecutionKeys.job($0)] }) { result in
            completion(result.mapError { translate($0) }.map { replies in
                zip(ids, replies).compactMap { id, reply -> JSON? in
                    let fields = pairs(reply.array ?? [])
                    guard let job = ExecutionJob(id: id, fields: fields) else { return nil }
                    var event = interviewer ? Timeline.event(execution: job) : Timeline.candidateEvent(execution: job, fields: fields)
                    if let code = fields["code"] { event.set("code", .string(code)) }
                    return event
                }
            })
        }
    }

    // MARK: Text at a revision

    /// The text at `revision` (the snapshot or the checkpoint at or before it, and the log entries
    /// up to it, applied here), with the time it was made and the session's language then.
    public func code(_ id: String, token: String?, revision: Int, _ completion: @escaping (Result<JSON, InterviewError>) -> Void) {
        access(id, token: token, .code) { [self] result in
            switch result {
            case .failure(let error):
                completion(.failure(error))
            case .success(let access):
                guard revision <= access.head else {
                    return completion(.failure(InterviewError(.notFound, "session \(id) has no revision \(revision) yet: it is at revision \(access.head)",
                                                              field: "revision")))
                }
                let keys = SessionKeys(id)
                var document: Result<DocumentText, InterviewError>?
                var context: Result<[RedisValue], RedisError>?
                let done = {
                    guard let document, let context else { return }
                    completion(Self.codeAnswer(id, revision: revision, document: document, context: context))
                }
                documents.read(id, at: revision) { result in
                    document = result
                    done()
                }
                // When revision N was made (its log entry; none at the checkpoint itself), and the history for the language then.
                redis.pipeline([.script(Scripts.log, keys: keys.all, arguments: Scripts.logArguments(.code, after: max(revision - 1, 0), limit: 1)),
                                .command(["LRANGE", keys.history, "0", "-1"])]) { result in
                    context = result
                    done()
                }
            }
        }
    }

    private static func codeAnswer(_ id: String, revision: Int, document: Result<DocumentText, InterviewError>,
                                   context: Result<[RedisValue], RedisError>) -> Result<JSON, InterviewError> {
        let text: DocumentText
        let replies: [RedisValue]
        switch (document, context) {
        case (.failure(let error), _): return .failure(error)
        case (_, .failure(let error)): return .failure(translate(error, session: id))
        case (.success(let value), .success(let values)): (text, replies) = (value, values)
        }
        guard text.revision == revision else {
            return .failure(InterviewError(.notFound, "revision \(revision) of session \(id) is no longer kept: the oldest text kept is "
                                           + "revision \(text.revision) (older history was folded into a checkpoint)", field: "revision"))
        }
        let history = (replies[1].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
        let made = (replies[0].array ?? []).dropFirst().first.flatMap(LogEntry.init).flatMap { $0.revision == revision ? Int($0.timestamp) : nil }
            ?? history.first { $0["type"]?.stringValue == "created" }?["at"]?.intValue ?? 0
        // The language then: the last language set at or before that time.
        var language = "python"
        for event in history where ["created", "language_changed"].contains(event["type"]?.stringValue ?? "") {
            guard let at = event["at"]?.intValue, at <= made, let value = event["language"]?.stringValue else { continue }
            language = value
        }
        return .success(["code": .string(text.text), "language": .string(language), "revision": .integer(revision),
                         "updated_at": .integer(made)])
    }
}
