import JSON

/// How a run ended, Judge0-style.
public enum ExecutionStatus: String, Sendable, CaseIterable {
    case ok
    case compileError = "compile_error"
    case runtimeError = "runtime_error"
    case timeLimitExceeded = "time_limit_exceeded"
    case memoryLimitExceeded = "memory_limit_exceeded"
    case outputLimitExceeded = "output_limit_exceeded"
    case internalError = "internal_error"
    /// An interactive run had neither input nor output for the runner's idle timeout.
    case idleTimeout = "idle_timeout"
    /// An interactive run's runner stopped (killed, lost its lease) mid-run: never run again.
    case runnerLost = "runner_lost"
}

/// Where a job is: waiting in the queue, held by a runner, or finished with its one result.
public enum ExecutionState: String, Sendable {
    case queued, running, done
}

/// The limits of one run. Every request field is optional; the server's defaults fill the gaps
/// and its maxima bound what a request may ask for.
public struct ExecutionLimits: Sendable, Equatable {
    /// CPU time of the whole process tree, in milliseconds.
    public var cpuTimeMillis: Int
    /// Wall-clock time of the run, in milliseconds.
    public var wallTimeMillis: Int
    /// Memory: each process's data segment (RLIMIT_DATA) and the tree's resident anonymous memory, KiB.
    public var memoryKB: Int
    /// Processes and threads.
    public var processes: Int
    /// Largest file the program may write, KiB.
    public var fileSizeKB: Int
    /// Open file descriptors per process.
    public var openFiles: Int
    /// Output (stdout + stderr) the program may write before it is stopped, KiB.
    public var outputKB: Int

    public init(cpuTimeMillis: Int, wallTimeMillis: Int, memoryKB: Int, processes: Int, fileSizeKB: Int,
                openFiles: Int, outputKB: Int) {
        self.cpuTimeMillis = cpuTimeMillis
        self.wallTimeMillis = wallTimeMillis
        self.memoryKB = memoryKB
        self.processes = processes
        self.fileSizeKB = fileSizeKB
        self.openFiles = openFiles
        self.outputKB = outputKB
    }

    /// The JSON field names and the smallest value that still runs anything.
    public static var fields: [(name: String, path: WritableKeyPath<ExecutionLimits, Int>, minimum: Int)] {
        [
        ("cpu_time_ms", \.cpuTimeMillis, 100),
        ("wall_time_ms", \.wallTimeMillis, 100),
        ("memory_kb", \.memoryKB, 16_384),
        ("processes", \.processes, 1),
        ("file_size_kb", \.fileSizeKB, 1),
        ("open_files", \.openFiles, 16),
        ("output_kb", \.outputKB, 1),
        ]
    }

    public static let defaults = ExecutionLimits(cpuTimeMillis: 5_000, wallTimeMillis: 10_000, memoryKB: 262_144, processes: 64,
                                                 fileSizeKB: 1_024, openFiles: 64, outputKB: 1_024)
    public static let maxima = ExecutionLimits(cpuTimeMillis: 20_000, wallTimeMillis: 60_000, memoryKB: 1_048_576, processes: 256,
                                               fileSizeKB: 65_536, openFiles: 1_024, outputKB: 16_384)

    public var json: JSON {
        .object(Self.fields.map { (key: $0.name, value: JSON.integer(self[keyPath: $0.path])) })
    }

    /// Reads a stored limits object; missing fields keep `fallback`'s values.
    public init(json: JSON?, fallback: ExecutionLimits) {
        self = fallback
        guard let json else { return }
        for field in Self.fields {
            if let value = json[field.name]?.intValue { self[keyPath: field.path] = value }
        }
    }

    /// Each field at most `maxima`'s.
    public func clamped(to maxima: ExecutionLimits) -> ExecutionLimits {
        var out = self
        for field in Self.fields { out[keyPath: field.path] = min(out[keyPath: field.path], maxima[keyPath: field.path]) }
        return out
    }
}

/// Execution settings shared by gateways (validation, queue bound, waiting) and runners (enforcement).
public struct ExecutionSettings: Sendable {
    /// Limits a request gets for every field it does not set.
    public var defaults = ExecutionLimits.defaults
    /// The most a request may ask for (more is a 422 naming the field).
    public var maxima = ExecutionLimits.maxima
    /// Jobs waiting in the queue at most; beyond, POST /execute answers 503 with Retry-After.
    public var maxQueuedJobs = 1_000
    /// How long POST /execute waits for the result before answering 202 with the job.
    public var waitMillis: Int64 = 60_000
    /// Largest program text, bytes.
    public var maxCodeBytes = 256 * 1024
    /// Largest stdin, bytes.
    public var maxStdinBytes = 256 * 1024
    /// How long a job (and its result) is kept after it was submitted or finished.
    public var retentionMillis: Int64 = 24 * 3600 * 1000
    /// Executions listed per session (newest first).
    public var sessionHistoryLimit = 50
    /// Runs of one job at most (a job whose runners keep dying ends as internal_error).
    public var maxAttempts = 3

    public init() {}

    /// Checks that defaults lie within maxima and maxima above the minima; a readable complaint otherwise.
    public func problem() -> String? {
        for field in ExecutionLimits.fields {
            let low = field.minimum, high = maxima[keyPath: field.path], value = defaults[keyPath: field.path]
            if high < low { return "the maximum \(field.name) must be at least \(low), not \(high)" }
            if value < low || value > high { return "the default \(field.name) must be within \(low)...\(high), not \(value)" }
        }
        return nil
    }
}

/// A validated request to run code.
public struct ExecutionRequest: Sendable {
    public var language: String
    public var code: String
    public var stdin: String
    public var limits: ExecutionLimits
    /// Set for POST /sessions/{id}/execute: the session whose members see the run.
    public var sessionID: String?
    public var userID: String?
    public var userName: String?
    /// Set for POST /sessions/{id}/test-runs: the program runs once per test case.
    public var testRun: TestRunSpec?
    /// An interactive run (a session's only): the program runs on a terminal the room types into.
    public var interactive = false
    /// With `interactive`: the language's REPL instead of the program (`"mode": "repl"`).
    public var repl = false
    /// The job's id when the caller chose it (an interactive run's, named in its terminal first).
    public var jobID: String?

    public init(language: String, code: String, stdin: String, limits: ExecutionLimits,
                sessionID: String? = nil, userID: String? = nil, userName: String? = nil, testRun: TestRunSpec? = nil) {
        self.language = language
        self.code = code
        self.stdin = stdin
        self.limits = limits
        self.sessionID = sessionID
        self.userID = userID
        self.userName = userName
        self.testRun = testRun
    }
}

/// A job as stored in Redis (`ci:{jobs}:job:<id>`), for GET /executions/{id} and the wait.
public struct ExecutionJob: Sendable {
    public var id: String
    public var state: ExecutionState
    public var language: String
    public var sessionID: String?
    public var userID: String?
    public var userName: String?
    public var createdAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var runnerID: String?
    public var attempts: Int
    public var limits: ExecutionLimits
    /// The result object exactly as the runner wrote it (once).
    public var result: JSON?
    public var status: String?
    /// exit_code, time_ms, memory_kb, runner_id of a finished job (kept apart from the output).
    public var resultSummary: JSON?

    /// Decodes HGETALL's flat field/value list; nil when the job does not exist.
    public init?(id: String, fields: [String: String]) {
        guard let stateText = fields["state"], let state = ExecutionState(rawValue: stateText) else { return nil }
        self.id = id
        self.state = state
        language = fields["language"] ?? ""
        func optional(_ key: String) -> String? { fields[key].flatMap { $0.isEmpty ? nil : $0 } }
        sessionID = optional("session_id")
        userID = optional("user_id")
        userName = optional("user_name")
        createdAt = Int64(fields["created_at"] ?? "") ?? 0
        startedAt = optional("started_at").flatMap { Int64($0) }
        finishedAt = optional("finished_at").flatMap { Int64($0) }
        runnerID = optional("runner_id")
        attempts = Int(fields["attempts"] ?? "") ?? 0
        limits = ExecutionLimits(json: fields["limits"].flatMap { try? JSON.parse($0) }, fallback: .defaults)
        result = optional("result").flatMap { try? JSON.parse($0) }
        status = optional("status")
        resultSummary = optional("summary").flatMap { try? JSON.parse($0) }
    }

    /// The API's view of the job.
    public var json: JSON {
        var body: JSON = ["job_id": .string(id), "state": .string(state.rawValue), "language": .string(language),
                          "session_id": sessionID.map(JSON.string) ?? .null,
                          "user_id": userID.map(JSON.string) ?? .null, "name": userName.map(JSON.string) ?? .null,
                          "created_at": .integer(Int(createdAt)),
                          "started_at": startedAt.map { .integer(Int($0)) } ?? .null,
                          "finished_at": finishedAt.map { .integer(Int($0)) } ?? .null,
                          "runner_id": runnerID.map(JSON.string) ?? .null,
                          "attempts": .integer(attempts), "limits": limits.json]
        body.set("result", result ?? .null)
        return body
    }

    /// The history entry: the job without its output.
    public var summary: JSON {
        var body: JSON = ["job_id": .string(id), "state": .string(state.rawValue), "language": .string(language),
                          "user_id": userID.map(JSON.string) ?? .null, "name": userName.map(JSON.string) ?? .null,
                          "created_at": .integer(Int(createdAt)),
                          "finished_at": finishedAt.map { .integer(Int($0)) } ?? .null,
                          "status": status.map(JSON.string) ?? .null]
        let source = result ?? resultSummary
        for key in ["exit_code", "signal", "time_ms", "memory_kb", "runner_id"] {
            body.set(key, source?[key] ?? .null)
        }
        return body
    }
}
