import Interview
import Stores
import JSON
import Transport

/// A session's question (`/sessions/{id}/question`: the host sets and clears it, interviewers read
/// every test, everybody else the visible ones) and the deployment's question library
/// (`/questions`: the admin token writes; it and the interviewers of the session named by
/// `?session_id=` read).
///
///     GET    /sessions/{id}/question       PUT (the host token)     DELETE (the host token)
///     GET    /questions                    POST (the admin token)
///     GET    /questions/{question_id}      PUT, DELETE (the admin token)
final class QuestionController: Controller {
    private let questions: Questions
    private let admin: AdminToken

    init(questions: Questions, admin: AdminToken) {
        self.questions = questions
        self.admin = admin
    }

    var routes: [Route] {
        let libraryWrites = Authentication.admin("changes to the question library")
        return [
            Route("sessions/{id}/question",
                  .get(auth: .optionalToken, rate: .requests, getQuestion),
                  .put(auth: .token, rate: .requests, body: .server, setQuestion),
                  .delete(auth: .token, rate: .requests, clearQuestion)),
            Route("questions",
                  .get(auth: .token, rate: .requests, listLibrary),
                  .post(auth: libraryWrites, rate: .requests, body: .server, addToLibrary)),
            Route("questions/{question_id}",
                  .get(auth: .token, rate: .requests, getLibraryQuestion),
                  .put(auth: libraryWrites, rate: .requests, body: .server, replaceLibraryQuestion),
                  .delete(auth: libraryWrites, rate: .requests, deleteLibraryQuestion)),
        ]
    }

    // MARK: A session's question

    func getQuestion(_ context: RequestContext, _ id: SessionID) {
        questions.read(id.rawValue, token: context.bearerToken) { result in
            context.reply(result) { reader, question in
                guard let question else {
                    return context.reply(Problem(404, "session \(id) has no question; its host sets one with PUT /api/v1/sessions/\(id)/question"))
                }
                context.reply(question.json(forInterviewer: reader == .interviewer))
            }
        }
    }

    /// PUT /sessions/{id}/question: a question, or `{"from": question id}` (a copy of the
    /// library's); `load_starter_code` (default true) makes the starter code of the session's
    /// language the document.
    func setQuestion(_ context: RequestContext, _ id: SessionID) {
        let source: QuestionSource
        var loadStarterCode = true
        do {
            let body = try RequestBody(context.request)
            if let flag = body.json["load_starter_code"], !flag.isNull {
                guard let value = flag.boolValue else {
                    throw InterviewError.invalid("load_starter_code", "load_starter_code must be a boolean, not \(flag.typeName)")
                }
                loadStarterCode = value
            }
            if let from = body.json["from"], !from.isNull {
                guard let questionID = from.stringValue else {
                    throw InterviewError.invalid("from", "from must be the id of a library question (a string), not \(from.typeName)")
                }
                let given = ["title", "prompt", "starter_code", "tests"].filter { body.json[$0] != nil }
                guard given.isEmpty else {
                    throw InterviewError.invalid("from", "send either a question or from, not both (this body also has \(given.joined(separator: ", ")))")
                }
                source = .library(questionID)
            } else {
                source = .given(try Question(json: body.json))
            }
        } catch {
            return context.reply(error)
        }
        questions.set(id.rawValue, source, loadStarterCode: loadStarterCode, token: context.bearerToken) { result in
            context.reply(result) { question, codeRevision in
                var body = question.json(forInterviewer: true)
                if let codeRevision { body.set("code_revision", .integer(codeRevision)) }
                context.reply(body)
            }
        }
    }

    func clearQuestion(_ context: RequestContext, _ id: SessionID) {
        questions.clear(id.rawValue, token: context.bearerToken) { result in
            context.reply(result) { context.send(HTTPResponse(status: 204)) }
        }
    }

    // MARK: The library

    func listLibrary(_ context: RequestContext) {
        guard let limit = context.integerQuery("limit", default: 50, range: 1...100) else { return }
        readLibrary(context) { [self] in
            questions.list(limit: limit, cursor: context.request.queryItem("cursor")) { result in
                context.reply(result) { page in
                    context.reply(["questions": .array(page.questions), "next_cursor": page.nextCursor.map(JSON.string) ?? .null])
                }
            }
        }
    }

    func getLibraryQuestion(_ context: RequestContext) {
        readLibrary(context) { [self] in
            questions.question(context.parameters[0]) { result in
                context.reply(result) { context.reply($0.json) }
            }
        }
    }

    func addToLibrary(_ context: RequestContext) {
        guard let question = libraryBody(context) else { return }
        questions.create(question) { result in
            context.reply(result) { created in
                var headers = HTTPHeaders()
                headers.add("Location", "/api/v1/questions/\(created.id)")
                context.reply(status: 201, created.json, headers: headers)
            }
        }
    }

    func replaceLibraryQuestion(_ context: RequestContext) {
        guard let question = libraryBody(context) else { return }
        questions.replace(context.parameters[0], with: question) { result in
            context.reply(result) { context.reply($0.json) }
        }
    }

    func deleteLibraryQuestion(_ context: RequestContext) {
        questions.delete(context.parameters[0]) { result in
            context.reply(result) { context.send(HTTPResponse(status: 204)) }
        }
    }

    /// The question in a library write's body, or nil with the problem answered.
    private func libraryBody(_ context: RequestContext) -> Question? {
        do {
            return try Question(json: try RequestBody(context.request).json)
        } catch {
            context.reply(error)
            return nil
        }
    }

    /// Runs `read` when the caller may read the library: the admin token, or the host token or
    /// an interviewer's participant token of the session named by `?session_id=`. Otherwise
    /// answers 401 (no token), 403 (any other token) or the session's 404/410 itself.
    private func readLibrary(_ context: RequestContext, _ read: @escaping () -> Void) {
        let how = "the admin token, or the host token or an interviewer's participant token of the session named by ?session_id="
        guard let token = context.bearerToken, !token.isEmpty else {
            var problem = Problem(401, "reading the question library needs \(how) (Authorization: Bearer ...)")
            problem.headers.add("WWW-Authenticate", "Bearer")
            return context.reply(problem)
        }
        if admin.matches(token) { return read() }
        guard let session = context.request.queryItem("session_id") else {
            return context.reply(Problem(403, "this token is not the admin token; a session's host or interviewers read the "
                                          + "question library with ?session_id=<their session>"))
        }
        guard Identifiers.isSessionID(session) else {
            return context.reply(Problem(422, "session_id must be a session id (22 URL-safe characters), not '\(session.prefix(64))'",
                                          field: "session_id"))
        }
        questions.read(session, token: token, withQuestion: false) { result in
            context.reply(result) { reader, _ in
                switch reader {
                case .interviewer: read()
                case .candidate: context.reply(Problem(403, "the question library is for interviewers; this token is a candidate's in session \(session)"))
                case .stranger: context.reply(Problem(403, "this token does not belong to session \(session)"))
                }
            }
        }
    }
}
