import Interview
import Stores
import JSON
import Transport

/// A session's participants.
///
///     GET    /sessions/{id}/users              the participants (also /participants)
///     POST   /sessions/{id}/users              join (counts against `joins`)
///     DELETE /sessions/{id}/users/{user_id}    remove one (the host token, or their own)
final class ParticipantController: Controller {
    private let sessions: Sessions

    init(sessions: Sessions) {
        self.sessions = sessions
    }

    var routes: [Route] {
        [
            Route("sessions/{id}/users",
                  .get(auth: .none, rate: .requests, listParticipants),
                  .post(auth: .optionalToken, rate: .joins, body: .server, join)),
            Route("sessions/{id}/participants",
                  .get(auth: .none, rate: .requests, listParticipants)),
            Route("sessions/{id}/users/{user_id}",
                  .delete(auth: .token, rate: .requests, removeParticipant)),
        ]
    }

    func join(_ context: RequestContext, _ id: SessionID) {
        let name: String
        let role: Role
        do {
            let body = try RequestBody(context.request)
            guard let given = try body.string("name") else { throw InterviewError.invalid("name", "name is required") }
            name = try Sessions.validName(given, field: "name")
            let roleText = try body.string("role") ?? "candidate"
            guard let parsed = Role(rawValue: roleText) else {
                throw InterviewError.invalid("role", "role must be 'interviewer' or 'candidate', not '\(roleText)'")
            }
            role = parsed
        } catch {
            return context.reply(error)
        }
        sessions.join(id.rawValue, name: name, role: role, token: context.bearerToken) { result in
            context.reply(result) { participant, token in
                context.reply(status: 201, ["participant": participant.json, "participant_token": .string(token)])
            }
        }
    }

    func listParticipants(_ context: RequestContext, _ id: SessionID) {
        sessions.session(id.rawValue) { result in
            context.reply(result) { session in
                context.reply(["participants": .array(session.participants.map(\.json)),
                               "count": .integer(session.participants.count),
                               "max_participants": .integer(session.maxParticipants)])
            }
        }
    }

    func removeParticipant(_ context: RequestContext, _ id: SessionID) {
        let user = context.parameters[1]
        guard Identifiers.isParticipantID(user) else {
            return context.reply(Problem(404, "no such participant '\(user)' in session \(id)"))
        }
        sessions.leave(id.rawValue, participant: user, token: context.bearerToken) { result in
            context.reply(result) { context.send(HTTPResponse(status: 204)) }
        }
    }
}
