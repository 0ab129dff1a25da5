import CLibUV
import Interview
import Stores
import JSON
import Logging
import Redis
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// Everything a runner process can be told; `codeinterview runner --help` documents each field.
public struct RunnerConfiguration: Sendable {
    public var redis = RedisAddress.single(host: "127.0.0.1", port: 6379)
    /// This runner's id in the registry and in job ownership.
    public var nodeID = "runner"
    /// Jobs run at once.
    public var concurrency = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// Defaults (for jobs without limits) and maxima (every job is clamped to them), retention, attempts.
    public var execution = ExecutionSettings()
    /// Limits of the compile step of compiled languages.
    public var compileLimits = ExecutionLimits(cpuTimeMillis: 30_000, wallTimeMillis: 60_000, memoryKB: 2_097_152, processes: 256,
                                               fileSizeKB: 131_072, openFiles: 1_024, outputKB: 1_024)
    /// stdout and stderr are each kept up to this many bytes (the rest sets `truncated`).
    public var outputCaptureBytes = 64 * 1024
    /// Restricts the languages offered (nil: every toolchain that works here).
    public var languages: [String]?
    public var heartbeatMillis: UInt64 = 1_000
    /// How long the jobs of a runner that stopped heartbeating stay its own.
    public var leaseMillis = 5_000
    /// BLMOVE timeout: how quickly a waiting runner notices SIGTERM.
    public var pullTimeoutSeconds = 1
    public var bwrapPath = "/usr/bin/bwrap"
    /// The sandbox supervisor; empty: `codeinterview-sandbox` next to this executable.
    public var helperPath = ""
    /// Size of each of the sandbox's tmpfs (/work, /tmp and /dev/shm).
    public var tmpfsBytes = 256 * 1024 * 1024
    /// Files and directories each of them may hold (a runner that is root; else unbounded).
    public var tmpfsInodes = 16_384
    /// Used only when the runner runs as root: the range of uids (and gids) its job slots take
    /// theirs from, one per concurrent job; runners of one machine share the range (each locks
    /// the uids it takes), and nothing else may use it.
    public var firstSandboxUID: UInt32 = 60_000
    public var sandboxUIDCount = 256
    /// Give each job a cgroup (memory, pids, CPU) when the runner can make one; false: always
    /// poll /proc instead (what a runner that is not root gets).
    public var sandboxCgroups = true
    /// Where a runner that is root mounts each job's tmpfs, in the job's own mount namespace.
    public var sandboxMountRoot = "/run/codeinterview-sandbox"
    /// Job slots interactive runs may hold at once (the rest stay for runs that do not wait on a
    /// room's typing); nil: half of `concurrency`, at least 1.
    public var interactiveSlots: Int?
    /// An interactive run ends after this long without input or output.
    public var interactiveIdleMillis = 60_000
    /// An interactive run's wall-clock cap (its CPU time and the rest stay the job's limits).
    public var interactiveWallMillis = 900_000

    public init() {}
}

public struct RunnerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A runner process: one libuv loop; pulls jobs from Redis, runs them in bubblewrap, writes results.
///
/// Two Redis connections: `blocking` only ever carries BLMOVE (a blocking command would stall
/// every other command behind it), `redis` carries everything else (scripts, heartbeats, output).
public final class Runner {
    public private(set) var configuration: RunnerConfiguration
    let logger: Logger
    let loop: EventLoop
    private let redis: RedisConnection
    /// The job store and the node registry, over `redis` (the only place their replies are decoded).
    private let jobs: JobStore
    private let registry: RunnerRegistry
    private let blocking: RedisConnection
    private var signals: SignalWatcher?
    private var heartbeatTimer: LoopTimer?
    private var retryTimer: LoopTimer?
    /// Toolchains that work in the sandbox here, with their versions; set once probing is done.
    private var offered: [(toolchain: Toolchain, version: String)] = []
    private var ready = false
    private var pulling = false
    private var stopping = false
    private var closed = false
    /// Jobs this runner holds: pulled (claim in flight) or running.
    private var held: [String: Execution?] = [:]
    private var finishing: Set<String> = []
    private let startedAt = EventLoop.unixMillis()
    private var completed = 0
    private var hostName: String
    /// What every sandbox of this runner gets (settled at start: root or not, cgroups or not).
    private(set) var sandbox: SandboxSettings
    /// Job slots: each has its own uid and cgroup; a slot is busy while a sandbox of it runs.
    private var slotBusy: [Bool]
    private var slotsUsed: Set<Int> = []
    /// The locks on the slots' uids (see lockSlotUIDs), held for the runner's life.
    private var uidLocks: [Int32] = []
    private var slotWaiters: [() -> Void] = []

    public init(configuration: RunnerConfiguration, logger: Logger) throws {
        var configuration = configuration
        if configuration.helperPath.isEmpty { configuration.helperPath = Self.defaultHelperPath() }
        guard access(configuration.helperPath, X_OK) == 0 else {
            throw RunnerError("the sandbox supervisor \(configuration.helperPath) is missing or not executable (build it: swift build; or set --sandbox-helper)")
        }
        guard access(configuration.bwrapPath, X_OK) == 0 else {
            throw RunnerError("bubblewrap (\(configuration.bwrapPath)) is not installed; run scripts/setup or set --bwrap")
        }
        if let problem = configuration.execution.problem() { throw RunnerError(problem) }

        self.configuration = configuration
        self.logger = logger
        sandbox = SandboxSettings(bwrapPath: configuration.bwrapPath, helperPath: configuration.helperPath,
                                  tmpfsBytes: configuration.tmpfsBytes, tmpfsInodes: configuration.tmpfsInodes,
                                  mountRoot: nil, cgroups: nil)
        slotBusy = [Bool](repeating: false, count: configuration.concurrency)
        loop = EventLoop()
        redis = makeRedisClient(loop: loop, address: configuration.redis, logger: logger)
        var blockingLogger = logger
        blockingLogger[metadataKey: "connection"] = "blocking"
        blocking = makeRedisClient(loop: loop, address: configuration.redis, logger: blockingLogger)
        for script in ExecutionScripts.runner + TerminalScripts.all { redis.register(script) }
        redis.register(RedisFunctions.library)
        jobs = JobStore(redis: redis)
        registry = RunnerRegistry(redis: redis)
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        hostName = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try setUpSandboxLayers()
    }

    // MARK: Sandbox layers and job slots

    /// Settles which layers this runner's sandboxes get, and says what is missing.
    private func setUpSandboxLayers() throws {
        guard geteuid() == 0 else {
            logger.warning("""
                the runner is not root: every job runs as this user, without a cgroup (CPU time and memory are polled                 from /proc every 50 ms) and with tmpfs capped in size but not in inodes; see the README's sandbox section
                """)
            return
        }
        try lockSlotUIDs()
        var mountRoot: String? = configuration.sandboxMountRoot
        for directory in [configuration.sandboxMountRoot] + SandboxSettings.tmpfsMounts.map({ "\(configuration.sandboxMountRoot)/\($0.0)" }) {
            if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                logger.warning("cannot create \(directory) (\(String(cString: strerror(errno)))): the sandbox's tmpfs are capped in size but not in inodes")
                mountRoot = nil
                break
            }
        }
        sandbox.privileged = true
        sandbox.mountRoot = mountRoot
        guard configuration.sandboxCgroups else {
            logger.warning("job cgroups are off (--sandbox-cgroup off): CPU time and memory are polled from /proc every 50 ms; see the README's sandbox section")
            return
        }
        switch Self.makeCgroups(helper: configuration.helperPath, name: "codeinterview-runner-\(getpid())") {
        case .success(let cgroups):
            sandbox.cgroups = cgroups
            logger.info("job cgroups below \(cgroups.memory), \(cgroups.pids), \(cgroups.cpuacct)")
        case .failure(let error):
            logger.warning("""
                no job cgroup: \(error.description); CPU time and memory are polled from /proc every 50 ms instead \
                (weaker: see the README's sandbox section)
                """)
        }
    }

    /// Takes `concurrency` uids of the range for this runner's slots: a uid is taken while its
    /// lock file (below the mount root) is locked, by an open descriptor that dies with the runner.
    private func lockSlotUIDs() throws {
        let directory = configuration.sandboxMountRoot
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw RunnerError("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        var uid = configuration.firstSandboxUID
        let end = configuration.firstSandboxUID + UInt32(configuration.sandboxUIDCount)
        while sandbox.slotUIDs.count < configuration.concurrency && uid < end {
            let fd = open("\(directory)/uid-\(uid).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if fd >= 0 {
                if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                    sandbox.slotUIDs.append(uid)
                    uidLocks.append(fd)
                } else {
                    close(fd)
                }
            }
            uid += 1
        }
        guard sandbox.slotUIDs.count == configuration.concurrency else {
            for fd in uidLocks { close(fd) }
            throw RunnerError("""
                only \(sandbox.slotUIDs.count) uids of --sandbox-uids \(configuration.firstSandboxUID)-\(end - 1) are free \
                (the other runners of this machine hold the rest) for --concurrency \(configuration.concurrency); widen the range
                """)
        }
        logger.info("job slots run as uids \(sandbox.slotUIDs.map(String.init).joined(separator: ", "))")
        killLeftovers(of: Set(sandbox.slotUIDs))
    }

    /// Kills whatever still runs as these uids: nothing else may use them, so it can only be left
    /// over from a runner that died while starting a sandbox (bubblewrap's child waits forever for
    /// a parent that was killed in the instant after it was cloned).
    private func killLeftovers(of uids: Set<UInt32>) {
        guard let proc = opendir("/proc") else { return }
        defer { closedir(proc) }
        var killed = 0
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let uid = Self.realUID(of: pid), uids.contains(uid) else { continue }
            if Glibc.kill(pid, SIGKILL) == 0 { killed += 1 }
        }
        if killed > 0 { logger.notice("killed \(killed) process(es) left over in the job slots' uids") }
    }

    /// The real uid of a process, from /proc/PID/status (its /proc directory is root's when it is
    /// not dumpable, as bubblewrap and the supervisor are).
    static func realUID(of pid: Int32) -> UInt32? {
        let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
    }

    /// Runs `codeinterview-sandbox cgroups NAME` (before the loop starts) and reads its answer.
    static func makeCgroups(helper: String, name: String) -> Result<SandboxCgroups, RunnerError> {
        var pipeFDs: [Int32] = [0, 0]
        // (Before the loop and its threads start: nothing can spawn between pipe and fcntl.)
        guard pipe(&pipeFDs) == 0 else { return .failure(RunnerError("pipe: \(String(cString: strerror(errno)))")) }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup("cgroups"), strdup(name), nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, helper, &actions, nil, argv, nil)
        close(pipeFDs[1])
        defer { close(pipeFDs[0]) }
        guard status == 0 else { return .failure(RunnerError("cannot start \(helper): \(String(cString: strerror(status)))")) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(pipeFDs[0], &buffer, buffer.count)
            if n > 0 { output += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
        }
        var exitStatus: Int32 = 0
        while waitpid(pid, &exitStatus, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        var directories: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2 { directories[parts[0]] = parts[1] }
        }
        guard exitStatus == 0, let memory = directories["memory"], let pids = directories["pids"], let cpuacct = directories["cpuacct"] else {
            return .failure(RunnerError(text.trimmingWhitespace().isEmpty ? "codeinterview-sandbox cgroups failed" : text.trimmingWhitespace()))
        }
        return .success(SandboxCgroups(memory: memory, pids: pids, cpuacct: cpuacct))
    }

    /// A free job slot, or nil when every one is busy.
    func acquireSlot() -> Int? {
        guard let slot = slotBusy.firstIndex(of: false) else { return nil }
        slotBusy[slot] = true
        slotsUsed.insert(slot)
        return slot
    }

    /// The slot's sandbox has exited (all its processes are gone): the slot may be reused.
    func releaseSlot(_ slot: Int) {
        slotBusy[slot] = false
        if !slotWaiters.isEmpty { slotWaiters.removeFirst()() }
    }

    /// Removes the job cgroups this runner made (all empty once its sandboxes are gone).
    private func removeCgroups() {
        guard let cgroups = sandbox.cgroups else { return }
        for slot in slotsUsed {
            for directory in sandbox.cgroupDirectories(slot: slot) { rmdir(directory) }
        }
        for directory in cgroups.all where rmdir(directory) != 0 && errno != ENOENT {
            logger.warning("cannot remove the cgroup \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// `codeinterview-sandbox` in the directory of the running executable.
    static func defaultHelperPath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, 4095)
        guard length > 0 else { return "codeinterview-sandbox" }
        let path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory + "/codeinterview-sandbox"
    }

    /// Probes the toolchains, then serves until SIGTERM or SIGINT and the jobs it holds are done.
    public func run() throws {
        signals = SignalWatcher(loop: loop, signals: [SIGTERM, SIGINT]) { [unowned self] signum in self.stop(signum) }
        var failure: String?
        probe { [unowned self] results, reasons in
            let wanted = self.configuration.languages.map(Set.init)
            self.offered = results.filter { wanted?.contains($0.toolchain.id) ?? true }
            if self.offered.isEmpty {
                failure = "no language can run in the sandbox here"
                    + (wanted.map { " (asked for: \($0.sorted().joined(separator: ", ")))" } ?? "")
                    + "; check bubblewrap and the toolchains (scripts/setup installs them): " + reasons.joined(separator: "; ")
                self.signals?.close()
                return
            }
            self.logger.info("offering \(self.offered.map { "\($0.toolchain.id) \($0.version)" }.joined(separator: ", "))")
            if self.stopping { return self.shutdown() }
            self.ready = true
            self.redis.onStateChange = { [unowned self] up in
                if up { self.heartbeat() }
                self.pull()
            }
            self.blocking.onStateChange = { [unowned self] _ in self.pull() }
            self.redis.start()
            self.blocking.start()
            let timer = LoopTimer(loop: self.loop)
            self.heartbeatTimer = timer
            timer.start(after: self.configuration.heartbeatMillis, repeat: self.configuration.heartbeatMillis) { [unowned self] in
                self.heartbeat()
            }
        }
        logger.info("runner \(configuration.nodeID) starting: concurrency \(configuration.concurrency), Redis at \(configuration.redis)")
        loop.run()
        removeCgroups()
        if let failure { throw RunnerError(failure) }
        logger.info("runner \(configuration.nodeID) stopped after \(completed) job(s)")
    }

    // MARK: Toolchain detection

    /// Runs every toolchain's probe commands in the sandbox (all at once); offers those that exit 0.
    private func probe(_ completion: @escaping ([(toolchain: Toolchain, version: String)], [String]) -> Void) {
        var results: [String: String] = [:]
        var remaining = 0
        var reasons: [String] = []
        let limits = ExecutionLimits(cpuTimeMillis: 20_000, wallTimeMillis: 30_000, memoryKB: 2_097_152, processes: 256,
                                     fileSizeKB: 1_024, openFiles: 256, outputKB: 64)
        let wanted = configuration.languages.map(Set.init)
        for toolchain in Toolchain.all where wanted?.contains(toolchain.id) ?? true {
            var spec = SandboxSpec()
            spec.environment = ["PATH=\(SandboxSettings.path)", "HOME=\(SandboxSettings.workDirectory)", "TMPDIR=/tmp", "LANG=C.UTF-8"]
                + toolchain.environment
            for (index, command) in toolchain.probes.enumerated() {
                spec.steps.append(SandboxStep(name: "probe\(index)", arguments: command, limits: limits, stackKB: 8192,
                                              stdin: .none, capture: .merged(bytes: 4096)))
            }
            let process = SandboxProcess(loop: loop)
            remaining += 1
            var slot = -1
            var errors: [UInt8] = []
            process.onOutput = { stream, bytes in
                if stream == 2, errors.count < 500 { errors += bytes.prefix(500 - errors.count) }
            }
            process.onExit = { [unowned self] status, _, report in
                self.releaseSlot(slot)
                let passed = report.steps.count == toolchain.probes.count && report.steps.allSatisfy { $0.exitCode == 0 && $0.reason == "none" }
                if passed {
                    results[toolchain.id] = Toolchain.version(from: String(decoding: report.steps[0].output, as: UTF8.self))
                } else {
                    let why = report.error ?? report.steps.last.map { step in
                        step.reason == "exec" ? "\(toolchain.probes[report.steps.count - 1][0]) not found"
                            : "\(step.name) exited \(step.exitCode ?? -1): \(String(decoding: step.output.prefix(200), as: UTF8.self))"
                    } ?? "the sandbox did not start (exit status \(status)): "
                        + String(decoding: errors, as: UTF8.self).trimmingWhitespace()
                    reasons.append("\(toolchain.id): \(why)")
                    self.logger.info("not offering \(toolchain.id): \(why)")
                }
                remaining -= 1
                if remaining == 0 {
                    completion(Toolchain.all.compactMap { t in results[t.id].map { (t, $0) } }, reasons)
                }
            }
            // Each probe runs in a job slot of its own, like a job; with fewer slots than
            // toolchains, the rest wait for one.
            func launch() {
                guard let free = acquireSlot() else { return slotWaiters.append(launch) }
                slot = free
                do {
                    try process.start(arguments: sandbox.arguments(slot: free), stdin: [], spec: spec.bytes)
                } catch {
                    logger.error("cannot start the sandbox: \(error)")
                    releaseSlot(free)
                    reasons.append("\(toolchain.id): \(error)")
                    remaining -= 1
                    if remaining == 0 {
                        completion(Toolchain.all.compactMap { t in results[t.id].map { (t, $0) } }, reasons)
                    }
                }
            }
            launch()
        }
        if remaining == 0 { completion([], reasons + ["the sandbox could not be started"]) }
    }

    // MARK: Pulling

    /// Pulls the next job when there is room: parked jobs of offered languages first, then the queue.
    private func pull() {
        guard ready, !stopping, !pulling, held.count < configuration.concurrency,
              redis.isConnected, blocking.isConnected else { return }
        pulling = true
        let processing = ExecutionKeys.processing(configuration.nodeID)
        jobs.pullParked(runner: configuration.nodeID, languages: offered.map(\.toolchain.id)) { [unowned self] result in
            if case .success(let id?) = result {
                self.pulling = false
                self.pulled(id)
                return self.pull()
            }
            self.blocking.send(["BLMOVE", ExecutionKeys.queue, processing, "RIGHT", "LEFT", String(self.configuration.pullTimeoutSeconds)]) { [unowned self] result in
                self.pulling = false
                switch result {
                case .success(let value):
                    if let id = value.text { self.pulled(id) }
                    if self.stopping { return self.shutdownIfIdle() }
                    self.pull()
                case .failure(let error):
                    if self.stopping { return self.shutdownIfIdle() }
                    self.logger.warning("pulling a job failed: \(error); retrying")
                    self.retryPull()
                }
            }
        }
    }

    private func retryPull() {
        if retryTimer == nil { retryTimer = LoopTimer(loop: loop) }
        retryTimer?.start(after: 500) { [unowned self] in self.pull() }
    }

    /// A job moved into this runner's processing list: claim it (the script checks it is still there).
    private func pulled(_ id: String) {
        held[id] = .some(nil)
        let settings = configuration.execution
        let interactiveCap = configuration.interactiveSlots ?? max(1, configuration.concurrency / 2)
        let interactiveRunning = held.values.filter { $0?.job.interactive == true }.count
        jobs.claim(id: id, runner: configuration.nodeID, languages: offered.map(\.toolchain.id), maxAttempts: settings.maxAttempts,
                   retentionMillis: settings.retentionMillis, defaults: settings.defaults, maxima: settings.maxima,
                   interactiveAllowed: interactiveRunning < interactiveCap) { [unowned self] result in
            guard case .success(.run(let job)) = result,
                  let toolchain = self.offered.first(where: { $0.toolchain.id == job.language })?.toolchain else {
                switch result {
                case .failure(let error): self.logger.warning("claiming job \(id) failed: \(error)")
                case .success(let outcome): self.logger.info("job \(id): \(outcome.word)")
                }
                self.held[id] = nil
                if self.stopping { return self.shutdownIfIdle() }
                // A deferred interactive run may be the queue's only job: pull again shortly, not at once.
                if case .success(.deferred) = result { return self.retryPull() }
                return self.pull()
            }
            let kind = job.kind
            let execution = Execution(job: job, toolchain: toolchain, runner: self, logger: self.logger)
            self.held[id] = .some(execution)
            self.logger.info("running job \(id) (\(job.language)\(kind == .testRun ? ", \(job.tests.count) test cases" : ""), attempt \(job.attempt))")
            execution.start()
        }
    }

    // MARK: Results

    /// An interactive run ended: its session's terminal goes, on the connection that writes the
    /// result next (so once the room sees the result, another interactive run may start and late
    /// input is refused as run_finished).
    /// An interactive run's output into the session's terminal log (its timeline and record), on
    /// the connection that ends the terminal, so every chunk is logged before the run's terminal goes.
    func recordTerminalOutput(_ job: ClaimedJob, chunk: String) {
        guard job.interactive, let sessionID = job.sessionID else { return }
        Terminals(redis: redis).record(sessionID: sessionID, job: job.id, chunk: chunk, at: Int64(EventLoop.unixMillis())) { _ in }
    }

    func endTerminal(_ job: ClaimedJob) {
        guard job.interactive, let sessionID = job.sessionID else { return }
        Terminals(redis: redis).renew(sessionID: sessionID, job: job.id, ending: true) { _ in }
    }

    func publishOutput(_ job: ClaimedJob, frame: String) {
        jobs.output(job: job.id, runner: configuration.nodeID, attempt: job.attempt, frame: frame) { [unowned self] result in
            if case .success(false) = result, case .some(.some(let execution)) = self.held[job.id] {
                execution.cancel()
            }
        }
    }

    /// A test case finished: its result for the job's progress, and its test-case-result in both
    /// views (see ExecutionScripts.testCase). A job no longer this runner's is stopped.
    func publishTestCase(_ job: ClaimedJob, index: Int, result: JSON, full: JSON, candidate: JSON) {
        jobs.testCase(job: job.id, runner: configuration.nodeID, attempt: job.attempt, index: index, result: result.text,
                      full: full.text, candidate: candidate.text) { [unowned self] result in
            if case .success(false) = result, case .some(.some(let execution)) = self.held[job.id] {
                execution.cancel()
            }
        }
    }

    /// An execution ended: write its result (once; `finish` refuses a second), free the slot.
    func executionEnded(_ execution: Execution, outcome: JobOutcome?) {
        let id = execution.job.id
        guard let outcome else {
            held[id] = nil
            afterJob()
            return
        }
        completed += 1
        finish(id, outcome: outcome, attempt: 1)
    }

    private func finish(_ id: String, outcome: JobOutcome, attempt: Int) {
        let status = outcome.status
        jobs.finish(id: id, runner: configuration.nodeID, result: outcome.result.text, status: status, summary: outcome.summary.text,
                    candidateView: outcome.candidateView?.text, retentionMillis: configuration.execution.retentionMillis) { [unowned self] reply in
            switch reply {
            case .success(let stored):
                if stored {
                    self.logger.info("job \(id) finished: \(status)")
                } else {
                    self.logger.notice("job \(id) already had a result; this run's result was discarded")
                }
                self.held[id] = nil
                self.afterJob()
            case .failure(.redis(let error)) where error.isUnavailable && attempt < 30:
                // Keep holding the job (the lease keeps it ours) and write the result once Redis is back.
                self.logger.warning("writing the result of job \(id) failed: \(error); retrying")
                let timer = LoopTimer(loop: self.loop)
                timer.start(after: 1_000) { [unowned self] in
                    timer.close()
                    self.finish(id, outcome: outcome, attempt: attempt + 1)
                }
            case .failure(let error):
                self.logger.error("writing the result of job \(id) failed: \(error); the job will be requeued")
                self.held[id] = nil
                self.afterJob()
            }
        }
    }

    private func afterJob() {
        if stopping { return shutdownIfIdle() }
        pull()
    }

    // MARK: Heartbeat

    private var infoJSON: JSON {
        let running = held.values.filter { $0 != nil }.count
        return ["id": .string(configuration.nodeID), "host": .string(hostName), "pid": .integer(Int(getpid())),
                // A draining runner offers nothing, so gateways stop queueing jobs only it could run.
                "languages": .array(stopping ? [] : offered.map { ["id": .string($0.toolchain.id), "version": .string($0.version)] }),
                "running": .integer(running), "capacity": .integer(configuration.concurrency),
                "completed": .integer(completed), "draining": .bool(stopping),
                "started_at": .integer(Int(startedAt)), "heartbeat_at": .integer(Int(EventLoop.unixMillis()))]
    }

    /// Registers in the node registry and renews this runner's job lease; requeues what others left
    /// behind; cancels runs of jobs that are no longer this runner's.
    private func heartbeat() {
        guard ready, redis.isConnected, !closed else { return }
        registry.register(id: configuration.nodeID, leaseMillis: configuration.leaseMillis, info: infoJSON.text) { [logger] result in
            if case .failure(let error) = result { logger.warning("heartbeat failed: \(error)") }
        }
        let running = held.compactMap { id, execution in execution.map { (id: id, attempt: $0.job.attempt) } }
        jobs.heartbeat(runner: configuration.nodeID, leaseMillis: configuration.leaseMillis, held: Array(held.keys),
                       running: running) { [unowned self] result in
            guard case .success(let beat) = result else { return }
            if beat.requeued > 0 { self.logger.notice("requeued \(beat.requeued) job(s) of stopped runners") }
            for id in beat.lost {
                if case .some(.some(let execution)) = self.held[id] { execution.cancel() }
            }
        }
    }

    // MARK: Stopping

    private func stop(_ signum: Int32) {
        if stopping {
            logger.warning("second signal: stopping the sandboxes and exiting; held jobs go back to the queue when the lease runs out")
            for case .some(let execution) in held.values { execution.kill() }
            exit(1)
        }
        stopping = true
        logger.info("signal \(signum): no more jobs; finishing \(held.count) held job(s)")
        if !ready { return }
        heartbeat()
        shutdownIfIdle()
    }

    private func shutdownIfIdle() {
        guard stopping, !pulling, held.isEmpty, !closed else { return }
        shutdown()
    }

    /// Gives back anything left, leaves the registry, closes everything so the loop ends.
    private func shutdown() {
        guard !closed else { return }
        closed = true
        heartbeatTimer?.close()
        retryTimer?.close()
        let close = { [unowned self] in
            self.blocking.close { [unowned self] in
                self.redis.close { [unowned self] in
                    self.signals?.close()
                    self.signals = nil
                }
            }
        }
        guard ready, redis.isConnected else { return close() }
        jobs.release(runner: configuration.nodeID) { _ in }
        registry.deregister(id: configuration.nodeID) { _ in close() }
    }
}
