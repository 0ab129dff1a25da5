import Interview
import JSON
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
final class ScorecardController: Controller {
    private let scorecards: Scorecards
    private let admin: AdminToken

    init(scorecards: Scorecards, admin: AdminToken) {
        self.scorecards = scorecards
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

    func getMine(_ context: RequestContext, _ id: SessionID) {
        scorecards.read(id.rawValue, token: context.bearerToken) { result in
            context.reply(result) { read in
                var out = Self.head(read.rubric)
                out.set("scorecard", read.cards.first { $0["author_id"]?.stringValue == read.viewer } ?? .null)
                context.reply(out)
            }
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
        scorecards.read(id.rawValue, token: token) { [scorecards] result in
            context.reply(result) { read in
                let change: ScorecardChange
                do {
                    change = try ScorecardChange(json: body.json, rubric: read.rubric)
                } catch {
                    return context.reply(error)
                }
                let wasSubmitted = read.cards.first { $0["author_id"]?.stringValue == read.viewer }?["status"]?.stringValue == "submitted"
                scorecards.write(id.rawValue, change, token: token) { result in
                    context.reply(result) { card in
                        if change.submit && !wasSubmitted {
                            // WEBHOOK(scorecard.submitted): the lead wires this to the webhooks outbox at merge, e.g.
                            // outbox.emit("scorecard.submitted", ["session_id": id.rawValue, "author_id": card["author_id"]]).
                            _ = card
                        }
                        var out = Self.head(read.rubric)
                        out.set("scorecard", card)
                        context.reply(out)
                    }
                }
            }
        }
    }

    func list(_ context: RequestContext, _ id: SessionID) {
        let answer: (Result<Scorecards.Read, InterviewError>) -> Void = { result in
            context.reply(result) { read in
                let view = ScorecardVisibility.view(read.cards, viewer: read.viewer)
                var out = Self.head(read.rubric)
                out.set("scorecards", .array(view.visible))
                out.set("submitted", .array(view.submitted))
                out.set("unlocked", .bool(view.unlocked))
                context.reply(out)
            }
        }
        if let token = context.bearerToken, admin.matches(token) {
            scorecards.readAll(id.rawValue, answer)
        } else {
            scorecards.read(id.rawValue, token: context.bearerToken, answer)
        }
    }
}
