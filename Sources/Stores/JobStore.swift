import Interview
import JSON
import Redis

extension RedisConnection {
    /// Runs a job script that publishes session events (claim, output, testCase, finish): they
    /// answer {result, {channel, message, ...}}, and the events are SPUBLISHed here, each to its
    /// session's slot, after the script's change is in (on Redis Cluster a script in the {jobs} slot
    /// cannot publish to a session's). One connection per node keeps them in the scripts' order.
    /// Completes with the script's own result.
    public func runPublishing(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping Completion) {
        run(script, keys: keys, arguments: arguments) { [weak self] result in
            guard case .success(let value) = result, let parts = value.array, parts.count == 2 else { return completion(result) }
            let events = parts[1].array ?? []
            for index in stride(from: 0, to: events.count - 1, by: 2) {
                guard let channel = events[index].bytes, let message = events[index + 1].bytes else { continue }
                self?.send(bytes: [Array("SPUBLISH".utf8), channel, message]) { _ in }
            }
            completion(.success(parts[0]))
        }
    }
}

/// The job life cycle, one Lua script per state change (so gateways and runners racing each other
/// cannot break job ownership or write two results):
///
///   submit ─► queued ──BLMOVE──► (held, still queued) ──claim──► running ──finish──► done
///                ▲                      │ language not offered: parked      │
///                └──── requeue ◄────────┴── lease expired / not tracked ◄──┘
///
/// A result is written once: `finish` refuses a job that already has one, so a second run of a
/// requeued job can neither store nor publish a second result. A job claimed `maxAttempts` times
/// without a result ends as internal_error. The scripts are Lua/execution_*.lua (each with its
/// KEYS and ARGS in its header); their arguments are built and their replies decoded by JobStore.
public enum ExecutionScripts {
    private static func job(_ name: String, _ body: [UInt8]) -> RedisScript { RedisScripts.job(name, body) }

    public static let submit = job("execution_submit", PackageResources.execution_submit_lua)
    public static let claim = job("execution_claim", PackageResources.execution_claim_lua)
    public static let output = job("execution_output", PackageResources.execution_output_lua)
    public static let testCase = job("execution_test_case", PackageResources.execution_test_case_lua)
    public static let finish = job("execution_finish", PackageResources.execution_finish_lua)
    public static let pullParked = job("execution_pull_parked", PackageResources.execution_pull_parked_lua)
    public static let heartbeat = job("execution_heartbeat", PackageResources.execution_heartbeat_lua)
    public static let release = job("execution_release", PackageResources.execution_release_lua)
    public static let sessionJobs = job("execution_session_jobs", PackageResources.execution_session_jobs_lua)
    public static let testRun = job("execution_test_run", PackageResources.execution_test_run_lua)
    /// The node registry's (NodeKeys), not the job layer's: KEYS runners and runner-info.
    public static let registerRunner = RedisScripts.script("runner_register", PackageResources.runner_register_lua)
    public static let deregisterRunner = RedisScripts.script("runner_deregister", PackageResources.runner_deregister_lua)
    /// A session script without the session layer: KEYS SessionKeys.all.
    public static let sessionContext = RedisScripts.script("execution_session_context", PackageResources.execution_session_context_lua)

    /// What a gateway loads.
    public static let gateway: [RedisScript] = [submit, sessionJobs, sessionContext, testRun]
    /// What a runner loads.
    public static let runner: [RedisScript] = [claim, output, testCase, finish, pullParked, heartbeat, release, registerRunner,
                                               deregisterRunner]
}

/// A job as a runner claimed it: what the claim script answers, decoded.
public struct ClaimedJob: Sendable {
    public let id: String
    public let language: String
    public let code: String
    public let stdin: String
    /// The stored limits over the runner's defaults, clamped to its maxima.
    public let limits: ExecutionLimits
    public let sessionID: String?
    public let userID: String?
    public let attempt: Int
    public let startedAt: Int64
    public let kind: JobKind
    /// A test run's cases, in run order (visible first), and how their output is compared.
    public let tests: [TestCase]
    public let compare: OutputComparison
    /// An interactive run: on a terminal, its input from the session's terminal stream.
    public var interactive = false
    /// An interactive run of the language's REPL, the code loaded first.
    public var repl = false
}

/// What a claim came to.
public enum ClaimOutcome: Sendable {
    /// The job is this runner's to run.
    case run(ClaimedJob)
    /// Nothing to run: the job left the processing list or expired (gone), already has its result
    /// (done), is of a language this runner does not offer (bounce: parked for one that does), or
    /// was started too often (failed: it ended as internal_error).
    case gone, done, bounce, failed
    /// An interactive run while the runner's interactive slots were taken: back in the queue.
    case deferred

    public var word: String {
        switch self {
        case .run: return "run"
        case .gone: return "gone"
        case .done: return "done"
        case .bounce: return "bounce"
        case .failed: return "failed"
        case .deferred: return "deferred"
        }
    }
}

/// Why a job store call failed: Redis could not answer, a script refused (the error vocabulary),
/// or a reply was not what the script's contract says.
public enum JobStoreError: Error, Sendable {
    case redis(RedisError)
    /// submit: the queue holds `depth` jobs, its bound.
    case busy(depth: Int)
    case unexpectedReply(String)
}

/// The execution job store: the `{jobs}` keys (ExecutionKeys), the job scripts (ExecutionScripts),
/// their typed arguments and typed replies. Every job script's ARGV begins with
/// ExecutionKeys.schema (added here); nothing outside this type decodes a job script's reply.
public struct JobStore {
    public let redis: RedisConnection

    public init(redis: RedisConnection) { self.redis = redis }

    private func run(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping RedisConnection.Completion) {
        redis.run(script, keys: keys, arguments: ExecutionKeys.schema + arguments, completion)
    }

    private func runPublishing(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping RedisConnection.Completion) {
        redis.runPublishing(script, keys: keys, arguments: ExecutionKeys.schema + arguments, completion)
    }

    /// A 0/1 reply as a Bool.
    private static func flag(_ result: Result<RedisValue, RedisError>) -> Result<Bool, JobStoreError> {
        switch result {
        case .success(let value):
            guard let number = value.integer else { return .failure(.unexpectedReply("\(value)")) }
            return .success(number == 1)
        case .failure(let error): return .failure(.redis(error))
        }
    }

    // MARK: The gateway's side

    /// Queues job `id`. Completes with its created_at (Redis time, ms) and the queue's depth with it.
    public func submit(id: String, _ request: ExecutionRequest, settings: ExecutionSettings,
                       _ completion: @escaping (Result<(createdAt: Int64, depth: Int), JobStoreError>) -> Void) {
        var arguments = [id, request.language, request.code, request.stdin, request.limits.json.text,
                         request.sessionID ?? "", request.userID ?? "", request.userName ?? "",
                         String(settings.maxQueuedJobs), String(settings.retentionMillis),
                         String(settings.sessionHistoryLimit), Language.ids.joined(separator: ",")]
        if let run = request.testRun {
            arguments += [JobKind.testRun.rawValue, run.testsJSON.text, run.compare.rawValue, run.casesJSON.text, String(run.tests.count)]
        } else if request.interactive {
            arguments += ["", "", "", "", "", request.repl ? "repl" : "1"]
        }
        runPublishing(ExecutionScripts.submit, keys: [ExecutionKeys.queue, ExecutionKeys.job(id)], arguments: arguments) { result in
            switch result {
            case .success(let value):
                let numbers = (value.array ?? []).compactMap(\.integer)
                guard numbers.count == 2 else { return completion(.failure(.unexpectedReply("\(value)"))) }
                completion(.success((Int64(numbers[0]), numbers[1])))
            case .failure(let error):
                if case .busy(let depth)? = ScriptError(error) { return completion(.failure(.busy(depth: depth ?? settings.maxQueuedJobs))) }
                completion(.failure(.redis(error)))
            }
        }
    }

    /// The newest `count` jobs of one of a session's lists (ExecutionKeys.session or .testRuns),
    /// newest first: each job's id and fields (no code, stdin, tests or output).
    public func sessionJobs(list: String, count: Int,
                            _ completion: @escaping (Result<[(id: String, fields: [String: String])], RedisError>) -> Void) {
        run(ExecutionScripts.sessionJobs, keys: [list], arguments: [String(count)]) { result in
            completion(result.map { value in
                (value.array ?? []).compactMap { entry in
                    guard let items = entry.array, let id = items.first?.text else { return nil }
                    return (id, pairs(Array(items.dropFirst())))
                }
            })
        }
    }

    /// A test run's fields (not its code or tests), with its finished cases' results while it runs;
    /// empty when there is no such job.
    public func testRun(id: String, _ completion: @escaping (Result<[String: String], RedisError>) -> Void) {
        run(ExecutionScripts.testRun, keys: [ExecutionKeys.job(id)], arguments: []) { result in
            completion(result.map { pairs($0.array ?? []) })
        }
    }

    // MARK: The runner's side

    /// Moves one parked job of `languages` into `runner`'s processing list: its id, or nil.
    public func pullParked(runner: String, languages: [String], _ completion: @escaping (Result<String?, RedisError>) -> Void) {
        run(ExecutionScripts.pullParked, keys: [ExecutionKeys.processing(runner)], arguments: languages) { result in
            completion(result.map(\.text))
        }
    }

    /// Claims job `id`, which `runner` pulled into its processing list. `languages`: those the
    /// runner offers; the job's stored limits are read over `defaults` and clamped to `maxima`.
    public func claim(id: String, runner: String, languages: [String], maxAttempts: Int, retentionMillis: Int64,
                      defaults: ExecutionLimits, maxima: ExecutionLimits, interactiveAllowed: Bool = true,
                      _ completion: @escaping (Result<ClaimOutcome, JobStoreError>) -> Void) {
        let offered = "," + languages.joined(separator: ",") + ","
        let arguments = [id, runner, offered, String(maxAttempts), String(retentionMillis), interactiveAllowed ? "1" : "0"]
        runPublishing(ExecutionScripts.claim, keys: [ExecutionKeys.processing(runner)], arguments: arguments) { result in
            switch result {
            case .success(let value):
                completion(Self.claimOutcome(id: id, value, defaults: defaults, maxima: maxima))
            case .failure(let error):
                completion(.failure(.redis(error)))
            }
        }
    }

    /// The claim script's reply: {'run', language, code, stdin, limits, session id, attempt,
    /// started_at, user id, kind, tests, compare}, or {'gone'|'done'|'bounce'|'failed'}.
    static func claimOutcome(id: String, _ value: RedisValue, defaults: ExecutionLimits,
                             maxima: ExecutionLimits) -> Result<ClaimOutcome, JobStoreError> {
        let parts = (value.array ?? []).map { $0.text ?? "" }
        switch parts.first {
        case "gone": return .success(.gone)
        case "done": return .success(.done)
        case "bounce": return .success(.bounce)
        case "failed": return .success(.failed)
        case "deferred": return .success(.deferred)
        case "run" where parts.count >= 12:
            func optional(_ text: String) -> String? { text.isEmpty ? nil : text }
            let kind = JobKind(rawValue: parts[9]) ?? .execution
            let interactive = parts.count > 12 && (parts[12] == "1" || parts[12] == "repl")
            let stored = ExecutionLimits(json: try? JSON.parse(parts[4]), fallback: defaults)
            return .success(.run(ClaimedJob(id: id, language: parts[1], code: parts[2], stdin: parts[3],
                                            limits: stored.clamped(to: maxima), sessionID: optional(parts[5]),
                                            userID: optional(parts[8]), attempt: Int(parts[6]) ?? 1,
                                            startedAt: Int64(parts[7]) ?? 0, kind: kind,
                                            tests: kind == .testRun ? TestRunSpec.tests(json: try? JSON.parse(parts[10])) : [],
                                            compare: OutputComparison(rawValue: parts[11]) ?? .default, interactive: interactive,
                                            repl: parts.count > 12 && parts[12] == "repl")))
        default:
            return .failure(.unexpectedReply("\(value)"))
        }
    }

    /// Publishes an execution-output frame of `job` while it is still `runner`'s at `attempt`:
    /// false when it is not (requeued, or finished elsewhere).
    public func output(job: String, runner: String, attempt: Int, frame: String,
                       _ completion: @escaping (Result<Bool, JobStoreError>) -> Void) {
        runPublishing(ExecutionScripts.output, keys: [ExecutionKeys.job(job)], arguments: [runner, String(attempt), frame]) {
            completion(Self.flag($0))
        }
    }

    /// Keeps and publishes the result of case `index` of test run `job` (`result` for its progress,
    /// `full` for the interviewers, `candidate` for the candidates) while it is still `runner`'s:
    /// false when it is not.
    public func testCase(job: String, runner: String, attempt: Int, index: Int, result: String, full: String, candidate: String,
                         _ completion: @escaping (Result<Bool, JobStoreError>) -> Void) {
        runPublishing(ExecutionScripts.testCase, keys: [ExecutionKeys.job(job)],
                      arguments: [runner, String(attempt), String(index), result, full, candidate]) { completion(Self.flag($0)) }
    }

    /// Writes job `id`'s one result (and, for a test run, its candidate view) and takes it off
    /// `runner`'s processing list: true when stored, false when the job already had a result or is gone.
    public func finish(id: String, runner: String, result: String, status: String, summary: String, candidateView: String?,
                       retentionMillis: Int64, _ completion: @escaping (Result<Bool, JobStoreError>) -> Void) {
        var arguments = [id, result, status, summary, String(retentionMillis)]
        if let candidateView { arguments.append(candidateView) }
        runPublishing(ExecutionScripts.finish, keys: [ExecutionKeys.job(id), ExecutionKeys.processing(runner)],
                      arguments: arguments) { completion(Self.flag($0)) }
    }

    /// Renews `runner`'s lease; requeues what its processing list holds beyond `held` and the jobs of
    /// runners whose lease ran out. Completes with how many were requeued and which of `running`
    /// (job id, attempt) are no longer this runner's.
    public func heartbeat(runner: String, leaseMillis: Int, held: [String], running: [(id: String, attempt: Int)],
                          _ completion: @escaping (Result<(requeued: Int, lost: [String]), JobStoreError>) -> Void) {
        let heldIDs = "," + held.joined(separator: ",") + ","
        let runs = running.map { "\($0.id):\($0.attempt)" }.joined(separator: ",")
        runPublishing(ExecutionScripts.heartbeat, keys: [ExecutionKeys.leases, ExecutionKeys.processing(runner)],
            arguments: [runner, String(leaseMillis), heldIDs, runs]) { result in
            switch result {
            case .success(let value):
                guard let parts = value.array, parts.count == 2, let requeued = parts[0].integer else {
                    return completion(.failure(.unexpectedReply("\(value)")))
                }
                completion(.success((requeued, (parts[1].array ?? []).compactMap(\.text))))
            case .failure(let error):
                completion(.failure(.redis(error)))
            }
        }
    }

    /// A runner leaving cleanly gives back whatever it still holds: how many jobs were requeued.
    public func release(runner: String, _ completion: @escaping (Result<Int, RedisError>) -> Void) {
        runPublishing(ExecutionScripts.release, keys: [ExecutionKeys.leases, ExecutionKeys.processing(runner)], arguments: [runner]) { result in
            completion(result.map { $0.array?.first?.integer ?? 0 })
        }
    }
}

/// The runners' side of the node registry (NodeKeys.runners, NodeKeys.runnerInfo).
public struct RunnerRegistry {
    public let redis: RedisConnection

    public init(redis: RedisConnection) { self.redis = redis }

    /// Registers (or renews) runner `id` for `leaseMillis` with its info JSON; forgets runners
    /// silent for a minute. Completes with Redis' time (ms).
    public func register(id: String, leaseMillis: Int, info: String, _ completion: @escaping (Result<Int64, RedisError>) -> Void) {
        redis.run(ExecutionScripts.registerRunner, keys: [NodeKeys.runners, NodeKeys.runnerInfo],
                  arguments: [id, String(leaseMillis), info]) { result in
            completion(result.map { Int64($0.integer ?? 0) })
        }
    }

    public func deregister(id: String, _ completion: @escaping (Result<Void, RedisError>) -> Void) {
        redis.run(ExecutionScripts.deregisterRunner, keys: [NodeKeys.runners, NodeKeys.runnerInfo], arguments: [id]) { result in
            completion(result.map { _ in () })
        }
    }
}
