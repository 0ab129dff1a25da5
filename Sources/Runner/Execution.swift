import Interview
import Stores
import JSON
import Logging
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// What a finished job leaves: its result, and what the finish script keeps and publishes beside it.
struct JobOutcome {
    var result: JSON
    var status: String
    /// The short form kept apart from the result (history entries and lists).
    var summary: JSON
    /// A test run's result as candidates see it (they get this instead of `result`).
    var candidateView: JSON?

    /// An execution's: the summary is its exit code, signal, time, memory and runner.
    init(execution result: JSON) {
        self.result = result
        status = result["status"]?.stringValue ?? ExecutionStatus.internalError.rawValue
        var summary: JSON = [:]
        for key in ["exit_code", "signal", "time_ms", "memory_kb", "runner_id"] { summary.set(key, result[key] ?? .null) }
        self.summary = summary
    }

    init(result: JSON, status: String, summary: JSON, candidateView: JSON?) {
        self.result = result
        self.status = status
        self.summary = summary
        self.candidateView = candidateView
    }
}

/// Output kept up to a cap: the bytes, how many were written in all.
struct CapturedOutput {
    let cap: Int
    private(set) var bytes: [UInt8] = []
    private(set) var total = 0

    init(cap: Int) { self.cap = cap }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        total += chunk.count
        let room = cap - bytes.count
        if room > 0 { bytes += chunk.prefix(room) }
    }

    var truncated: Bool { total > bytes.count }

    /// The text, invalid UTF-8 replaced; a character cut by the cap is dropped.
    var text: String { String(decoding: truncated ? bytes.prefix(completeUTF8Prefix(bytes)) : bytes[...], as: UTF8.self) }
}

/// How many leading bytes end on a character boundary: a multi-byte character cut at the end is left out.
func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
    guard !bytes.isEmpty else { return 0 }
    var start = bytes.count - 1
    var back = 0
    while start > 0, back < 3, bytes[start] & 0xC0 == 0x80 { start -= 1; back += 1 }
    let needed: Int
    switch bytes[start] {
    case 0..<0x80: needed = 1
    case 0xC0..<0xE0: needed = 2
    case 0xE0..<0xF0: needed = 3
    case 0xF0..<0xF8: needed = 4
    default: return bytes.count
    }
    return bytes.count - start < needed ? start : bytes.count
}

/// One run of one job: builds the sandbox spec, starts bubblewrap, captures and streams the output,
/// enforces the output limit and a wall-clock backstop, and turns the supervisor's report into
/// the result. A test run (TestRun.swift) compiles once and runs one step per case; each case's
/// result is published as its step is reported.
final class Execution {
    /// RLIMIT_STACK of a run. It is also glibc's default thread stack size, and thread stacks count
    /// against RLIMIT_DATA, so a large value would starve multi-threaded runtimes (Node, the JVM).
    static let stackKB = 8 * 1024

    let job: ClaimedJob
    let toolchain: Toolchain
    unowned let runner: Runner
    let logger: Logger
    private var sandbox: SandboxProcess?
    /// The job slot (uid, cgroup) the sandbox runs in, until it has exited.
    private var slot: Int?
    private var stdout: CapturedOutput
    private var stderr: CapturedOutput
    private var outputLimitHit = false
    private var backstopHit = false
    private var cancelled = false
    private var done = false
    private var backstop: LoopTimer?
    private var flushTimer: LoopTimer?
    private let started = EventLoop.hrtime()
    let sourceFile: String
    private let hasCompileStep: Bool
    // Streaming (session executions only): bytes not yet published per stream, and what was published.
    private let streams: Bool
    private var pending: [[UInt8]] = [[], [], []]
    private var streamed = [0, 0, 0]
    private var sequence = 0
    /// What a test run has of its steps so far (test runs only).
    var testRun: TestRunState?
    /// An interactive run's input, read from the session's terminal stream.
    private var feed: TerminalFeed?

    init(job: ClaimedJob, toolchain: Toolchain, runner: Runner, logger: Logger) {
        self.job = job
        self.toolchain = toolchain
        self.runner = runner
        var logger = logger
        logger[metadataKey: "job"] = .string(job.id)
        self.logger = logger
        stdout = CapturedOutput(cap: runner.configuration.outputCaptureBytes)
        stderr = CapturedOutput(cap: runner.configuration.outputCaptureBytes)
        sourceFile = toolchain.sourceFile(job.code)
        hasCompileStep = toolchain.compile != nil
        streams = job.sessionID != nil && job.kind == .execution
        if job.kind == .testRun { testRun = TestRunState(tests: job.tests) }
    }

    var spec: SandboxSpec {
        let configuration = runner.configuration
        var spec = SandboxSpec()
        spec.environment = ["PATH=\(SandboxSettings.path)", "HOME=\(SandboxSettings.workDirectory)", "TMPDIR=/tmp",
                            "LANG=C.UTF-8", "LC_ALL=C.UTF-8"] + toolchain.environment
        spec.files = [(sourceFile, Array(job.code.utf8))] + toolchain.extraFiles.map { ($0.name, Array($0.content.utf8)) }
        if let compile = toolchain.compile {
            spec.steps.append(SandboxStep(name: "compile", arguments: compile(sourceFile, job.limits), limits: configuration.compileLimits,
                                          stackKB: 8 * 1024, stdin: .none, capture: .merged(bytes: configuration.outputCaptureBytes)))
        }
        if testRun != nil {
            spec.steps += testCaseSteps
        } else if job.interactive {
            var limits = job.limits
            limits.wallTimeMillis = configuration.interactiveWallMillis
            spec.terminal = (configuration.interactiveIdleMillis, 80, 24)
            let arguments = job.repl ? (Execution.replArguments(toolchain.id, sourceFile, job.limits) ?? toolchain.run(sourceFile, job.limits))
                : toolchain.run(sourceFile, job.limits)
            spec.steps.append(SandboxStep(name: "run", arguments: arguments, limits: limits,
                                          stackKB: Execution.stackKB, stdin: .terminal, capture: .none))
        } else {
            spec.steps.append(SandboxStep(name: "run", arguments: toolchain.run(sourceFile, job.limits), limits: job.limits,
                                          stackKB: Execution.stackKB, stdin: .runner, capture: .none))
        }
        return spec
    }

    /// A REPL's command line (`"mode": "repl"`), the session's code loaded first: Python runs the
    /// file then stays interactive (-i); Node evaluates it globally, then opens its REPL; irb
    /// requires it. nil: no REPL for the language (the program runs instead).
    static func replArguments(_ language: String, _ source: String, _ limits: ExecutionLimits) -> [String]? {
        switch language {
        case "python": return ["python3", "-i", source]
        case "javascript":
            // Evaluated globally, so its functions and vars are the REPL's.
            return ["node", "--max-old-space-size=\(Toolchain.heapMB(limits))", "-i", "-e",
                    "(0, eval)(require(\"fs\").readFileSync(\"\(source)\", \"utf8\"))"]
        case "ruby": return ["irb", "--noreadline", "-r", "./" + source]
        default: return nil
        }
    }

    /// The wall-clock time the supervisor may take in all, at most: every step at its limit.
    private var wallBudgetMillis: Int {
        let compile = hasCompileStep ? runner.configuration.compileLimits.wallTimeMillis : 0
        let run = job.interactive ? runner.configuration.interactiveWallMillis : job.limits.wallTimeMillis
        let steps = testRun.map { $0.tests.count * (job.limits.wallTimeMillis + 1_000) } ?? run
        return compile + steps + 5_000
    }

    func start() {
        // A runner holds at most `concurrency` jobs, and has at least that many slots.
        guard let slot = runner.acquireSlot() else { return finish(internalError("no free sandbox slot")) }
        self.slot = slot
        let sandbox = SandboxProcess(loop: runner.loop)
        self.sandbox = sandbox
        sandbox.onOutput = { [unowned self] stream, bytes in self.output(stream, bytes) }
        if testRun != nil { sandbox.onStep = { [unowned self] step in self.testStepReported(step) } }
        sandbox.onExit = { [unowned self] status, signal, report in self.exited(status, signal, report) }
        do {
            try sandbox.start(arguments: runner.sandbox.arguments(slot: slot), stdin: job.interactive ? [] : Array(job.stdin.utf8),
                              spec: spec.bytes, keepStdinOpen: job.interactive)
        } catch {
            self.sandbox = nil
            releaseSlot()
            return finish(internalError("the sandbox could not be started: \(error)"))
        }
        if job.interactive, let sessionID = job.sessionID {
            let feed = TerminalFeed(sessionID: sessionID, jobID: job.id, execution: self, address: runner.configuration.redis,
                                    loop: runner.loop, logger: logger)
            self.feed = feed
            feed.start()
        }
        // The supervisor enforces each step's limits; this only catches a supervisor that hangs.
        let budget = wallBudgetMillis
        let timer = LoopTimer(loop: runner.loop)
        backstop = timer
        timer.start(after: UInt64(budget)) { [unowned self] in
            self.backstopHit = true
            self.logger.warning("the sandbox outlived its wall-clock budget of \(budget) ms; killing it")
            self.sandbox?.kill()
        }
        if streams {
            let flush = LoopTimer(loop: runner.loop)
            flushTimer = flush
            flush.start(after: 50, repeat: 50) { [unowned self] in self.flush() }
        }
    }

    /// The job is no longer this runner's (requeued or finished elsewhere): stop, write nothing.
    func cancel() {
        guard !done, !cancelled else { return }
        cancelled = true
        logger.notice("job \(job.id) was taken from this runner; stopping its sandbox")
        sandbox?.kill()
    }

    /// Whether the job was taken from this runner (nothing more of it may be published).
    var isCancelled: Bool { cancelled }

    /// Runner shutting down hard.
    func kill() { sandbox?.kill() }

    private func output(_ stream: Int, _ bytes: UnsafeRawBufferPointer) {
        if stream == 1 { stdout.append(bytes) } else { stderr.append(bytes) }
        // A terminal streams up to the output limit (a long session), a plain run what it keeps.
        let streamCap = job.interactive ? job.limits.outputKB * 1024 : runner.configuration.outputCaptureBytes
        if streams, streamed[stream] + pending[stream].count < streamCap {
            let room = streamCap - streamed[stream] - pending[stream].count
            pending[stream] += bytes.prefix(room)
            // A terminal's echo goes out at once; a plain run's output every 50 ms.
            if job.interactive { flush() }
        }
        if stdout.total + stderr.total > job.limits.outputKB * 1024, !outputLimitHit {
            outputLimitHit = true
            sandbox?.closeOutput()
        }
    }

    /// Publishes what arrived since the last flush, one frame per stream, cut at a character boundary.
    private func flush(final: Bool = false) {
        for stream in [1, 2] where !pending[stream].isEmpty {
            let length = final ? pending[stream].count : completeUTF8Prefix(pending[stream])
            guard length > 0 else { continue }
            let chunk = Array(pending[stream].prefix(length))
            pending[stream].removeFirst(length)
            streamed[stream] += length
            sequence += 1
            let frame: JSON = ["type": "execution-output",
                               "data": ["job_id": .string(job.id), "stream": .string(stream == 1 ? "stdout" : "stderr"),
                                        "chunk": .string(String(decoding: chunk, as: UTF8.self)), "seq": .integer(sequence)],
                               "timestamp": .integer(Int(EventLoop.unixMillis()))]
            runner.publishOutput(job, frame: frame.text)
            if job.interactive { runner.recordTerminalOutput(job, chunk: String(decoding: chunk, as: UTF8.self)) }
        }
    }

    /// Typed bytes, a window size or a hang-up for an interactive run's terminal (pty.c's frames).
    func terminalInput(_ kind: UInt8, _ payload: [UInt8]) {
        guard job.interactive, !done, let sandbox else { return }
        let length = UInt32(payload.count)
        sandbox.send([kind, UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)] + payload)
    }

    private func releaseSlot() {
        if let slot { runner.releaseSlot(slot) }
        slot = nil
    }

    private func exited(_ status: Int64, _ signal: Int32, _ report: SandboxReport) {
        sandbox = nil
        feed?.stop()
        feed = nil
        flushTimer?.close()
        flushTimer = nil
        // The last output first: it is logged in the terminal log while the run is still live.
        if streams { flush(final: true) }
        runner.endTerminal(job)
        releaseSlot()
        backstop?.close()
        backstop = nil
        if cancelled {
            done = true
            runner.executionEnded(self, outcome: nil)
            return
        }
        if testRun != nil {
            finish(testRunOutcome(report.error.map { "the sandbox supervisor failed: \($0)" }
                                  ?? (report.complete ? nil : sandboxEndedEarly(status, signal))))
        } else {
            finish(JobOutcome(execution: result(status: status, signal: signal, report: report)))
        }
    }

    private func finish(_ outcome: JobOutcome) {
        guard !done else { return }
        done = true
        if feed != nil { runner.endTerminal(job) }
        feed?.stop()
        feed = nil
        backstop?.close()
        backstop = nil
        flushTimer?.close()
        flushTimer = nil
        runner.executionEnded(self, outcome: outcome)
    }

    // MARK: The result

    var wallMillis: Int { Int((EventLoop.hrtime() - started) / 1_000_000) }

    /// Why the sandbox stopped before its supervisor was done (the backstop, or it died).
    private func sandboxEndedEarly(_ status: Int64, _ signal: Int32) -> String {
        if backstopHit { return "the sandbox outlived its wall-clock budget of \(wallBudgetMillis) ms and was stopped" }
        let detail = stderr.text.trimmingWhitespace()
        return "the sandbox ended (status \(status), signal \(signal)) before running every step" + (detail.isEmpty ? "" : ": \(detail.prefix(500))")
    }

    private func internalError(_ message: String) -> JobOutcome {
        if testRun != nil { return testRunOutcome(message) }
        logger.error("internal error: \(message)")
        return JobOutcome(execution: resultJSON(status: .internalError, message: message, run: nil, compile: nil))
    }

    /// Why a compile step failed, when it did: internal (the compiler could not start) or the
    /// program's own failure.
    func compileFailure(_ compile: StepReport) -> (internal: Bool, message: String)? {
        if compile.reason == "exec" {
            return (true, "the \(toolchain.id) compiler could not be started: \(String(cString: strerror(Int32(compile.execErrno))))")
        }
        guard compile.reason != "none" || compile.exitCode != 0 else { return nil }
        let limits = runner.configuration.compileLimits
        switch compile.reason {
        case "cpu": return (false, "compilation used more than \(limits.cpuTimeMillis) ms of CPU time")
        case "wall": return (false, "compilation took longer than \(limits.wallTimeMillis) ms")
        case "memory": return (false, "compilation needed more than \(limits.memoryKB) KiB of memory")
        default: return (false, compile.signal.map { "the compiler was killed by signal \($0) (\(signalName($0)))" } ?? "compilation failed")
        }
    }

    /// How a program's step ended, and why (nil for a clean exit): the same words for a run and a
    /// test case. `outputLimitHit`: the output limit stopped it; `stderr`: what it printed there.
    func outcome(of run: StepReport, outputLimitHit: Bool, stderr: String) -> (status: ExecutionStatus, message: String?) {
        let limits = job.limits
        if run.reason == "exec" {
            return (.internalError, "the \(toolchain.id) runtime could not be started: \(String(cString: strerror(Int32(run.execErrno))))")
        } else if outputLimitHit || run.reason == "output" {
            return (.outputLimitExceeded, "the program wrote more than \(limits.outputKB) KiB of output and was stopped")
        } else if run.reason == "idle" {
            return (.idleTimeout, "the program had no input and no output for \(runner.configuration.interactiveIdleMillis) ms and was stopped")
        } else if run.reason == "wall" && job.interactive {
            return (.timeLimitExceeded, "the interactive program ran longer than \(runner.configuration.interactiveWallMillis) ms (wall clock)")
        } else if run.reason == "hangup" {
            return (.ok, "the terminal was hung up")
        } else if run.reason == "cpu" {
            return (.timeLimitExceeded, "the program used more than \(limits.cpuTimeMillis) ms of CPU time")
        } else if run.reason == "wall" || backstopHit {
            return (.timeLimitExceeded, "the program ran longer than \(limits.wallTimeMillis) ms (wall clock)")
        } else if run.reason == "memory" {
            return (.memoryLimitExceeded, "the program's processes used more than \(limits.memoryKB) KiB of memory")
        } else if run.exitCode == 0 {
            return (.ok, nil)
        } else if outOfMemory(run, stderr: stderr) {
            return (.memoryLimitExceeded, "the program could not allocate memory within its limit of \(limits.memoryKB) KiB")
        } else if run.reason == "file_size" {
            return (.runtimeError, "the program wrote a file larger than \(limits.fileSizeKB) KiB")
        } else if let signal = run.signal {
            return (.runtimeError, "the program was killed by signal \(signal) (\(signalName(signal)))")
        }
        return (.runtimeError, "the program exited with status \(run.exitCode ?? -1)")
    }

    private func result(status: Int64, signal: Int32, report: SandboxReport) -> JSON {
        if let error = report.error { return internalError("the sandbox supervisor failed: \(error)").result }
        var compile: StepReport?
        var run: StepReport?
        for step in report.steps {
            if step.name == "compile" { compile = step } else if step.name == "run" { run = step }
        }
        if let compile, let failure = compileFailure(compile) {
            if failure.internal { return internalError(failure.message).result }
            return resultJSON(status: .compileError, message: failure.message, run: nil, compile: compile)
        }
        guard let run else {
            if backstopHit {
                return resultJSON(status: .timeLimitExceeded, message: "the run exceeded its wall-clock limit of \(job.limits.wallTimeMillis) ms",
                                  run: nil, compile: compile)
            }
            let detail = stderr.text.trimmingWhitespace()
            return internalError("the sandbox ended (status \(status), signal \(signal)) without running the program"
                                 + (detail.isEmpty ? "" : ": \(detail.prefix(500))")).result
        }
        let (status, message) = outcome(of: run, outputLimitHit: outputLimitHit, stderr: stderr.text)
        if status == .internalError { return internalError(message ?? "the program could not be run").result }
        return resultJSON(status: status, message: message, run: run, compile: compile)
    }

    /// A failed run that ran out of memory: near the limit, or the runtime said so.
    private func outOfMemory(_ run: StepReport, stderr text: String) -> Bool {
        let limit = job.limits.memoryKB
        if run.maxRSSKB * 10 >= limit * 9 { return true }
        return toolchain.outOfMemoryMarkers.contains { text.contains($0) }
    }

    /// The compiler's output, cut at a character boundary when it was truncated.
    func compileOutput(_ compile: StepReport) -> String {
        let kept = compile.outputTruncated ? completeUTF8Prefix(compile.output) : compile.output.count
        return String(decoding: compile.output.prefix(kept), as: UTF8.self)
    }

    /// The compile step's figures, as results carry them.
    func compileJSON(_ compile: StepReport) -> JSON {
        ["exit_code": compile.exitCode.map(JSON.integer) ?? .null,
         "signal": compile.signal.map(JSON.integer) ?? .null,
         "time_ms": ["cpu": .integer(compile.cpuMillis), "wall": .integer(compile.wallMillis)],
         "memory_kb": .integer(compile.maxRSSKB), "truncated": .bool(compile.outputTruncated)]
    }

    private func resultJSON(status: ExecutionStatus, message: String?, run: StepReport?, compile: StepReport?) -> JSON {
        var result: JSON = ["job_id": .string(job.id), "status": .string(status.rawValue),
                            "message": message.map(JSON.string) ?? .null,
                            "language": .string(job.language), "runner_id": .string(runner.configuration.nodeID),
                            "stdout": .string(stdout.text), "stderr": .string(stderr.text),
                            "exit_code": run?.exitCode.map(JSON.integer) ?? .null,
                            "signal": run?.signal.map(JSON.integer) ?? .null,
                            "signal_name": run?.signal.map { .string(signalName($0)) } ?? .null,
                            "time_ms": ["cpu": .integer(run?.cpuMillis ?? 0), "wall": .integer(run?.wallMillis ?? 0)],
                            "memory_kb": .integer(run?.maxRSSKB ?? 0),
                            "truncated": .bool(stdout.truncated || stderr.truncated || outputLimitHit),
                            "stdout_truncated": .bool(stdout.truncated), "stderr_truncated": .bool(stderr.truncated),
                            "stdout_bytes": .integer(stdout.total), "stderr_bytes": .integer(stderr.total)]
        result.set("compile_output", compile.map { .string(compileOutput($0)) } ?? .null)
        result.set("compile", compile.map(compileJSON) ?? .null)
        result.set("limits", job.limits.json)
        result.set("attempt", .integer(job.attempt))
        result.set("total_wall_ms", .integer(wallMillis))
        return result
    }
}

func signalName(_ signal: Int) -> String {
    switch Int32(signal) {
    case SIGHUP: return "SIGHUP"
    case SIGINT: return "SIGINT"
    case SIGQUIT: return "SIGQUIT"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGKILL: return "SIGKILL"
    case SIGUSR1: return "SIGUSR1"
    case SIGSEGV: return "SIGSEGV"
    case SIGUSR2: return "SIGUSR2"
    case SIGPIPE: return "SIGPIPE"
    case SIGALRM: return "SIGALRM"
    case SIGTERM: return "SIGTERM"
    case SIGXCPU: return "SIGXCPU"
    case SIGXFSZ: return "SIGXFSZ"
    case SIGSYS: return "SIGSYS"
    default: return "signal \(signal)"
    }
}
