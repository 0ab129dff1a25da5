import Interview
import Stores
import JSON
import Transport

/// The room controls over REST (issue 22, part 2; the WebSocket's `control` message is
/// Client+Controls.swift). The host token or an interviewer's participant token only.
///
///     PATCH /sessions/{id}/controls   {editor_locked?, runs_held?, question_hidden?} (booleans), or
///                                     {end: true} (the interview ends: PATCH status completed's path)
///
/// Answers the whole state: the controls, `changed`, `status`. `GET /sessions/{id}` shows
/// `controls` too.
final class ControlsController: Controller {
    private let controls: RoomControlsStore

    init(controls: RoomControlsStore) {
        self.controls = controls
    }

    var routes: [Route] {
        [Route("sessions/{id}/controls",
               .patch(auth: .token, rate: .requests, body: .server, changeControls))]
    }

    func changeControls(_ context: RequestContext, _ id: SessionID) {
        let request: (changes: ControlChanges, end: Bool)
        do {
            request = try ControlChanges.parse(RequestBody(context.request).json)
        } catch {
            return context.reply(error)
        }
        if request.end {
            return controls.end(id.rawValue, token: context.bearerToken) { result in
                context.reply(result) { session in
                    var body = session.controls.json
                    body.set("changed", ["status"])
                    body.set("status", .string(session.status.rawValue))
                    context.reply(body)
                }
            }
        }
        controls.change(id.rawValue, request.changes, token: context.bearerToken) { result in
            context.reply(result) { outcome in
                var body = outcome.controls.json
                body.set("changed", .array(outcome.changed.map(JSON.string)))
                body.set("status", .string(SessionStatus.active.rawValue))
                body.set("updated_at", .integer(Int(outcome.updatedAt)))
                context.reply(body)
            }
        }
    }
}
