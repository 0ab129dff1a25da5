import Interview
import Stores
import JSON

/// What a test run has of its steps so far.
struct TestRunState {
    /// In run order: visible cases first (the gateway queues them so; kept so here whatever the job says).
    let tests: [TestCase]
    var compile: StepReport?
    /// Each case's whole result, once its step is reported (or it is settled without running).
    var cases: [JSON?]
    /// Whether its test-case-result went out.
    var published: [Bool]

    init(tests: [TestCase]) {
        self.tests = TestRunSpec.runOrder(tests)
        cases = Array(repeating: nil, count: self.tests.count)
        published = Array(repeating: false, count: self.tests.count)
    }

    static func stepName(_ index: Int) -> String { "case\(index)" }

    static func index(ofStep name: String) -> Int? {
        name.hasPrefix("case") ? Int(name.dropFirst(4)) : nil
    }
}

extension Execution {
    /// stderr kept of each case (stdout keeps at least the largest expected output and one byte more).
    static let caseStderrBytes = 8 * 1024

    /// One step per case, each with the job's limits, its stdin fed from the supervisor's memory,
    /// its output captured apart, and keep-going (a failing case does not stop the next).
    var testCaseSteps: [SandboxStep] {
        guard let run = testRun else { return [] }
        let longest = run.tests.map(\.expectedStdout.utf8.count).max() ?? 0
        let stdoutBytes = max(runner.configuration.outputCaptureBytes, longest + 1)
        return run.tests.enumerated().map { index, test in
            SandboxStep(name: TestRunState.stepName(index), arguments: toolchain.run(sourceFile, job.limits), limits: job.limits,
                        stackKB: Execution.stackKB, stdin: .bytes(Array(test.stdin.utf8)),
                        capture: .separate(stdout: stdoutBytes, stderr: Execution.caseStderrBytes),
                        outputLimitBytes: job.limits.outputKB * 1024, keepGoing: true)
        }
    }

    /// A step of a test run was reported: the compile step is kept, a case's result goes out.
    func testStepReported(_ step: StepReport) {
        guard testRun != nil, !isCancelled else { return }
        if step.name == "compile" {
            testRun?.compile = step
            return
        }
        guard let index = TestRunState.index(ofStep: step.name), let tests = testRun?.tests, tests.indices.contains(index) else { return }
        let result = caseResult(tests[index], index: index, step)
        testRun?.cases[index] = result
        publishCase(index)
    }

    private func publishCase(_ index: Int) {
        guard let result = testRun?.cases[index], testRun?.published[index] == false else { return }
        testRun?.published[index] = true
        func data(_ view: JSON) -> JSON {
            .object([(key: "run_id", value: .string(job.id)), (key: "index", value: .integer(index))] + (view.objectValue ?? []))
        }
        runner.publishTestCase(job, index: index, result: result, full: data(result),
                               candidate: data(TestRunView.testCase(result, forInterviewer: false)))
    }

    /// One case's whole result (interviewers' view; TestRunView cuts a hidden one down for candidates).
    private func caseResult(_ test: TestCase, index: Int, _ step: StepReport) -> JSON {
        let expected = Array(test.expectedStdout.utf8)
        let stderrText = String(decoding: step.stderr.prefix(step.stderrTruncated ? completeUTF8Prefix(step.stderr) : step.stderr.count),
                                as: UTF8.self)
        let ended = outcome(of: step, outputLimitHit: false, stderr: stderrText)
        var message = ended.message
        let caseStatus: TestCaseStatus
        var diff: JSON = .null
        switch ended.status {
        case .ok:
            let compare = job.compare
            if step.outputTruncated {
                caseStatus = .failed
                message = "the program printed more than \(step.output.count) bytes, more than the expected output"
                diff = compare.diff(expected: expected, actual: step.output) ?? .null
            } else if let found = compare.diff(expected: expected, actual: step.output) {
                caseStatus = .failed
                diff = found
                message = "the output differs from the expected output at line \(found["line"]?.intValue ?? 1)"
                    + (compare == .exact ? " (compared exactly)" : "")
            } else {
                caseStatus = .passed
            }
        case .internalError:
            logger.error("test case \(index) of job \(job.id): \(message ?? "internal error")")
            caseStatus = .internalError
        default:
            // The other statuses are the same words for a run and a case.
            caseStatus = TestCaseStatus(rawValue: ended.status.rawValue) ?? .runtimeError
        }
        let actual = step.output.prefix(step.outputTruncated ? completeUTF8Prefix(step.output) : step.output.count)
        return ["name": .string(test.name), "hidden": .bool(test.hidden), "status": .string(caseStatus.rawValue),
                "time_ms": .integer(step.cpuMillis), "memory_kb": .integer(step.maxRSSKB),
                "wall_ms": .integer(step.wallMillis), "message": message.map(JSON.string) ?? .null,
                "exit_code": step.exitCode.map(JSON.integer) ?? .null,
                "signal_name": step.signal.map { .string(signalName($0)) } ?? .null,
                "stdin": .string(test.stdin), "expected_stdout": .string(test.expectedStdout),
                "actual_stdout": .string(String(decoding: actual, as: UTF8.self)), "stdout_truncated": .bool(step.outputTruncated),
                "stderr": .string(stderrText), "stderr_truncated": .bool(step.stderrTruncated), "diff": diff]
    }

    /// A case that never ran: every case when compiling failed, the rest when the run broke off.
    private func settledCase(_ test: TestCase, _ status: TestCaseStatus, _ message: String?) -> JSON {
        ["name": .string(test.name), "hidden": .bool(test.hidden), "status": .string(status.rawValue),
         "time_ms": 0, "memory_kb": 0, "wall_ms": 0, "message": message.map(JSON.string) ?? .null,
         "exit_code": .null, "signal_name": .null,
         "stdin": .string(test.stdin), "expected_stdout": .string(test.expectedStdout),
         "actual_stdout": "", "stdout_truncated": false, "stderr": "", "stderr_truncated": false, "diff": .null]
    }

    /// The run's result once the sandbox is gone; `failure`: why the run broke off (the sandbox
    /// could not start, its supervisor failed). Every case without a result gets one now (and its
    /// test-case-result goes out before the test-run-result).
    func testRunOutcome(_ failure: String?) -> JobOutcome {
        guard var run = testRun else { return JobOutcome(execution: [:]) }
        var failure = failure
        var compileMessage: String?
        if let compile = run.compile, let why = compileFailure(compile) {
            if why.internal { failure = failure ?? why.message } else { compileMessage = why.message }
        }
        if let failure { logger.error("internal error: \(failure)") }
        for (index, test) in run.tests.enumerated() where run.cases[index] == nil {
            run.cases[index] = compileMessage != nil
                ? settledCase(test, .compileError, "the program did not compile")
                : settledCase(test, .internalError, failure ?? "the case was not run")
        }
        testRun = run
        for index in run.tests.indices { publishCase(index) }
        let cases = run.cases.compactMap { $0 }
        let passed = cases.filter { $0["status"]?.stringValue == TestCaseStatus.passed.rawValue }.count
        let status: TestRunStatus = failure != nil ? .internalError : compileMessage != nil ? .compileError
            : passed == cases.count ? .passed : .failed
        var result: JSON = ["run_id": .string(job.id), "status": .string(status.rawValue),
                            "message": (failure ?? compileMessage).map(JSON.string) ?? .null,
                            "language": .string(job.language), "compare": .string(job.compare.rawValue),
                            "passed": .integer(passed), "total": .integer(cases.count), "cases": .array(cases)]
        result.set("compile_output", run.compile.map { .string(compileOutput($0)) } ?? .null)
        result.set("compile", run.compile.map(compileJSON) ?? .null)
        result.set("runner_id", .string(runner.configuration.nodeID))
        result.set("limits", job.limits.json)
        result.set("attempt", .integer(job.attempt))
        result.set("total_wall_ms", .integer(wallMillis))
        let summary: JSON = ["status": .string(status.rawValue), "passed": .integer(passed), "total": .integer(cases.count),
                             "cases": .array(cases.map { item in
                                 .object((item.objectValue ?? []).filter { TestRunView.hiddenCaseFields.contains($0.key) })
                             }),
                             "runner_id": .string(runner.configuration.nodeID)]
        return JobOutcome(result: result, status: status.rawValue, summary: summary,
                          candidateView: TestRunView.run(result, forInterviewer: false))
    }
}
