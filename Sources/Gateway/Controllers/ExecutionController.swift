import Interview
import Stores
import JSON
import Transport

/// Running code (issue 4).
///
///     POST /execute                     run code outside any session (counts against `executions`)
///     POST /sessions/{id}/execute       run it for a session (also against `session-executions`)
///     GET  /sessions/{id}/executions    the session's newest executions
///     GET  /executions/{job_id}         one job, with its result once there is one
final class ExecutionController: Controller {
    private unowned let gateway: Gateway
    let executions: Executions
    private let sessions: Sessions

    init(gateway: Gateway, executions: Executions, sessions: Sessions) {
        self.gateway = gateway
        self.executions = executions
        self.sessions = sessions
    }

    var routes: [Route] {
        [
            Route("execute", .post(auth: .none, rate: .executions, body: .server, execute)),
            Route("sessions/{id}/execute", .post(auth: .optionalToken, rate: .executions, body: .server, executeInSession)),
            Route("sessions/{id}/executions", .get(auth: .none, rate: .requests, sessionExecutions)),
            Route("executions/{job_id}", .get(auth: .none, rate: .requests, getExecution)),
        ]
    }
    /// The fields of an execute body, validated; code and language may be left to the session.
    private struct ExecuteBody {
        var code: String?
        var language: String?
        var stdin: String
        var limits: ExecutionLimits
        var wait: Bool
        var interactive = false
        var repl = false
    }

    private func executeBody(_ context: RequestContext) throws -> ExecuteBody {
        let body = try RequestBody(context.request)
        let code = try body.string("code").map { code throws(InterviewError) in try executions.validCode(code) }
        let language = try body.string("language").map { id throws(InterviewError) in try Sessions.validLanguage(id, field: "language") }
        let stdin = try executions.validStdin(try body.string("stdin") ?? "")
        let limits = try executions.validLimits(body.json["limits"])
        var wait = true
        if let value = body.json["wait"], !value.isNull {
            guard let flag = value.boolValue else { throw InterviewError.invalid("wait", "wait must be a boolean, not \(value.typeName)") }
            wait = flag
        }
        var interactive = false
        if let value = body.json["interactive"], !value.isNull {
            guard let flag = value.boolValue else { throw InterviewError.invalid("interactive", "interactive must be a boolean, not \(value.typeName)") }
            interactive = flag
        }
        var repl = false
        if let value = body.json["mode"], !value.isNull {
            guard let mode = value.stringValue, mode == "program" || mode == "repl" else {
                throw InterviewError.invalid("mode", "mode is \"program\" (the default) or \"repl\" (the language's interactive prompt, the code loaded first)")
            }
            repl = mode == "repl"
            if repl && !interactive { throw InterviewError.invalid("mode", "a REPL is interactive: send \"interactive\": true with \"mode\": \"repl\"") }
        }
        if interactive && !stdin.isEmpty {
            throw InterviewError.invalid("stdin", "an interactive run reads what the room types, not stdin; leave stdin out")
        }
        return ExecuteBody(code: code, language: language, stdin: stdin, limits: limits, wait: wait, interactive: interactive, repl: repl)
    }

    /// POST /execute: runs code outside any session.
    func execute(_ context: RequestContext) {
        let body: ExecuteBody
        do {
            body = try executeBody(context)
            guard body.code != nil else { throw InterviewError.invalid("code", "code is required") }
            guard body.language != nil else { throw InterviewError.invalid("language", "language is required; one of \(Language.ids.joined(separator: ", "))") }
            guard !body.interactive else {
                throw InterviewError.invalid("interactive", "an interactive run belongs to a session: POST /api/v1/sessions/{id}/execute")
            }
        } catch {
            return context.reply(error)
        }
        submit(context, ExecutionRequest(language: body.language!, code: body.code!, stdin: body.stdin, limits: body.limits), wait: body.wait)
    }

    /// POST /sessions/{id}/execute: runs code (by default the session's document) for the whole
    /// session: every member's WebSocket gets execution-started, -output and -result.
    func executeInSession(_ context: RequestContext, _ sessionID: SessionID) {
        let id = sessionID.rawValue
        let body: ExecuteBody
        do {
            body = try executeBody(context)
        } catch {
            return context.reply(error)
        }
        executions.sessionContext(id, tokenHash: executions.hashToken(context.bearerToken)) { [self] result in
            context.reply(result) { session in
                let code: String
                do {
                    code = try executions.validCode(body.code ?? session.code)
                } catch {
                    return context.reply(error)
                }
                var request = ExecutionRequest(language: body.language ?? session.language, code: code, stdin: body.stdin,
                                               limits: body.limits, sessionID: id, userID: session.userID, userName: session.userName)
                guard body.interactive else { return submit(context, request, wait: body.wait) }
                // An interactive run is first the session's one terminal (409 when it has one),
                // then a job; it waits on the room's typing, so the answer is 202 at once.
                request.interactive = true
                request.repl = body.repl
                guard !body.repl || ["python", "javascript", "ruby"].contains(request.language) else {
                    return context.reply(Problem(422, "a REPL is offered for python, javascript and ruby, not \(request.language)", field: "mode"))
                }
                let jobID = Executions.jobID()
                request.jobID = jobID
                let terminals = Terminals(redis: executions.redis)
                terminals.open(sessionID: id, job: jobID, user: session.userID ?? "") { [self] result in
                    switch result {
                    case .success:
                        queue(context, request, refused: { terminals.renew(sessionID: id, job: jobID, ending: true) { _ in } }) { job in
                            self.replyJob(context, job)
                        }
                    case .failure(.busy(let other)):
                        context.reply(Problem(409, "the session has a live interactive run already (\(other)); wait for it to end (or send run-signal interrupt) before starting another"))
                    case .failure(let error):
                        context.reply(Problem(503, "the session's terminal could not be opened right now (\(error)); retry"))
                    }
                }
            }
        }
    }

    /// Checks that a live runner offers the language, queues the job, then answers or waits.
    private func submit(_ context: RequestContext, _ request: ExecutionRequest, wait: Bool) {
        queue(context, request) { [self] job in
            if wait && executions.settings.waitMillis > 0 {
                JobWaiter(gateway: gateway, controller: self, context: context, job: job).start()
            } else {
                replyJob(context, job)
            }
        }
    }

    /// Queues a job when a live runner offers its language and the queue has room; otherwise
    /// answers 503 (with Retry-After) itself. `queued` gets the queued job.
    func queue(_ context: RequestContext, _ request: ExecutionRequest, refused: (() -> Void)? = nil, _ queued: @escaping (ExecutionJob) -> Void) {
        sessions.availableLanguages { [self] result in
            context.reply(result) { available in
                guard available.contains(request.language) else {
                    refused?()
                    var problem = Problem(503, "no live runner offers \(request.language) right now"
                                          + (available.isEmpty ? "; no runner is running" : "; available: \(available.sorted().joined(separator: ", "))"))
                    problem.headers.add("Retry-After", "5")
                    return context.reply(problem)
                }
                executions.submit(request) { result in
                    switch result {
                    case .success(let job):
                        queued(job)
                    case .failure(.busy(let depth)):
                        refused?()
                        var problem = Problem(503, "the execution queue is full (\(depth) jobs waiting); retry shortly")
                        problem.headers.add("Retry-After", "2")
                        context.reply(problem)
                    case .failure(.failed(let error)):
                        refused?()
                        context.reply(Problem(error))
                    }
                }
            }
        }
    }

    /// 200 with a finished job, 202 (and its Location) with one still queued or running.
    func replyJob(_ context: RequestContext, _ job: ExecutionJob) {
        var headers = HTTPHeaders()
        if job.state != .done { headers.add("Location", "/api/v1/executions/\(job.id)") }
        context.reply(status: job.state == .done ? 200 : 202, job.json, headers: headers)
    }

    /// GET /executions/{job_id}: the job, with its result once there is one.
    func getExecution(_ context: RequestContext) {
        let id = context.parameters[0]
        guard Executions.isJobID(id) else { return context.reply(Problem(404, "no execution with id '\(id)'")) }
        executions.job(id) { result in
            context.reply(result) { job in
                guard let job else { return context.reply(Problem(404, "no execution with id '\(id)' (results are kept for a limited time)")) }
                context.reply(job.json)
            }
        }
    }

    /// The `limit` query parameter of a session's history (at most the configured cap), or nil
    /// with a 422 already answered.
    func historyLimit(_ context: RequestContext) -> Int? {
        let limit = executions.settings.sessionHistoryLimit
        guard let text = context.request.queryItem("limit") else { return limit }
        guard let value = Int(text), value >= 1 else {
            context.reply(Problem(422, "limit must be a positive integer, not '\(text)'", field: "limit"))
            return nil
        }
        return min(value, limit)
    }

    /// GET /sessions/{id}/executions: the session's newest executions, newest first, without output.
    func sessionExecutions(_ context: RequestContext, _ sessionID: SessionID) {
        let id = sessionID.rawValue
        guard let limit = historyLimit(context) else { return }
        executions.sessionAccess(id, tokenHash: "", forReading: true) { [self] result in
            context.reply(result) { _ in
                executions.sessionJobs(id, limit: limit) { result in
                    context.reply(result) { jobs in
                        context.reply(["executions": .array(jobs.map(\.summary)), "count": .integer(jobs.count)])
                    }
                }
            }
        }
    }

}

/// Waits for one job's result, up to the configured bound: listens on the job's done channel
/// (then reads the job once, which closes the race with a result written before the listen), and
/// polls when the subscriber is not connected. Answers 200 with the result, or 202 with the job
/// when the bound passes or the gateway stops.
final class JobWaiter {
    private unowned let gateway: Gateway
    private let controller: ExecutionController
    private let context: RequestContext
    private var job: ExecutionJob
    private let channel: String
    private var listenerID: Int?
    private var timer: LoopTimer?
    private var polling = false
    private var reading = false
    private var answered = false
    private let deadline: UInt64

    init(gateway: Gateway, controller: ExecutionController, context: RequestContext, job: ExecutionJob) {
        self.gateway = gateway
        self.controller = controller
        self.context = context
        self.job = job
        channel = ExecutionKeys.done(job.id)
        deadline = gateway.loop.now + UInt64(gateway.executions.settings.waitMillis)
    }

    func start() {
        // The timer keeps this waiter alive until `answer` closes it; unref'd, so a stopping
        // gateway's loop does not stay up for it.
        let timer = LoopTimer(loop: gateway.loop)
        self.timer = timer
        timer.unref()
        timer.start(after: 250, repeat: 250) { [self] in tick() }
        listenerID = gateway.subscriber.listen(channel, ready: { [weak self] ok in
            guard let self else { return }
            if !ok { self.polling = true }
            self.check()
        }) { [weak self] _ in
            self?.check()
        }
    }

    private func tick() {
        if answered { return }
        if gateway.stopping || gateway.loop.now >= deadline || !context.responder.isConnected {
            return answer(job)
        }
        if polling || !gateway.subscriber.isConnected { check() }
    }

    private func check() {
        guard !answered, !reading else { return }
        reading = true
        gateway.executions.job(job.id) { [self] result in
            reading = false
            guard !answered else { return }
            if case .success(let found?) = result {
                job = found
                if found.state == .done { answer(found) }
            }
        }
    }

    private func answer(_ job: ExecutionJob) {
        guard !answered else { return }
        answered = true
        if let listenerID { gateway.subscriber.unlisten(channel, listenerID) }
        listenerID = nil
        timer?.close()
        timer = nil
        if context.responder.isConnected { controller.replyJob(context, job) }
    }
}
