import Interview
import Stores
import JSON
import Transport

/// The interviewers' private notes over REST: GET and PUT /sessions/{id}/notes (the live editing
/// is the WebSocket's `notes-op`, Client.swift).
extension Gateway {
    func notesRoutes() -> [Route] {
        [Route(pattern: ["sessions", ":id", "notes"], methods: [("GET", getNotes), ("PUT", putNotes)])]
    }

    /// GET /sessions/{id}/notes: {text, revision, updated_at}, for interviewers.
    func getNotes(_ context: RequestContext) {
        let id = context.parameters[0]
        guard Identifiers.isSessionID(id) else { return reply(context, Problem(404, "no session with id '\(id)'")) }
        sessions.notes(id, token: bearerToken(context)) { [self] result in
            reply(context, result) { notes in reply(context, notes.json) }
        }
    }

    /// PUT /sessions/{id}/notes {text, revision?}: replaces them as one revision (409 when
    /// `revision` is not the current one), broadcast to the interviewers.
    func putNotes(_ context: RequestContext) {
        let id = context.parameters[0]
        guard Identifiers.isSessionID(id) else { return reply(context, Problem(404, "no session with id '\(id)'")) }
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
            return reply(context, error)
        }
        sessions.replaceNotes(id, text: text, revision: revision, token: bearerToken(context)) { [self] result in
            reply(context, result) { notes in reply(context, notes.json) }
        }
    }
}
