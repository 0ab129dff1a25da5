import Interview
import Stores
import JSON

/// The WebSocket's `control` message (issue 22, part 2): an interviewer changes the room controls
/// (`{editor_locked?, runs_held?, question_hidden?}`) or ends the interview (`{end: true}`), as
/// PATCH /sessions/{id}/controls does. The connection presents the token it joined with; the
/// script decides (a candidate's gets `error` forbidden). Everyone hears the result as a
/// `session-controls` frame (or `session-ended`); the sender also gets `control-result`.
extension Client {
    func control(_ data: JSON, request: String) {
        let parsed: (changes: ControlChanges, end: Bool)
        do {
            parsed = try ControlChanges.parse(data, extraAllowed: ["request_id"])
        } catch {
            return sendError(error, about: request)
        }
        let store = RoomControlsStore(sessions: collaboration.sessions)
        let requestID = data["request_id"]
        if parsed.end {
            return store.end(sessionID, presentedTokenHash: tokenHash) { [weak self] result in
                guard let self else { return }
                switch result {
                case .failure(let error): self.sendError(error, about: request)
                case .success(let session):
                    var out = session.controls.json
                    out.set("status", .string(session.status.rawValue))
                    out.set("changed", ["status"])
                    if let requestID { out.set("request_id", requestID) }
                    self.send(type: "control-result", out)
                }
            }
        }
        store.change(sessionID, parsed.changes, presentedTokenHash: tokenHash) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.sendError(error, about: request)
            case .success(let outcome):
                var out = outcome.controls.json
                out.set("status", .string(SessionStatus.active.rawValue))
                out.set("changed", .array(outcome.changed.map(JSON.string)))
                if let requestID { out.set("request_id", requestID) }
                self.send(type: "control-result", out)
            }
        }
    }
}
