import Interview
import JSON
import Logging
import Postgres
import Records
import Transport

/// The interview record: finished interviews, read from the archive (PostgreSQL) after their
/// room (Redis) is gone. The same id as the session; the same tokens as the room (their hashes
/// are in the record), or the admin token.
///
///     GET    /interviews/{id}                       the record (full; a candidate's token: what a candidate saw)
///     GET    /interviews/{id}/timeline?after_revision=&limit=&document=   as the live timeline (interviewers, admin;
///                                                   a candidate's token: the code's, in the candidate's view)
///     GET    /interviews/{id}/code?revision=N       the code at revision N (anyone of the interview, the admin)
///     GET    /interviews?from=&to=&q=&cursor=&limit=  the admin's list, newest first
///     DELETE /interviews/{id}                       erasure (the host or the admin)
///
/// Malformed ids and query parameters answer 400 naming the parameter; PostgreSQL away or slow
/// answers 503 (the pool never blocks the loop); a gateway without --postgres answers 503.
final class InterviewController: Controller {
    private let records: InterviewRecords?
    private let admin: AdminToken
    private let logger: Logger

    init(records: InterviewRecords?, admin: AdminToken, logger: Logger) {
        self.records = records
        self.admin = admin
        self.logger = logger
    }

    var routes: [Route] {
        [
            Route("interviews", .get(auth: .admin("the interview archive's list"), rate: .requests, list)),
            Route("interviews/{id}",
                  .get(auth: .token, rate: .requests, get),
                  .delete(auth: .token, rate: .requests, erase)),
            Route("interviews/{id}/timeline", .get(auth: .token, rate: .requests, timeline)),
            Route("interviews/{id}/code", .get(auth: .token, rate: .requests, code)),
        ]
    }

    static let notConfigured = "the interview archive is not configured on this gateway (start it with --postgres=URL)"

    // MARK: Routes

    func get(_ context: RequestContext) {
        guard let (records, id) = prepare(context) else { return }
        guard let token = requireToken(context) else { return }
        records.record(id, includeOps: false) { [self] result in
            guard let record = found(context, id, result), let interviewer = viewer(context, record, token) else { return }
            context.reply(record.json(forInterviewer: interviewer))
        }
    }

    func timeline(_ context: RequestContext) {
        guard let (records, id) = prepare(context) else { return }
        guard let after = integer(context, "after_revision", default: 0, range: 0...Int.max),
              let limit = integer(context, "limit", default: Timeline.defaultLimit, range: 1...Timeline.maximumLimit) else { return }
        let document = context.request.queryItem("document") ?? "code"
        guard document == "code" || document == "notes" else {
            return context.reply(Problem(400, "document must be 'code' or 'notes', not '\(document)'", field: "document"))
        }
        guard let token = requireToken(context) else { return }
        records.record(id, includeOps: true) { [self] result in
            guard let record = found(context, id, result), let interviewer = viewer(context, record, token) else { return }
            // A candidate replays the code as they saw it live; the notes are never theirs.
            guard interviewer || document == "code" else {
                return context.reply(Problem(403, "the notes' timeline is for the interview's interviewers; this token is a candidate's",
                                             field: "document"))
            }
            context.reply(record.timeline(notes: document == "notes", after: after, limit: limit, forInterviewer: interviewer))
        }
    }

    func code(_ context: RequestContext) {
        guard let (records, id) = prepare(context) else { return }
        let revisionGiven = context.request.queryItem("revision") != nil
        guard let revision = integer(context, "revision", default: 0, range: 0...Int.max) else { return }
        guard let token = requireToken(context) else { return }
        records.record(id, includeOps: revisionGiven) { [self] result in
            // The code (final or at a revision) is what every participant saw: a candidate replays it too.
            guard let record = found(context, id, result), viewer(context, record, token) != nil else { return }
            do throws(InterviewError) {
                // Without ?revision= the final code (no ops read).
                context.reply(try record.codeJSON(at: revisionGiven ? revision : record.code.revision))
            } catch {
                if error.kind == .invalid { return context.reply(Problem(400, error.detail, field: error.field)) }
                context.reply(Problem(error))
            }
        }
    }

    func erase(_ context: RequestContext) {
        guard let (records, id) = prepare(context) else { return }
        guard let token = requireToken(context) else { return }
        let done: (Result<Bool, PostgresError>) -> Void = { [self] result in
            switch result {
            case .failure(let error): failed(context, error)
            case .success(false): context.reply(Problem(404, "no interview with id \(id)"))
            case .success(true):
                logger.info("interview \(id) erased", metadata: ["request_id": .string(context.requestID)])
                context.send(HTTPResponse(status: 204))
            }
        }
        if admin.matches(token) { return records.erase(id, done) }
        records.hostTokenHash(id) { [self] result in
            switch result {
            case .failure(let error): failed(context, error)
            case .success(nil): context.reply(Problem(404, "no interview with id \(id)"))
            case .success(let hash?):
                guard constantTimeEqual(Identifiers.tokenHash(token), hash) else {
                    return context.reply(Problem(403, "erasing an interview needs its host token or the admin token; this token is neither"))
                }
                records.erase(id, done)
            }
        }
    }

    func list(_ context: RequestContext) {
        guard let records else { return context.reply(Problem.unavailable(Self.notConfigured)) }
        guard let from = optionalInteger(context, "from"), let to = optionalInteger(context, "to"),
              let limit = integer(context, "limit", default: InterviewRecords.defaultListLimit,
                                  range: 1...InterviewRecords.maximumListLimit) else { return }
        let query = Self.formValue(context.request.query, "q")
        if let query, query.utf8.count > 200 || query.utf8.contains(0) {
            return context.reply(Problem(400, "q must be at most 200 bytes of text", field: "q"))
        }
        if let from, let to, from > to {
            return context.reply(Problem(400, "from (\(from)) is after to (\(to))", field: "from"))
        }
        records.list(from: from, to: to, query: query, cursor: context.request.queryItem("cursor"), limit: limit) { [self] result in
            switch result {
            case .success(let page): context.reply(page.json)
            case .failure(.invalidCursor(let detail)): context.reply(Problem(400, detail, field: "cursor"))
            case .failure(.postgres(let error)): failed(context, error)
            }
        }
    }

    // MARK: Checks

    /// Who is asking about a record: an interviewer (the host, an interviewer's participant token,
    /// the admin: true) or a candidate (false); answers 403 itself for a token the record does not know.
    private func viewer(_ context: RequestContext, _ record: InterviewRecord, _ token: String) -> Bool? {
        if admin.matches(token) { return true }
        let hash = Identifiers.tokenHash(token)
        if constantTimeEqual(hash, record.hostTokenHash) { return true }
        var found: InterviewRecord.Person?
        // Every participant is compared, so the time says nothing about which one matched.
        for person in record.participants {
            if let own = person.tokenHash, constantTimeEqual(hash, own) { found = person }
        }
        guard let person = found else {
            context.reply(Problem(403, "this token does not belong to interview \(record.id)"))
            return nil
        }
        return person.role == .interviewer
    }

    /// The store and the id, or the problem answered: 503 without --postgres, 400 for a malformed id.
    private func prepare(_ context: RequestContext) -> (InterviewRecords, String)? {
        guard let records else {
            context.reply(Problem.unavailable(Self.notConfigured))
            return nil
        }
        let raw = context.parameters.first ?? ""
        guard let id = SessionID(raw) else {
            context.reply(Problem(400, "'\(raw.prefix(64))' is not an interview id: an interview has its session's id, "
                                  + "22 characters of A-Z, a-z, 0-9, '-' and '_'", field: "id"))
            return nil
        }
        return (records, id.rawValue)
    }

    private func requireToken(_ context: RequestContext) -> String? {
        guard let token = context.bearerToken, !token.isEmpty else {
            var problem = Problem(401, "send the host token, a participant's token or the admin token (Authorization: Bearer ...)")
            problem.headers.add("WWW-Authenticate", "Bearer")
            context.reply(problem)
            return nil
        }
        return token
    }

    /// The record, or the problem answered (404, or PostgreSQL's failure).
    private func found(_ context: RequestContext, _ id: String, _ result: Result<InterviewRecord?, PostgresError>) -> InterviewRecord? {
        switch result {
        case .failure(let error):
            failed(context, error)
            return nil
        case .success(nil):
            context.reply(Problem(404, "no interview with id \(id) (it was never archived, or it was erased)"))
            return nil
        case .success(let record?):
            return record
        }
    }

    /// PostgreSQL away, slow or closing: 503 to retry; anything else is a 500 logged here.
    private func failed(_ context: RequestContext, _ error: PostgresError) {
        switch error.kind {
        case .unavailable, .timeout, .closed:
            context.reply(Problem.unavailable("the interview archive is unreachable; retry shortly (\(error.message))"))
        case .server where error.sqlState == "42P01":
            // The schema is not there yet: PostgreSQL was away when this gateway started, and no
            // archiver has migrated since. Migrate now (one at a time), so the retry finds it.
            migrateOnce()
            context.reply(Problem.unavailable("the interview archive has no schema yet; retry shortly"))
        case .server, .protocolError:
            logger.error("\(context.request.method) \(context.path): PostgreSQL: \(error.message)",
                         metadata: ["request_id": .string(context.requestID)])
            context.reply(Problem(500, "the interview archive failed to answer"))
        }
    }

    /// A form-encoded query value: '+' is a space (a search box's form sends "cal+cand"), then
    /// %XX escapes (so "%2B" is a plus). Only for `q`: ids, cursors and numbers have no spaces.
    static func formValue(_ query: String, _ name: String) -> String? {
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard percentDecode(String(parts[0])) == name else { continue }
            return parts.count > 1 ? percentDecode(String(parts[1].map { $0 == "+" ? " " : $0 })) : ""
        }
        return nil
    }

    private var migrating = false

    private func migrateOnce() {
        guard let records, !migrating else { return }
        migrating = true
        records.migrate { [self] result in
            migrating = false
            if case .success(let count) = result, count > 0 {
                logger.info("interview archive: \(count) migration(s) applied (the schema was missing)")
            }
        }
    }

    /// An integer query parameter in `range`, or a 400 naming it.
    private func integer(_ context: RequestContext, _ name: String, default fallback: Int, range: ClosedRange<Int>) -> Int? {
        guard let text = context.request.queryItem(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            let bounds = range.upperBound == Int.max ? "a non-negative integer" : "an integer from \(range.lowerBound) to \(range.upperBound)"
            context.reply(Problem(400, "\(name) must be \(bounds), not '\(text.prefix(64))'", field: name))
            return nil
        }
        return value
    }

    /// An optional Unix-milliseconds parameter: .some(nil) when absent, nil when answered 400.
    private func optionalInteger(_ context: RequestContext, _ name: String) -> Int64?? {
        guard let text = context.request.queryItem(name) else { return .some(nil) }
        guard let value = Int64(text), value >= 0 else {
            context.reply(Problem(400, "\(name) must be a time in Unix milliseconds (a non-negative integer), not '\(text.prefix(64))'", field: name))
            return nil
        }
        return .some(value)
    }
}
