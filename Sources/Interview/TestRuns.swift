import JSON

/// How a test case's output is compared with its expected output.
public enum OutputComparison: String, Sendable, CaseIterable {
    /// Byte for byte.
    case exact
    /// Trailing spaces, tabs and carriage returns of each line do not count, nor do empty lines
    /// at the end (so a missing or an extra final newline passes).
    case trailingWhitespace = "trailing_whitespace"

    public static let `default` = OutputComparison.trailingWhitespace

    /// The lines compared: split at "\n"; with `trailingWhitespace` each cut of its trailing
    /// blanks and the empty lines at the end dropped.
    public func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        guard self == .trailingWhitespace else { return lines }
        lines = lines.map { line in
            var line = line
            while let last = line.last, last == 32 || last == 9 || last == 13 { line.removeLast() }
            return line
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        return lines
    }

    public func matches(expected: [UInt8], actual: [UInt8]) -> Bool {
        self == .exact ? expected == actual : lines(expected) == lines(actual)
    }

    /// Where the output first differs and the lines around it (nil when it matches), bounded:
    /// `context` lines each side, each line cut at `lineCharacters` characters.
    public func diff(expected: [UInt8], actual: [UInt8], context: Int = 20, lineCharacters: Int = 200) -> JSON? {
        guard !matches(expected: expected, actual: actual) else { return nil }
        let want = lines(expected), got = lines(actual)
        var first = 0
        while first < want.count, first < got.count, want[first] == got[first] { first += 1 }
        let from = max(0, first - context)
        func window(_ lines: [ArraySlice<UInt8>]) -> JSON {
            guard from < lines.count else { return [] }
            let to = min(lines.count, first + context + 1)
            return .array(lines[from..<to].map { line in
                let text = String(decoding: line, as: UTF8.self)
                return .string(text.count > lineCharacters ? String(text.prefix(lineCharacters)) + "…" : text)
            })
        }
        return ["line": .integer(first + 1), "from_line": .integer(from + 1),
                "expected": window(want), "actual": window(got),
                "expected_lines": .integer(want.count), "actual_lines": .integer(got.count)]
    }
}

/// How one test case ended.
public enum TestCaseStatus: String, Sendable, CaseIterable {
    case passed
    /// The program ran to its end (exit 0) but printed something else.
    case failed
    case timeLimitExceeded = "time_limit_exceeded"
    case memoryLimitExceeded = "memory_limit_exceeded"
    case outputLimitExceeded = "output_limit_exceeded"
    case runtimeError = "runtime_error"
    /// The program did not compile: every case of the run.
    case compileError = "compile_error"
    case internalError = "internal_error"
}

/// How a whole test run ended.
public enum TestRunStatus: String, Sendable, CaseIterable {
    /// Every case passed.
    case passed
    /// At least one case did not.
    case failed
    case compileError = "compile_error"
    case internalError = "internal_error"
}

/// What each role sees of a test run. Interviewers see everything; candidates see a hidden case's
/// name, whether it is hidden, its status, time and memory, and nothing else: never its input,
/// its expected output, what the program printed for it, or a message about it.
public enum TestRunView {
    public static let hiddenCaseFields = ["name", "hidden", "status", "time_ms", "memory_kb"]

    public static func testCase(_ json: JSON, forInterviewer interviewer: Bool) -> JSON {
        guard !interviewer, json["hidden"]?.boolValue != false else { return json }
        return .object((json.objectValue ?? []).filter { hiddenCaseFields.contains($0.key) })
    }

    /// A run (or an event's data) with `cases`: each case in the role's view.
    public static func run(_ json: JSON, forInterviewer interviewer: Bool) -> JSON {
        guard !interviewer, let cases = json["cases"]?.arrayValue else { return json }
        var out = json
        out.set("cases", .array(cases.map { testCase($0, forInterviewer: false) }))
        return out
    }
}

/// What a test run job carries beyond an execution's: its cases, in the order they run
/// (visible ones first, so nothing a hidden case leaves in the sandbox's /tmp can be printed by a
/// later case a candidate sees), and the comparison.
public struct TestRunSpec: Sendable {
    public var tests: [TestCase]
    public var compare: OutputComparison

    public init(tests: [TestCase], compare: OutputComparison) {
        self.tests = Self.runOrder(tests)
        self.compare = compare
    }

    /// Visible cases first, each group in the question's order.
    public static func runOrder(_ tests: [TestCase]) -> [TestCase] {
        tests.filter { !$0.hidden } + tests.filter(\.hidden)
    }

    /// The job's `tests` field: every case whole (the runner's copy).
    public var testsJSON: JSON { .array(tests.map(\.json)) }

    /// The job's `cases` field: names and hidden flags, which anyone may see.
    public var casesJSON: JSON { .array(tests.map { ["name": .string($0.name), "hidden": .bool($0.hidden)] }) }

    /// Reads the job's `tests` field back (the runner).
    public static func tests(json: JSON?) -> [TestCase] {
        (json?.arrayValue ?? []).map { item in
            TestCase(name: item["name"]?.stringValue ?? "", stdin: item["stdin"]?.stringValue ?? "",
                     expectedStdout: item["expected_stdout"]?.stringValue ?? "", hidden: item["hidden"]?.boolValue ?? true)
        }
    }
}

/// A test run as stored (`ci:{jobs}:job:<id>` with `kind` test-run), for the test-run routes.
public struct TestRunJob: Sendable {
    public var job: ExecutionJob
    public var compare: String
    /// `{name, hidden}` of each case, in run order.
    public var cases: [JSON]
    /// Results of the cases that finished (index -> full case), while the run is in progress.
    public var progress: [Int: JSON]

    /// Decodes the job's fields; nil unless it is a test run.
    public init?(id: String, fields: [String: String]) {
        guard fields["kind"] == JobKind.testRun.rawValue, let job = ExecutionJob(id: id, fields: fields) else { return nil }
        self.job = job
        compare = fields["compare"] ?? OutputComparison.default.rawValue
        cases = (fields["cases"].flatMap { try? JSON.parse($0) })?.arrayValue ?? []
        progress = [:]
        for index in cases.indices {
            if let text = fields["case:\(index)"], let json = try? JSON.parse(text) { progress[index] = json }
        }
    }

    /// The API's view for the role: the result's cases once done, else what finished so far
    /// (cases not run yet have `status` null).
    public func json(forInterviewer interviewer: Bool) -> JSON {
        // A list entry has no result, only its summary (the same fields, the cases' short form).
        let result = job.result ?? job.resultSummary
        var body: JSON = ["id": .string(job.id), "session_id": job.sessionID.map(JSON.string) ?? .null,
                          "state": .string(job.state.rawValue), "language": .string(job.language),
                          "compare": .string(compare),
                          "user_id": job.userID.map(JSON.string) ?? .null, "name": job.userName.map(JSON.string) ?? .null,
                          "created_at": .integer(Int(job.createdAt)),
                          "started_at": job.startedAt.map { .integer(Int($0)) } ?? .null,
                          "finished_at": job.finishedAt.map { .integer(Int($0)) } ?? .null,
                          "attempts": .integer(job.attempts), "runner_id": job.runnerID.map(JSON.string) ?? .null,
                          "limits": job.limits.json]
        body.set("status", result?["status"] ?? .null)
        body.set("message", result?["message"] ?? .null)
        let finished = result?["cases"]?.arrayValue
        let all: [JSON] = finished ?? cases.enumerated().map { index, summary in
            if let done = progress[index] { return done }
            var pending = summary
            pending.set("status", .null)
            return pending
        }
        body.set("passed", .integer(all.filter { $0["status"]?.stringValue == TestCaseStatus.passed.rawValue }.count))
        body.set("total", .integer(cases.count))
        body.set("cases", .array(all.map { TestRunView.testCase($0, forInterviewer: interviewer) }))
        body.set("compile_output", result?["compile_output"] ?? .null)
        return body
    }

    /// The list entry: no case's data, only each case's name, status, time and memory (what
    /// every role may see).
    public var summary: JSON {
        let body = json(forInterviewer: false)
        return .object((body.objectValue ?? []).compactMap { member in
            switch member.key {
            case "compile_output": return nil
            case "cases":
                return (key: "cases", value: .array((member.value.arrayValue ?? []).map { item in
                    .object((item.objectValue ?? []).filter { TestRunView.hiddenCaseFields.contains($0.key) })
                }))
            default: return member
            }
        })
    }
}

/// What a job runs: a program once (an execution), or a program against a question's tests.
public enum JobKind: String, Sendable {
    case execution
    case testRun = "test-run"
}

extension TestRunJob {
    /// A test run just queued (the POST's answer), before any runner has it.
    public init(queued job: ExecutionJob, spec: TestRunSpec) {
        self.job = job
        compare = spec.compare.rawValue
        cases = (spec.casesJSON.arrayValue ?? [])
        progress = [:]
    }
}
