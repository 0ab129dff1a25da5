import ArgumentParser
import Interview
import Stores
import Logging
import Runner
#if canImport(Glibc)
import Glibc
#endif

struct RunnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runner",
        abstract: "Run code execution jobs from Redis in a bubblewrap sandbox.",
        discussion: """
        The runner detects which language toolchains work in its sandbox and offers those (GET /languages \
        shows what live runners offer). It pulls jobs from Redis (BLMOVE into its own processing list, \
        guarded by a lease it renews every second), runs up to --concurrency of them at once, and writes \
        each result once. SIGTERM or SIGINT stops pulling; jobs held are finished, then it exits 0 (a \
        second signal exits at once; the jobs return to the queue when the lease runs out).

        Every run: bubblewrap with new user, PID, IPC, UTS, mount, network and cgroup namespaces (no \
        network), /usr and a few files of /etc read-only, private tmpfs /work, /tmp and /dev/shm capped in \
        size (and, as root, in inodes), the rest of /dev read-only, a seccomp filter like Docker's default \
        profile, no capabilities, no descriptor but 0-2, --die-with-parent; rlimits on CPU time, data size, \
        processes, file size and open files; a wall-clock limit that kills the whole tree. A runner that is \
        root runs each concurrent job as its own uid (--sandbox-uids) in its own cgroup (memory with shared \
        memory and tmpfs, processes, CPU time of the whole tree); otherwise CPU time and memory are polled \
        from /proc every 50 ms. A job's limits come from the gateway (request within the gateway's maxima); \
        the runner clamps them to its own --max-* values. Compiled languages compile first, with the \
        --compile-* limits.
        """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var limits: LimitOptions

    @Option(help: "Jobs run at once (default: the number of cores).")
    var concurrency: Int = environment("CONCURRENCY", max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    @Option(help: "Comma-separated languages to offer (default: every toolchain that works here).")
    var languages: String = environment("LANGUAGES") ?? ""

    @Option(help: "CPU time of a compile step, in milliseconds.")
    var compileTimeLimit: Int = environment("COMPILE_TIME_LIMIT", 30_000)

    @Option(help: "Wall-clock time of a compile step, in milliseconds.")
    var compileWallTimeLimit: Int = environment("COMPILE_WALL_TIME_LIMIT", 60_000)

    @Option(help: "Memory of a compile step, in KiB.")
    var compileMemoryLimit: Int = environment("COMPILE_MEMORY_LIMIT", 2_097_152)

    @Option(help: "Bytes of stdout and of stderr kept per run (and per compile); beyond, the result says truncated.")
    var outputCaptureBytes: Int = environment("OUTPUT_CAPTURE_BYTES", 65_536)

    @Option(help: "Milliseconds an interactive run may go without input or output before it is stopped (idle_timeout).")
    var interactiveIdleTimeout: Int = environment("INTERACTIVE_IDLE_TIMEOUT", 60_000)

    @Option(help: "Job slots interactive runs may hold at once (default: half of --concurrency, at least 1); the rest stay for other runs.")
    var interactiveSlots: Int? = environment("INTERACTIVE_SLOTS").flatMap { Int($0) }

    @Option(help: "Wall-clock milliseconds an interactive run may last at most.")
    var interactiveWallLimit: Int = environment("INTERACTIVE_WALL_LIMIT", 900_000)

    @Option(help: "Milliseconds a runner's jobs stay its own without a heartbeat (then any node requeues them).")
    var lease: Int = environment("LEASE", 5_000)

    @Option(help: "Milliseconds between heartbeats.")
    var heartbeat: Int = environment("HEARTBEAT", 1_000)

    @Option(help: "Runs of one job at most (when runners keep dying on it); then it ends as internal_error.")
    var maxAttempts: Int = environment("MAX_ATTEMPTS", 3)

    @Option(help: "Seconds a finished job and its result are kept.")
    var retention: Int = environment("RETENTION", 86_400)

    @Option(help: "Path of bubblewrap.")
    var bwrap: String = environment("BWRAP") ?? "/usr/bin/bwrap"

    @Option(help: "Path of the sandbox supervisor (default: codeinterview-sandbox next to this executable).")
    var sandboxHelper: String = environment("SANDBOX_HELPER") ?? ""

    @Option(help: "Size of each of the sandbox's /work, /tmp and /dev/shm (each a private tmpfs), in MiB.")
    var sandboxTmpfsSize: Int = environment("SANDBOX_TMPFS_SIZE", 256)

    @Option(help: "Files and directories each of the sandbox's tmpfs may hold (a runner that is root).")
    var sandboxTmpfsInodes: Int = environment("SANDBOX_TMPFS_INODES", 16_384)

    @Option(help: "FIRST-LAST: the uids (and gids) job slots take theirs from when the runner runs as root, one per concurrent job (runners of one machine share the range: each locks those it takes); used by nothing else.")
    var sandboxUids: String = environment("SANDBOX_UIDS") ?? "60000-60255"

    @Option(help: "auto: a cgroup per job (memory, pids, CPU) when the runner can make one; off: poll /proc instead.")
    var sandboxCgroup: String = environment("SANDBOX_CGROUP") ?? "auto"

    func validate() throws {
        guard concurrency >= 1, concurrency <= 256 else { throw ValidationError("--concurrency must be 1...256") }
        guard compileTimeLimit >= 100, compileWallTimeLimit >= 100, compileMemoryLimit >= 16_384 else {
            throw ValidationError("--compile-time-limit and --compile-wall-time-limit must be at least 100 ms, --compile-memory-limit at least 16384 KiB")
        }
        guard outputCaptureBytes >= 1_024 else { throw ValidationError("--output-capture-bytes must be at least 1024") }
        guard lease >= 1_000, heartbeat >= 100, heartbeat * 2 <= lease else {
            throw ValidationError("--lease must be at least 1000 ms and at least twice --heartbeat (at least 100 ms)")
        }
        guard maxAttempts >= 1, retention >= 60, sandboxTmpfsSize >= 8 else {
            throw ValidationError("--max-attempts must be at least 1, --retention at least 60 s, --sandbox-tmpfs-size at least 8 MiB")
        }
        guard sandboxTmpfsInodes >= 64 else { throw ValidationError("--sandbox-tmpfs-inodes must be at least 64") }
        guard ["auto", "off"].contains(sandboxCgroup) else { throw ValidationError("--sandbox-cgroup must be auto or off") }
        let (_, count) = try sandboxUIDRange()
        guard count >= concurrency else {
            throw ValidationError("--sandbox-uids has \(count) uids for --concurrency \(concurrency); give it at least one per job")
        }
        _ = try limits.settings()
    }

    /// (first uid, how many) of --sandbox-uids.
    func sandboxUIDRange() throws -> (UInt32, Int) {
        let parts = sandboxUids.split(separator: "-").map { UInt32($0.trimmingWhitespace()) }
        guard parts.count == 2, let first = parts[0], let last = parts[1], first >= 1_000, last >= first, last < UInt32.max - 1 else {
            throw ValidationError("--sandbox-uids must be FIRST-LAST, uids of no user (at least 1000), e.g. 60000-60255")
        }
        return (first, Int(last - first) + 1)
    }

    func run() throws {
        var configuration = RunnerConfiguration()
        configuration.redis = try common.redisAddress()
        configuration.nodeID = common.nodeID
        configuration.concurrency = concurrency
        configuration.execution = try limits.settings()
        configuration.execution.maxAttempts = maxAttempts
        configuration.execution.retentionMillis = Int64(retention) * 1000
        configuration.compileLimits.cpuTimeMillis = compileTimeLimit
        configuration.compileLimits.wallTimeMillis = compileWallTimeLimit
        configuration.compileLimits.memoryKB = compileMemoryLimit
        configuration.outputCaptureBytes = outputCaptureBytes
        guard interactiveIdleTimeout >= 100, interactiveWallLimit >= 1_000 else {
            throw ValidationError("--interactive-idle-timeout must be at least 100 ms and --interactive-wall-limit at least 1000 ms")
        }
        configuration.interactiveIdleMillis = interactiveIdleTimeout
        configuration.interactiveWallMillis = interactiveWallLimit
        if let interactiveSlots {
            guard interactiveSlots >= 0, interactiveSlots <= concurrency else {
                throw ValidationError("--interactive-slots must be from 0 to --concurrency (\(concurrency))")
            }
            configuration.interactiveSlots = interactiveSlots
        }
        let wanted = languages.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        for id in wanted where Language.named(id) == nil {
            throw ValidationError("--languages: '\(id)' is not a language; use some of \(Language.ids.joined(separator: ", "))")
        }
        configuration.languages = wanted.isEmpty ? nil : wanted
        configuration.leaseMillis = lease
        configuration.heartbeatMillis = UInt64(heartbeat)
        configuration.bwrapPath = bwrap
        configuration.helperPath = sandboxHelper
        configuration.tmpfsBytes = sandboxTmpfsSize * 1024 * 1024
        configuration.tmpfsInodes = sandboxTmpfsInodes
        (configuration.firstSandboxUID, configuration.sandboxUIDCount) = try sandboxUIDRange()
        configuration.sandboxCgroups = sandboxCgroup == "auto"
        let logger = try common.makeLogger("codeinterview.runner")
        do {
            let runner = try Runner(configuration: configuration, logger: logger)
            try runner.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}

/// Execution limits: the defaults a job gets and the most a request may ask for. Gateways
/// validate requests against them (422 naming the field); runners clamp every job to the maxima.
/// Give gateways and runners the same values.
struct LimitOptions: ParsableArguments {
    @Option(help: "Default CPU time of a run, in milliseconds.")
    var cpuTimeLimit: Int = environment("CPU_TIME_LIMIT", ExecutionLimits.defaults.cpuTimeMillis)
    @Option(help: "Most CPU time a request may ask for, in milliseconds.")
    var maxCpuTimeLimit: Int = environment("MAX_CPU_TIME_LIMIT", ExecutionLimits.maxima.cpuTimeMillis)

    @Option(help: "Default wall-clock time of a run, in milliseconds.")
    var wallTimeLimit: Int = environment("WALL_TIME_LIMIT", ExecutionLimits.defaults.wallTimeMillis)
    @Option(help: "Most wall-clock time a request may ask for, in milliseconds.")
    var maxWallTimeLimit: Int = environment("MAX_WALL_TIME_LIMIT", ExecutionLimits.maxima.wallTimeMillis)

    @Option(help: "Default memory of a run, in KiB.")
    var memoryLimit: Int = environment("MEMORY_LIMIT", ExecutionLimits.defaults.memoryKB)
    @Option(help: "Most memory a request may ask for, in KiB.")
    var maxMemoryLimit: Int = environment("MAX_MEMORY_LIMIT", ExecutionLimits.maxima.memoryKB)

    @Option(help: "Default processes and threads of a run.")
    var processLimit: Int = environment("PROCESS_LIMIT", ExecutionLimits.defaults.processes)
    @Option(help: "Most processes and threads a request may ask for.")
    var maxProcessLimit: Int = environment("MAX_PROCESS_LIMIT", ExecutionLimits.maxima.processes)

    @Option(help: "Default largest file a run may write, in KiB.")
    var fileSizeLimit: Int = environment("FILE_SIZE_LIMIT", ExecutionLimits.defaults.fileSizeKB)
    @Option(help: "Largest file size a request may ask for, in KiB.")
    var maxFileSizeLimit: Int = environment("MAX_FILE_SIZE_LIMIT", ExecutionLimits.maxima.fileSizeKB)

    @Option(help: "Default open files per process.")
    var openFilesLimit: Int = environment("OPEN_FILES_LIMIT", ExecutionLimits.defaults.openFiles)
    @Option(help: "Most open files a request may ask for.")
    var maxOpenFilesLimit: Int = environment("MAX_OPEN_FILES_LIMIT", ExecutionLimits.maxima.openFiles)

    @Option(help: "Default output (stdout + stderr) a run may write before it is stopped, in KiB.")
    var outputLimit: Int = environment("OUTPUT_LIMIT", ExecutionLimits.defaults.outputKB)
    @Option(help: "Most output a request may ask for, in KiB.")
    var maxOutputLimit: Int = environment("MAX_OUTPUT_LIMIT", ExecutionLimits.maxima.outputKB)

    func settings() throws -> ExecutionSettings {
        var settings = ExecutionSettings()
        settings.defaults = ExecutionLimits(cpuTimeMillis: cpuTimeLimit, wallTimeMillis: wallTimeLimit, memoryKB: memoryLimit,
                                            processes: processLimit, fileSizeKB: fileSizeLimit, openFiles: openFilesLimit,
                                            outputKB: outputLimit)
        settings.maxima = ExecutionLimits(cpuTimeMillis: maxCpuTimeLimit, wallTimeMillis: maxWallTimeLimit, memoryKB: maxMemoryLimit,
                                          processes: maxProcessLimit, fileSizeKB: maxFileSizeLimit, openFiles: maxOpenFilesLimit,
                                          outputKB: maxOutputLimit)
        if let problem = settings.problem() { throw ValidationError("execution limits: \(problem)") }
        return settings
    }
}

/// The gateway's execution options (see LimitOptions for the limits).
struct GatewayExecutionOptions: ParsableArguments {
    @OptionGroup var limits: LimitOptions

    @Option(help: "Jobs waiting in the queue at most; beyond, POST /execute answers 503 with Retry-After.")
    var maxQueuedJobs: Int = environment("MAX_QUEUED_JOBS", 1_000)

    @Option(help: "Seconds POST /execute waits for the result before answering 202 with the job id.")
    var executeWait: Double = environment("EXECUTE_WAIT", 60)

    @Option(help: "Largest stdin of a run, in bytes (413 above).")
    var maxStdinBytes: Int = environment("MAX_STDIN_BYTES", 262_144)

    @Option(help: "Executions listed per session by GET /sessions/{id}/executions.")
    var executionHistoryLimit: Int = environment("EXECUTION_HISTORY_LIMIT", 50)

    @Option(help: "Seconds a job and its result are kept.")
    var executionRetention: Int = environment("EXECUTION_RETENTION", 86_400)

    func settings(maxCodeBytes: Int) throws -> ExecutionSettings {
        guard maxQueuedJobs >= 1, executeWait >= 0, maxStdinBytes >= 0, executionHistoryLimit >= 1, executionRetention >= 60 else {
            throw ValidationError("--max-queued-jobs and --execution-history-limit must be positive, --execute-wait and --max-stdin-bytes not negative, --execution-retention at least 60 s")
        }
        var settings = try limits.settings()
        settings.maxQueuedJobs = maxQueuedJobs
        settings.waitMillis = Int64(executeWait * 1000)
        settings.maxStdinBytes = maxStdinBytes
        settings.maxCodeBytes = maxCodeBytes
        settings.sessionHistoryLimit = executionHistoryLimit
        settings.retentionMillis = Int64(executionRetention) * 1000
        return settings
    }
}
