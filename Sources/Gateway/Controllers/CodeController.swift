import Interview
import Stores
import JSON
import Transport

/// A session's code and its history.
///
///     GET  /sessions/{id}/code       the document (with ?revision=N: as it was then, PlaybackController)
///     POST /sessions/{id}/code       replace it
///     GET  /sessions/{id}/history    the session's events (with ?since_revision=N: the ops after N)
final class CodeController: Controller {
    private let sessions: Sessions
    private let playback: PlaybackController

    init(sessions: Sessions, playback: PlaybackController) {
        self.sessions = sessions
        self.playback = playback
    }

    var routes: [Route] {
        [
            Route("sessions/{id}/code",
                  .get(auth: .optionalToken, rate: .requests, getCode),
                  .post(auth: .optionalToken, rate: .requests, body: .server, saveCode)),
            Route("sessions/{id}/history",
                  .get(auth: .none, rate: .requests, history)),
        ]
    }

    func getCode(_ context: RequestContext, _ id: SessionID) {
        if context.request.queryItem("revision") != nil { return playback.codeAtRevision(context, id) }
        sessions.session(id.rawValue) { result in
            context.reply(result) { session in
                context.reply(session.codeState.json)
            }
        }
    }

    func saveCode(_ context: RequestContext, _ id: SessionID) {
        let code: String
        let language: String?
        do {
            let body = try RequestBody(context.request)
            guard let given = try body.string("code") else { throw InterviewError.invalid("code", "code is required") }
            code = try sessions.validCode(given, field: "code")
            language = try body.string("language").map { id throws(InterviewError) in try Sessions.validLanguage(id, field: "language") }
        } catch {
            return context.reply(error)
        }
        sessions.saveCode(id.rawValue, code: code, language: language, token: context.bearerToken) { result in
            context.reply(result) { context.reply($0.json) }
        }
    }

    func history(_ context: RequestContext, _ session: SessionID) {
        let id = session.rawValue
        var limit = sessions.settings.historyLimit
        if let text = context.request.queryItem("limit") {
            guard let value = Int(text), value >= 1 else {
                return context.reply(Problem(422, "limit must be a positive integer, not '\(text)'", field: "limit"))
            }
            limit = min(value, limit)
        }
        var since: Int?
        if let text = context.request.queryItem("since_revision") {
            guard let value = Int(text), value >= 0 else {
                return context.reply(Problem(422, "since_revision must be a non-negative integer, not '\(text)'", field: "since_revision"))
            }
            since = value
        }
        sessions.history(id, limit: limit) { [sessions] result in
            context.reply(result) { events in
                guard let since else { return context.reply(["events": .array(events)]) }
                // The op log's part: what a REST client needs to catch up from `since`.
                sessions.frames(id, after: since) { head, entries in
                    guard let head else { return context.reply(Problem.unavailable("the session store did not answer; retry shortly")) }
                    guard since <= head else {
                        return context.reply(Problem(422, "since_revision \(since) is from the future: the document is at revision \(head)", field: "since_revision"))
                    }
                    let ops = entries.map { entry -> JSON in
                        var data = entry.data
                        data.set("timestamp", .integer(Int(entry.timestamp)))
                        return data
                    }
                    context.reply(["events": .array(events), "ops": .array(ops),
                                   "ops_complete": .bool(ops.count == head - since), "revision": .integer(head)])
                }
            }
        }
    }
}
