import Interview
import Stores
import JSON
import Transport

/// Test runs (issue 15): the session's document against its question's tests.
///
///     POST /sessions/{id}/test-runs             run them, as one job (counts against `executions`)
///     GET  /sessions/{id}/test-runs             the session's newest runs
///     GET  /sessions/{id}/test-runs/{run_id}    one run, in the caller's view
final class TestRunController: Controller {
    private let executions: Executions
    /// Queues the jobs and owns the `limit` of a session's history.
    private let execution: ExecutionController

    init(executions: Executions, execution: ExecutionController) {
        self.executions = executions
        self.execution = execution
    }

    var routes: [Route] {
        [
            Route("sessions/{id}/test-runs",
                  .get(auth: .optionalToken, rate: .requests, listTestRuns),
                  .post(auth: .optionalToken, rate: .executions, body: .server, startTestRun)),
            Route("sessions/{id}/test-runs/{run_id}",
                  .get(auth: .optionalToken, rate: .requests, getTestRun)),
        ]
    }

    /// The fields of a test-run body, validated.
    private struct TestRunBody {
        var compare: OutputComparison
        var language: String?
        var limits: ExecutionLimits
    }

    private func testRunBody(_ context: RequestContext) throws -> TestRunBody {
        let body = try RequestBody(context.request)
        let fields = ["compare", "language", "limits"]
        if let unknown = body.json.objectValue?.first(where: { !fields.contains($0.key) }) {
            throw InterviewError.invalid(unknown.key, "\(unknown.key) is not a field of a test run; the fields are \(fields.joined(separator: ", "))")
        }
        var compare = OutputComparison.default
        if let text = try body.string("compare") {
            guard let value = OutputComparison(rawValue: text) else {
                let names = OutputComparison.allCases.map(\.rawValue).joined(separator: " or ")
                throw InterviewError.invalid("compare", "compare must be \(names), not '\(text)'")
            }
            compare = value
        }
        let language = try body.string("language").map { id throws(InterviewError) in try Sessions.validLanguage(id, field: "language") }
        return TestRunBody(compare: compare, language: language, limits: try executions.validLimits(body.json["limits"]))
    }

    /// POST /sessions/{id}/test-runs: runs the session's document against every test of its
    /// question, as one job; 202 with the run. Every member's WebSocket gets test-run-started,
    /// a test-case-result per case and the test-run-result (hidden cases cut down for candidates).
    func startTestRun(_ context: RequestContext, _ sessionID: SessionID) {
        let id = sessionID.rawValue
        let body: TestRunBody
        do {
            body = try testRunBody(context)
        } catch {
            return context.reply(error)
        }
        // The question comes with the session checks, from one script: the job copies the tests
        // the session had when the run was accepted.
        executions.sessionContext(id, tokenHash: executions.hashToken(context.bearerToken), withQuestion: true) { [self] result in
            context.reply(result) { session in
                let request: ExecutionRequest
                let spec: TestRunSpec
                do {
                    let question = try Executions.testRunQuestion(session.access.question)
                    spec = TestRunSpec(tests: question.tests, compare: body.compare)
                    request = ExecutionRequest(language: body.language ?? session.language, code: try executions.validCode(session.code),
                                               stdin: "", limits: body.limits, sessionID: id, userID: session.userID,
                                               userName: session.userName, testRun: spec)
                } catch {
                    return context.reply(error)
                }
                execution.queue(context, request) { job in
                    var headers = HTTPHeaders()
                    headers.add("Location", "/api/v1/sessions/\(id)/test-runs/\(job.id)")
                    context.reply(status: 202, TestRunJob(queued: job, spec: spec).json(forInterviewer: session.access.isInterviewer),
                          headers: headers)
                }
            }
        }
    }

    /// GET /sessions/{id}/test-runs/{run_id}: the run in the caller's view (interviewers: every
    /// case whole; anyone else: hidden cases by name and status only). While it runs, the cases
    /// finished so far.
    func getTestRun(_ context: RequestContext, _ sessionID: SessionID) {
        let id = sessionID.rawValue, runID = context.parameters[1]
        executions.sessionAccess(id, tokenHash: executions.hashToken(context.bearerToken), forReading: true) { [self] result in
            context.reply(result) { access in
                let missing = Problem(404, "no test run with id '\(runID)' in session \(id) (test runs are kept for a limited time)")
                guard Executions.isTestRunID(runID) else { return context.reply(missing) }
                executions.testRun(runID, sessionID: id) { result in
                    context.reply(result) { run in
                        guard let run else { return context.reply(missing) }
                        context.reply(run.json(forInterviewer: access.isInterviewer))
                    }
                }
            }
        }
    }

    /// GET /sessions/{id}/test-runs: the session's newest test runs, newest first; each case by
    /// name, status, time and memory only (the whole run: GET .../test-runs/{run_id}).
    func listTestRuns(_ context: RequestContext, _ sessionID: SessionID) {
        let id = sessionID.rawValue
        guard let limit = execution.historyLimit(context) else { return }
        executions.sessionAccess(id, tokenHash: executions.hashToken(context.bearerToken), forReading: true) { [self] result in
            context.reply(result) { _ in
                executions.testRuns(id, limit: limit) { result in
                    context.reply(result) { runs in
                        context.reply(["test_runs": .array(runs.map(\.summary)), "count": .integer(runs.count)])
                    }
                }
            }
        }
    }
}
