import Interview
import Stores
import JSON
import Transport

/// Session playback, for the session's interviewers: GET /sessions/{id}/timeline (the code's, or
/// with ?document=notes the notes'), and
/// GET /sessions/{id}/code?revision=N (SessionRoutes' getCode hands that form over here).
extension Gateway {
    func playbackRoutes() -> [Route] {
        [Route(pattern: ["sessions", ":id", "timeline"], methods: [("GET", timeline)])]
    }

    /// GET /sessions/{id}/timeline?after_revision=N&limit=M[&document=notes]
    func timeline(_ context: RequestContext) {
        let id = context.parameters[0]
        guard Identifiers.isSessionID(id) else { return reply(context, Problem(404, "no session with id '\(id)'")) }
        guard let after = integerQuery(context, "after_revision", default: 0, range: 0...Int.max),
              let limit = integerQuery(context, "limit", default: Timeline.defaultLimit, range: 1...Timeline.maximumLimit) else { return }
        let name = context.request.queryItem("document") ?? Document.code.rawValue
        guard let document = Document(rawValue: name) else {
            return reply(context, Problem(422, "document must be 'code' or 'notes', not '\(name)'", field: "document"))
        }
        playback.timeline(id, token: bearerToken(context), document: document, after: after, limit: limit) { [self] result in
            reply(context, result) { page in reply(context, page) }
        }
    }

    /// GET /sessions/{id}/code?revision=N
    func codeAtRevision(_ context: RequestContext, _ id: String) {
        guard let revision = integerQuery(context, "revision", default: 0, range: 0...Int.max) else { return }
        playback.code(id, token: bearerToken(context), revision: revision) { [self] result in
            reply(context, result) { code in reply(context, code) }
        }
    }

    /// A query parameter that must be an integer in `range` (422 naming it otherwise).
    func integerQuery(_ context: RequestContext, _ name: String, default fallback: Int, range: ClosedRange<Int>) -> Int? {
        guard let text = context.request.queryItem(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            let bounds = range.upperBound == Int.max ? "a non-negative integer" : "an integer from \(range.lowerBound) to \(range.upperBound)"
            reply(context, Problem(422, "\(name) must be \(bounds), not '\(text)'", field: name))
            return nil
        }
        return value
    }
}
