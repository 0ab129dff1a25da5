import Interview
import JSON
import Postgres
import Records
import Stores
import Transport

/// Interviewers' scorecards (docs/scorecards.md): one per interviewer per session, private to its
/// author until submitted; never a candidate's to read.
///
///     GET /sessions/{id}/scorecards/mine   {rubric, scale, scorecard (null before the first PUT)}
///     PUT /sessions/{id}/scorecards/mine   {recommendation?, ratings?, text?, submit?|status?}: replaces
///                                          the caller's contents; submit (needs a recommendation)
///     GET /sessions/{id}/scorecards        {rubric, scale, scorecards, submitted, unlocked}: the caller's
///                                          own, and the others' submitted ones once the caller
///                                          submitted; the admin token: every submitted one
///
/// The token is checked before the body is (a candidate gets 403 whatever they send); a body that
/// does not fit the session's rubric is refused (422, 413 for the text) and nothing changes.
/// Once the session is archived (its room answers 410) and the gateway has --postgres, the same
/// routes read and write the scorecards in the record, under the same rules.
final class ScorecardController: Controller {
    private let scorecards: Scorecards
    private let records: InterviewRecords?
    private let admin: AdminToken

    init(scorecards: Scorecards, records: InterviewRecords?, admin: AdminToken) {
        self.scorecards = scorecards
        self.records = records
        self.admin = admin
    }

    var routes: [Route] {
        [Route("sessions/{id}/scorecards/mine",
               .get(auth: .token, rate: .requests, getMine),
               .put(auth: .token, rate: .requests, body: .server, putMine)),
         Route("sessions/{id}/scorecards", .get(auth: .token, rate: .requests, list))]
    }

    private static func head(_ rubric: [RubricCriterion]) -> JSON {
        ["rubric": .array(rubric.map(\.json)), "scale": Rubric.scaleJSON]
    }

    private static func own(_ read: Scorecards.Read) -> JSON? {
        read.cards.first { $0["author_id"]?.stringValue == read.viewer }
    }

    func getMine(_ context: RequestContext, _ id: SessionID) {
        let answer: (Scorecards.Read) -> Void = { read in
            var out = Self.head(read.rubric)
            out.set("scorecard", Self.own(read) ?? .null)
            context.reply(out)
        }
        scorecards.read(id.rawValue, token: context.bearerToken) { [self] result in
            if case .failure(let error) = result, error.kind == .gone, records != nil {
                return archived(context, id.rawValue, gone: error, asAuthor: true) { read, _ in answer(read) }
            }
            context.reply(result, answer)
        }
    }

    func putMine(_ context: RequestContext, _ id: SessionID) {
        let body: RequestBody
        do {
            body = try RequestBody(context.request)
        } catch {
            return context.reply(error)
        }
        let token = context.bearerToken
        // Who is asking first (and the rubric in the same round trip), then the body, then the write.
        scorecards.read(id.rawValue, token: token) { [self] result in
            if case .failure(let error) = result, error.kind == .gone, records != nil {
                return archived(context, id.rawValue, gone: error, asAuthor: true) { [self] read, name in
                    writeArchived(context, id.rawValue, body, read, authorName: name)
                }
            }
            context.reply(result) { read in
                let change: ScorecardChange
                do {
                    change = try ScorecardChange(json: body.json, rubric: read.rubric)
                } catch {
                    return context.reply(error)
                }
                let wasSubmitted = Self.own(read)?["status"]?.stringValue == "submitted"
                scorecards.write(id.rawValue, change, token: token) { result in
                    context.reply(result) { card in
                        if change.submit && !wasSubmitted { self.submitted(id.rawValue, card) }
                        var out = Self.head(read.rubric)
                        out.set("scorecard", card)
                        context.reply(out)
                    }
                }
            }
        }
    }

    /// A scorecard was submitted (not amended): the `scorecard.submitted` webhook event (the
    /// recommendation, not the ratings or the text).
    private func submitted(_ session: String, _ card: JSON) {
        scorecards.sessions.webhooks?.emit("scorecard.submitted", [
            "session_id": .string(session), "author_id": card["author_id"] ?? .null, "author_name": card["author_name"] ?? .null,
            "recommendation": card["recommendation"] ?? .null, "submitted_at": card["submitted_at"] ?? .null,
        ])
    }

    func list(_ context: RequestContext, _ id: SessionID) {
        let answer: (Scorecards.Read) -> Void = { read in
            let view = ScorecardVisibility.view(read.cards, viewer: read.viewer)
            var out = Self.head(read.rubric)
            out.set("scorecards", .array(view.visible))
            out.set("submitted", .array(view.submitted))
            out.set("unlocked", .bool(view.unlocked))
            context.reply(out)
        }
        let done: (Result<Scorecards.Read, InterviewError>) -> Void = { [self] result in
            if case .failure(let error) = result, error.kind == .gone, records != nil {
                return archived(context, id.rawValue, gone: error, asAuthor: false) { read, _ in answer(read) }
            }
            context.reply(result, answer)
        }
        if let token = context.bearerToken, admin.matches(token) {
            scorecards.readAll(id.rawValue, done)
        } else {
            scorecards.read(id.rawValue, token: context.bearerToken, done)
        }
    }

    // MARK: After archival: the record in PostgreSQL

    /// The record's scorecards as the caller may use them, or the problem answered: the live
    /// route's 410 when there is no record (yet), 401/403 as live, 503 when PostgreSQL is away.
    /// `asAuthor`: the admin token (no scorecard of its own) is refused.
    private func archived(_ context: RequestContext, _ id: String, gone: InterviewError, asAuthor: Bool,
                          _ then: @escaping (Scorecards.Read, String) -> Void) {
        guard let records else { return context.reply(gone) }
        guard let token = context.bearerToken, !token.isEmpty else {
            return context.reply(InterviewError(.unauthorized, "\(Scorecards.purpose): send the host token or an interviewer's "
                                                + "participant token (Authorization: Bearer ...)"))
        }
        records.record(id, includeOps: false) { [self] result in
            let record: InterviewRecord
            switch result {
            case .failure(let error): return failed(context, error)
            case .success(nil): return context.reply(gone)
            case .success(let found?): record = found
            }
            let cards = (record.extras["scorecards"] ?? []).map(Scorecards.normalized)
            let rubric = Rubric.effective(question: record.question)
            if admin.matches(token) {
                guard !asAuthor else { return context.reply(Problem(403, "the admin token has no scorecard of its own; it reads them all "
                                                                    + "at GET /api/v1/sessions/\(id)/scorecards")) }
                return then(Scorecards.Read(rubric: rubric, cards: cards, viewer: nil), "")
            }
            let hash = Identifiers.tokenHash(token)
            if constantTimeEqual(hash, record.hostTokenHash) {
                return then(Scorecards.Read(rubric: rubric, cards: cards, viewer: "host"), "Host")
            }
            var found: InterviewRecord.Person?
            for person in record.participants {
                if let own = person.tokenHash, constantTimeEqual(hash, own) { found = person }
            }
            guard let person = found else { return context.reply(Problem(403, "this token does not belong to session \(id)")) }
            guard person.role == .interviewer else {
                return context.reply(Problem(403, "\(Scorecards.purpose); this token is a candidate's"))
            }
            then(Scorecards.Read(rubric: rubric, cards: cards, viewer: person.id), person.name)
        }
    }

    private func writeArchived(_ context: RequestContext, _ id: String, _ body: RequestBody, _ read: Scorecards.Read, authorName: String) {
        guard let records, let author = read.viewer else { return }
        let previous = Self.own(read)
        let change: ScorecardChange
        let card: JSON
        do {
            change = try ScorecardChange(json: body.json, rubric: read.rubric)
            card = try change.applied(to: previous, authorID: author, authorName: authorName, now: EventLoop.unixMillis())
        } catch {
            return context.reply(error)
        }
        records.writeScorecard(id, author: author, entry: card, previousUpdatedAt: previous?["updated_at"]?.intValue) { [self] result in
            switch result {
            case .failure(let error): failed(context, error)
            case .success(false):
                context.reply(Problem(409, "your scorecard changed meanwhile (another tab?); read it again (GET) and PUT again"))
            case .success(true):
                if change.submit && previous?["status"]?.stringValue != "submitted" { submitted(id, card) }
                var out = Self.head(read.rubric)
                out.set("scorecard", card)
                context.reply(out)
            }
        }
    }

    /// PostgreSQL away, slow or closing: 503 to retry; anything else a 500.
    private func failed(_ context: RequestContext, _ error: PostgresError) {
        switch error.kind {
        case .unavailable, .timeout, .closed:
            context.reply(Problem.unavailable("the interview archive is unreachable; retry shortly (\(error.message))"))
        case .server, .protocolError:
            context.reply(Problem(500, "the interview archive failed to answer"))
        }
    }
}
