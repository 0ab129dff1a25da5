import Interview
import Stores
import JSON
import Transport

/// The interviewers' private notes over REST (the live editing is the WebSocket's `notes-op`,
/// Client.swift).
///
///     GET /sessions/{id}/notes    {text, revision, updated_at}, for interviewers
///     PUT /sessions/{id}/notes    {text, revision?}: replaces them as one revision
final class NotesController: Controller {
    private let sessions: Sessions

    init(sessions: Sessions) {
        self.sessions = sessions
    }

    var routes: [Route] {
        [Route("sessions/{id}/notes",
               .get(auth: .token, rate: .requests, getNotes),
               .put(auth: .token, rate: .requests, body: .server, putNotes))]
    }

    func getNotes(_ context: RequestContext, _ id: SessionID) {
        sessions.notes(id.rawValue, token: context.bearerToken) { result in
            context.reply(result) { notes in context.reply(notes.json) }
        }
    }

    /// 409 when `revision` is not the current one; broadcast to the interviewers.
    func putNotes(_ context: RequestContext, _ id: SessionID) {
        let text: String
        let revision: Int?
        do {
            let body = try RequestBody(context.request)
            guard let given = try body.string("text") else {
                throw InterviewError.invalid("text", "text is required: the whole notes, a string (\"\" to clear them)")
            }
            text = try sessions.validNotes(given, field: "text")
            revision = try body.integer("revision")
            if let revision, revision < 0 { throw InterviewError.invalid("revision", "revision must be a non-negative integer") }
        } catch {
            return context.reply(error)
        }
        sessions.replaceNotes(id.rawValue, text: text, revision: revision, token: context.bearerToken) { result in
            context.reply(result) { notes in context.reply(notes.json) }
        }
    }
}
