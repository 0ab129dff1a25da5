import Interview
import Stores
import JSON
import Transport

/// Session playback, for the session's interviewers.
///
///     GET /sessions/{id}/timeline?after_revision=N&limit=M[&document=notes]
///     GET /sessions/{id}/code?revision=N     (CodeController hands that form over here)
final class PlaybackController: Controller {
    private let playback: Playback

    init(playback: Playback) {
        self.playback = playback
    }

    var routes: [Route] {
        [Route("sessions/{id}/timeline", .get(auth: .token, rate: .requests, timeline))]
    }

    func timeline(_ context: RequestContext, _ id: SessionID) {
        guard let after = context.integerQuery("after_revision", default: 0, range: 0...Int.max),
              let limit = context.integerQuery("limit", default: Timeline.defaultLimit, range: 1...Timeline.maximumLimit) else { return }
        let name = context.request.queryItem("document") ?? Document.code.rawValue
        guard let document = Document(rawValue: name) else {
            return context.reply(Problem(422, "document must be 'code' or 'notes', not '\(name)'", field: "document"))
        }
        playback.timeline(id.rawValue, token: context.bearerToken, document: document, after: after, limit: limit) { result in
            context.reply(result) { page in context.reply(page) }
        }
    }

    /// GET /sessions/{id}/code?revision=N
    func codeAtRevision(_ context: RequestContext, _ id: SessionID) {
        guard let revision = context.integerQuery("revision", default: 0, range: 0...Int.max) else { return }
        playback.code(id.rawValue, token: context.bearerToken, revision: revision) { result in
            context.reply(result) { code in context.reply(code) }
        }
    }
}
