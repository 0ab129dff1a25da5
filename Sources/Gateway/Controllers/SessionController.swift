import Interview
import Stores
import JSON
import Transport

/// Sessions: create, read, change, end.
///
///     POST   /sessions          create (counts against `sessions`)
///     GET    /sessions/{id}     the session
///     PATCH  /sessions/{id}     code, language, status, name (the host token for status and name)
///     DELETE /sessions/{id}     end it (the host token)
final class SessionController: Controller {
    private let sessions: Sessions
    private let links: JoinLinks
    /// Whether this gateway reads the interview archive: a gone session then points to its record.
    private let archive: Bool

    init(sessions: Sessions, links: JoinLinks, archive: Bool = false) {
        self.sessions = sessions
        self.links = links
        self.archive = archive
    }

    var routes: [Route] {
        [
            Route("sessions",
                  .post(auth: .none, rate: .sessions, body: .server, createSession)),
            Route("sessions/{id}",
                  .get(auth: .none, rate: .requests, getSession),
                  .patch(auth: .optionalToken, rate: .requests, body: .server, updateSession),
                  .delete(auth: .token, rate: .requests, deleteSession)),
        ]
    }

    func createSession(_ context: RequestContext) {
        let draft: SessionDraft
        do {
            let body = try RequestBody(context.request)
            // Three shapes from earlier clients: {creator:{name}, code, language},
            // {host_name, session_name, initial_language, max_participants}, or {}.
            let creator = try body.object("creator")
            var creatorName = try creator.map { try RequestBody.string($0, "name", path: "creator.name") } ?? nil
            if creatorName == nil { creatorName = try body.string("host_name") }
            if let name = creatorName { creatorName = try Sessions.validName(name, field: creator != nil ? "creator.name" : "host_name") }
            var name = try body.string("session_name") ?? body.string("name")
            if let given = name { name = try Sessions.validName(given, field: "session_name") }
            let languageField = try body.string("language") != nil ? "language" : "initial_language"
            let language = try Sessions.validLanguage(try body.string(languageField) ?? "python", field: languageField)
            let code = try body.string("code").map { code throws(InterviewError) in try sessions.validCode(code, field: "code") }
            let settings = sessions.settings
            let max = try body.integer("max_participants") ?? settings.defaultMaxParticipants
            guard (1...settings.maxParticipantsLimit).contains(max) else {
                throw InterviewError.invalid("max_participants", "max_participants must be between 1 and \(settings.maxParticipantsLimit)")
            }
            draft = SessionDraft(name: name, code: code, language: language, maxParticipants: max, creatorName: creatorName)
        } catch {
            return context.reply(error)
        }
        sessions.create(draft) { [links] result in
            context.reply(result) { created in
                var body = created.session.json(joinURL: links.joinURL(context, created.session.id))
                body.set("host_token", .string(created.hostToken))
                if let creator = created.creator {
                    body.set("participant_token", .string(creator.token))
                    body.set("participant_id", .string(creator.participant.id))
                }
                var headers = HTTPHeaders()
                headers.add("Location", "/api/v1/sessions/\(created.session.id)")
                context.reply(status: 201, body, headers: headers)
            }
        }
    }

    func getSession(_ context: RequestContext, _ id: SessionID) {
        sessions.session(id.rawValue) { [links, archive] result in
            if archive, case .failure(let error) = result, error.kind == .gone {
                // The room is closed; its record is (or soon will be) in the archive.
                let path = "/api/v1/interviews/\(id.rawValue)"
                var problem = Problem(error)
                problem.headers.add("Link", "<\(path)>; rel=\"archive\"")
                problem.members.append((key: "archive", value: .string(path)))
                return context.reply(problem)
            }
            context.reply(result) { context.reply($0.json(joinURL: links.joinURL(context, $0.id))) }
        }
    }

    func updateSession(_ context: RequestContext, _ id: SessionID) {
        var changes = SessionChanges()
        do {
            let body = try RequestBody(context.request)
            changes.code = try body.string("code").map { code throws(InterviewError) in try sessions.validCode(code, field: "code") }
            changes.language = try body.string("language").map { id throws(InterviewError) in try Sessions.validLanguage(id, field: "language") }
            if let status = try body.string("status") {
                guard let parsed = SessionStatus(rawValue: status) else {
                    throw InterviewError.invalid("status", "status must be 'active' or 'completed', not '\(status)'")
                }
                changes.status = parsed
            }
            changes.name = try body.string("name").map { name throws(InterviewError) in try Sessions.validName(name, field: "name") }
        } catch {
            return context.reply(error)
        }
        sessions.update(id.rawValue, changes, token: context.bearerToken) { [links] result in
            context.reply(result) { context.reply($0.json(joinURL: links.joinURL(context, $0.id))) }
        }
    }

    func deleteSession(_ context: RequestContext, _ id: SessionID) {
        sessions.delete(id.rawValue, token: context.bearerToken) { result in
            context.reply(result) { context.send(HTTPResponse(status: 204)) }
        }
    }
}

/// A session's shareable link (`join_url`): --public-url, or the Host the request came to.
struct JoinLinks {
    let publicURL: String
    /// host:port of this gateway, for a request without a Host header.
    let listening: String

    init(_ configuration: GatewayConfiguration) {
        publicURL = configuration.publicURL
        listening = "\(configuration.http.host):\(configuration.http.port)"
    }

    func joinURL(_ context: RequestContext, _ id: String) -> String {
        var base = publicURL
        if base.isEmpty {
            let host = context.request.headers["Host"] ?? listening
            base = "http://\(host)"
        }
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/s/\(id)"
    }
}
