import Interview
import Stores
import JSON
import Transport

extension Gateway {
    func routes() -> [Route] {
        [
            Route(pattern: ["health"], methods: [("GET", health)], atRoot: true),
            Route(pattern: ["openapi.json"], methods: [("GET", openAPI)], atRoot: true),
            Route(pattern: ["sessions"], methods: [("POST", createSession)]),
            Route(pattern: ["sessions", ":id"], methods: [("GET", getSession), ("PATCH", updateSession), ("DELETE", deleteSession)]),
            Route(pattern: ["sessions", ":id", "users"], methods: [("GET", listParticipants), ("POST", join)]),
            Route(pattern: ["sessions", ":id", "participants"], methods: [("GET", listParticipants)]),
            Route(pattern: ["sessions", ":id", "users", ":user_id"], methods: [("DELETE", removeParticipant)]),
            Route(pattern: ["sessions", ":id", "code"], methods: [("GET", getCode), ("POST", saveCode)]),
            Route(pattern: ["sessions", ":id", "history"], methods: [("GET", history)]),
            Route(pattern: ["languages"], methods: [("GET", languages)]),
            Route(pattern: ["languages", ":language", "template"], methods: [("GET", template)]),
        ] + playbackRoutes() + collaborationRoutes() + executionRoutes() + staticRoutes() + clusterRoutes() + metricsRoutes()
            + notesRoutes()
            + questionRoutes()
            + testRunRoutes()
    }

    // MARK: Sessions

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
            return reply(context, error)
        }
        sessions.create(draft) { [self] result in
            reply(context, result) { created in
                var body = created.session.json(joinURL: joinURL(context, created.session.id))
                body.set("host_token", .string(created.hostToken))
                if let creator = created.creator {
                    body.set("participant_token", .string(creator.token))
                    body.set("participant_id", .string(creator.participant.id))
                }
                var headers = HTTPHeaders()
                headers.add("Location", "/api/v1/sessions/\(created.session.id)")
                reply(context, status: 201, body, headers: headers)
            }
        }
    }

    func getSession(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
        sessions.session(id) { [self] result in
            reply(context, result) { reply(context, $0.json(joinURL: joinURL(context, $0.id))) }
        }
    }

    func updateSession(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
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
            return reply(context, error)
        }
        sessions.update(id, changes, token: bearerToken(context)) { [self] result in
            reply(context, result) { reply(context, $0.json(joinURL: joinURL(context, $0.id))) }
        }
    }

    func deleteSession(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
        sessions.delete(id, token: bearerToken(context)) { [self] result in
            reply(context, result) { send(context, HTTPResponse(status: 204)) }
        }
    }

    // MARK: Participants

    func join(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
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
            return reply(context, error)
        }
        sessions.join(id, name: name, role: role, token: bearerToken(context)) { [self] result in
            reply(context, result) { participant, token in
                reply(context, status: 201, ["participant": participant.json, "participant_token": .string(token)])
            }
        }
    }

    func listParticipants(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
        sessions.session(id) { [self] result in
            reply(context, result) { session in
                reply(context, ["participants": .array(session.participants.map(\.json)),
                                "count": .integer(session.participants.count),
                                "max_participants": .integer(session.maxParticipants)])
            }
        }
    }

    func removeParticipant(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
        let user = context.parameters[1]
        guard Identifiers.isParticipantID(user) else {
            return reply(context, Problem(404, "no such participant '\(user)' in session \(id)"))
        }
        sessions.leave(id, participant: user, token: bearerToken(context)) { [self] result in
            reply(context, result) { send(context, HTTPResponse(status: 204)) }
        }
    }

    // MARK: Code and history

    func getCode(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
        if context.request.queryItem("revision") != nil { return codeAtRevision(context, id) }
        sessions.session(id) { [self] result in
            reply(context, result) { session in
                reply(context, session.codeState.json)
            }
        }
    }

    func saveCode(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
        let code: String
        let language: String?
        do {
            let body = try RequestBody(context.request)
            guard let given = try body.string("code") else { throw InterviewError.invalid("code", "code is required") }
            code = try sessions.validCode(given, field: "code")
            language = try body.string("language").map { id throws(InterviewError) in try Sessions.validLanguage(id, field: "language") }
        } catch {
            return reply(context, error)
        }
        sessions.saveCode(id, code: code, language: language, token: bearerToken(context)) { [self] result in
            reply(context, result) { reply(context, $0.json) }
        }
    }

    func history(_ context: RequestContext) {
        guard let id = sessionID(context) else { return }
        var limit = sessions.settings.historyLimit
        if let text = context.request.queryItem("limit") {
            guard let value = Int(text), value >= 1 else {
                return reply(context, Problem(422, "limit must be a positive integer, not '\(text)'", field: "limit"))
            }
            limit = min(value, limit)
        }
        var since: Int?
        if let text = context.request.queryItem("since_revision") {
            guard let value = Int(text), value >= 0 else {
                return reply(context, Problem(422, "since_revision must be a non-negative integer, not '\(text)'", field: "since_revision"))
            }
            since = value
        }
        sessions.history(id, limit: limit) { [self] result in
            reply(context, result) { events in
                guard let since else { return reply(context, ["events": .array(events)]) }
                // The op log's part: what a REST client needs to catch up from `since`.
                sessions.frames(id, after: since) { [self] head, entries in
                    guard let head else { return reply(context, Problem.unavailable("the session store did not answer; retry shortly")) }
                    guard since <= head else {
                        return reply(context, Problem(422, "since_revision \(since) is from the future: the document is at revision \(head)", field: "since_revision"))
                    }
                    let ops = entries.map { entry -> JSON in
                        var data = entry.data
                        data.set("timestamp", .integer(Int(entry.timestamp)))
                        return data
                    }
                    reply(context, ["events": .array(events), "ops": .array(ops),
                                    "ops_complete": .bool(ops.count == head - since), "revision": .integer(head)])
                }
            }
        }
    }

    // MARK: Helpers

    /// The session id parameter, or a 404 already answered when it cannot be one.
    func sessionID(_ context: RequestContext) -> String? {
        let id = context.parameters[0]
        guard Identifiers.isSessionID(id) else {
            reply(context, Problem(404, "no session with id '\(id)'"))
            return nil
        }
        return id
    }

    func bearerToken(_ context: RequestContext) -> String? {
        guard let value = context.request.headers["Authorization"] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingWhitespace()
    }

    func joinURL(_ context: RequestContext, _ id: String) -> String {
        var base = configuration.publicURL
        if base.isEmpty {
            let host = context.request.headers["Host"] ?? "\(configuration.http.host):\(configuration.http.port)"
            base = "http://\(host)"
        }
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/s/\(id)"
    }

    func reply(_ context: RequestContext, _ error: any Error) {
        if let problem = error as? Problem { return reply(context, problem) }
        if let error = error as? InterviewError { return reply(context, Problem(error)) }
        reply(context, Problem(500, "\(error)"))
    }
}

/// A JSON request body: checks the media type, parses, and reads typed fields, naming the field
/// in every complaint.
struct RequestBody {
    let json: JSON

    init(_ request: HTTPRequest) throws(Problem) {
        if request.body.isEmpty {
            json = [:]
            return
        }
        let type = request.headers["Content-Type"]?.split(separator: ";").first?.trimmingWhitespace().lowercased() ?? ""
        guard type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json")) else {
            throw Problem(415, type.isEmpty ? "send the body as application/json (Content-Type is missing)"
                                            : "send the body as application/json, not \(type)")
        }
        do {
            json = try JSON.parse(request.body)
        } catch {
            throw Problem(400, "the body is not valid JSON: \(error)")
        }
        guard json.objectValue != nil else { throw Problem(400, "the body must be a JSON object, not \(json.typeName)") }
    }

    func string(_ key: String) throws(InterviewError) -> String? { try Self.string(json, key, path: key) }

    static func string(_ object: JSON, _ key: String, path: String) throws(InterviewError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw .invalid(path, "\(path) must be a string, not \(value.typeName)") }
        return text
    }

    func integer(_ key: String) throws(InterviewError) -> Int? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let number = value.intValue else { throw .invalid(key, "\(key) must be an integer, not \(value.typeName)") }
        return number
    }

    func object(_ key: String) throws(InterviewError) -> JSON? {
        guard let value = json[key], !value.isNull else { return nil }
        guard value.objectValue != nil else { throw .invalid(key, "\(key) must be an object, not \(value.typeName)") }
        return value
    }
}
