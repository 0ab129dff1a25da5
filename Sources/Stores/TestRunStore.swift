import Interview
import JSON
import Redis

extension Executions {
    /// A test run id: "t_" and 24 hex digits (distinct from an execution's, so
    /// GET /executions/{id} never shows a test run's hidden cases).
    public static func testRunID() -> String { "t_" + Identifiers.hex(Identifiers.randomBytes(12)) }

    public static func isTestRunID(_ text: String) -> Bool {
        text.utf8.count == 26 && text.hasPrefix("t_") && text.utf8.dropFirst(2).allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102)
        }
    }

    /// The session's question, parsed, or why a test run cannot start: 409 when there is none or
    /// it has no tests.
    public static func testRunQuestion(_ text: String?) throws(InterviewError) -> Question {
        guard let text else {
            throw InterviewError(.conflict, "this session has no question to test against; set one first (PUT /sessions/{id}/question)")
        }
        guard let stored = (try? JSON.parse(text)).flatMap(SessionQuestion.init(stored:)) else {
            throw InterviewError(.internalError, "the session's stored question cannot be read")
        }
        let question = stored.question
        guard !question.tests.isEmpty else {
            throw InterviewError(.conflict, "the session's question has no tests; add tests to it to run them")
        }
        return question
    }

    /// A test run of this session, or nil when there is none with that id (or it expired).
    public func testRun(_ id: String, sessionID: String, _ completion: @escaping (Result<TestRunJob?, InterviewError>) -> Void) {
        jobs.testRun(id: id) { result in
            switch result {
            case .success(let fields):
                let run = TestRunJob(id: id, fields: fields)
                completion(.success(run?.job.sessionID == sessionID ? run : nil))
            case .failure(let error):
                completion(.failure(translate(error, session: sessionID)))
            }
        }
    }

    /// The session's newest test runs, newest first.
    public func testRuns(_ sessionID: String, limit: Int, _ completion: @escaping (Result<[TestRunJob], InterviewError>) -> Void) {
        sessionJobs(ExecutionKeys.testRuns(sessionID), sessionID: sessionID, limit: limit) { result in
            completion(result.map { entries in entries.compactMap { TestRunJob(id: $0.id, fields: $0.fields) } })
        }
    }
}

