import Interview
import JSON
import Redis

/// The gateway's side of code execution: validates requests, queues jobs, reads jobs and a
/// session's executions. Every change is one script call (see ExecutionScripts).
public final class Executions {
    public let redis: RedisConnection
    public let settings: ExecutionSettings
    /// Runs of the session's document read its text here (a snapshot plus the ops after it).
    private let documents: Documents
    /// The jobs' keys, scripts and replies.
    let jobs: JobStore

    public init(redis: RedisConnection, settings: ExecutionSettings) {
        self.redis = redis
        self.settings = settings
        documents = Documents(redis: redis, settings: SessionSettings())
        jobs = JobStore(redis: redis)
        for script in ExecutionScripts.gateway { redis.register(script) }
        redis.register(Self.slotsScript)
        redis.register(RedisFunctions.library)
    }

    /// Why a job was not queued.
    public enum SubmitFailure: Error, Sendable {
        /// The queue holds `depth` jobs, its bound.
        case busy(depth: Int)
        case failed(InterviewError)
    }

    /// A job id: "j_" and 24 hex digits (96 random bits: GET /executions/{id} needs no token).
    public static func jobID() -> String { "j_" + Identifiers.hex(Identifiers.randomBytes(12)) }

    public static func isJobID(_ text: String) -> Bool { Identifiers.isHexID(text, prefix: "j_", digits: 24) }

    // MARK: Validation

    /// The request's `limits` object over the defaults; each field within its minimum and the
    /// server's maximum, or a 422 naming `limits.<field>`.
    public func validLimits(_ json: JSON?) throws(InterviewError) -> ExecutionLimits {
        var limits = settings.defaults
        guard let json, !json.isNull else { return limits }
        guard let members = json.objectValue else { throw .invalid("limits", "limits must be an object, not \(json.typeName)") }
        let names = ExecutionLimits.fields.map(\.name)
        for (key, value) in members {
            let path = "limits.\(key)"
            guard let field = ExecutionLimits.fields.first(where: { $0.name == key }) else {
                throw .invalid(path, "\(path) is not a limit; the limits are \(names.joined(separator: ", "))")
            }
            if value.isNull { continue }
            guard let number = value.intValue else { throw .invalid(path, "\(path) must be an integer, not \(value.typeName)") }
            let high = settings.maxima[keyPath: field.path]
            guard number >= field.minimum, number <= high else {
                throw .invalid(path, "\(path) must be between \(field.minimum) and \(high) (the server's maximum), not \(number)")
            }
            limits[keyPath: field.path] = number
        }
        return limits
    }

    public func validCode(_ code: String, field: String = "code") throws(InterviewError) -> String {
        guard code.utf8.count <= settings.maxCodeBytes else {
            throw InterviewError(.tooLarge, "\(field) is \(code.utf8.count) bytes; the limit is \(settings.maxCodeBytes) bytes", field: field)
        }
        // A NUL is no part of any program's text, and compilers and the sandbox's files would cut or reject it.
        if let offset = code.utf8.firstIndex(of: 0).map({ code.utf8.distance(from: code.utf8.startIndex, to: $0) }) {
            throw InterviewError.invalid(field, "\(field) contains a NUL byte (at byte \(offset)); source code must be text without NUL characters")
        }
        return code
    }

    public func validStdin(_ stdin: String) throws(InterviewError) -> String {
        guard stdin.utf8.count <= settings.maxStdinBytes else {
            throw InterviewError(.tooLarge, "stdin is \(stdin.utf8.count) bytes; the limit is \(settings.maxStdinBytes) bytes", field: "stdin")
        }
        return stdin
    }

    // MARK: Operations

    /// Queues a job. Completes with the queued job (state queued) or why it was not queued.
    public func submit(_ request: ExecutionRequest, _ completion: @escaping (Result<ExecutionJob, SubmitFailure>) -> Void) {
        let id = request.jobID ?? (request.testRun == nil ? Self.jobID() : Self.testRunID())
        jobs.submit(id: id, request, settings: settings) { result in
            switch result {
            case .success(let submitted):
                let created = submitted.createdAt
                var fields = ["state": "queued", "language": request.language, "created_at": String(created),
                              "limits": request.limits.json.text, "attempts": "0"]
                fields["session_id"] = request.sessionID
                fields["user_id"] = request.userID
                fields["user_name"] = request.userName
                if let run = request.testRun {
                    fields["kind"] = JobKind.testRun.rawValue
                    fields["compare"] = run.compare.rawValue
                    fields["cases"] = run.casesJSON.text
                    fields["total"] = String(run.tests.count)
                }
                guard let job = ExecutionJob(id: id, fields: fields) else {
                    return completion(.failure(.failed(InterviewError(.internalError, "could not describe the queued job"))))
                }
                completion(.success(job))
            case .failure(.busy(let depth)):
                completion(.failure(.busy(depth: depth)))
            case .failure(.redis(let error)):
                completion(.failure(.failed(translate(error))))
            case .failure(.unexpectedReply(let reply)):
                completion(.failure(.failed(InterviewError(.internalError, "the submit script returned an unexpected reply: \(reply)"))))
            }
        }
    }

    /// A job, or nil when there is no such job (never was, or expired).
    public func job(_ id: String, _ completion: @escaping (Result<ExecutionJob?, InterviewError>) -> Void) {
        redis.send(["HGETALL", ExecutionKeys.job(id)]) { result in
            switch result {
            case .success(let value):
                completion(.success(ExecutionJob(id: id, fields: pairs(value.array ?? []))))
            case .failure(let error):
                completion(.failure(translate(error)))
            }
        }
    }

    /// Who asks, in a session that is live (or, for reading, ended): the token (if any) belongs to it.
    public struct SessionAccess: Sendable {
        public var language: String
        public var userID: String?
        public var userName: String?
        /// "host", the participant's role, or nil without a token.
        public var role: String?
        /// The session's question JSON, when asked for and set.
        public var question: String?

        /// The host token or an interviewer's participant token (who may see hidden tests).
        public var isInterviewer: Bool { role == "host" || role == Role.interviewer.rawValue }
    }

    /// What running in a session needs: the access, and the session's document.
    public struct SessionContext: Sendable {
        public var code: String
        public var access: SessionAccess
        public var language: String { access.language }
        public var userID: String? { access.userID }
        public var userName: String? { access.userName }
    }

    /// The checks of the session and the token, with the role and optionally the question, in one
    /// script (so the question is the one of the moment the checks passed). `forReading` allows
    /// sessions that have ended (their history stays readable).
    public func sessionAccess(_ sessionID: String, tokenHash: String, forReading: Bool = false, withQuestion: Bool = false,
                              _ completion: @escaping (Result<SessionAccess, InterviewError>) -> Void) {
        redis.run(ExecutionScripts.sessionContext, keys: SessionKeys(sessionID).all,
                  arguments: [tokenHash, forReading ? "read" : "run", withQuestion ? "1" : "0"]) { result in
            switch result {
            case .success(let value):
                let parts = (value.array ?? []).map { $0.text ?? "" }
                guard parts.count == 7 else {
                    return completion(.failure(InterviewError(.internalError, "the session context script returned an unexpected reply")))
                }
                func optional(_ text: String) -> String? { text.isEmpty ? nil : text }
                completion(.success(SessionAccess(language: parts[1], userID: optional(parts[2]), userName: optional(parts[3]),
                                                  role: optional(parts[4]), question: parts[5] == "1" ? parts[6] : nil)))
            case .failure(let error):
                completion(.failure(translate(error, session: sessionID)))
            }
        }
    }

    /// The access and the session's document, both in one round trip: the checks, then the text.
    public func sessionContext(_ sessionID: String, tokenHash: String, forReading: Bool = false, withQuestion: Bool = false,
                               _ completion: @escaping (Result<SessionContext, InterviewError>) -> Void) {
        var access: Result<SessionAccess, InterviewError>?
        var document: Result<DocumentText, InterviewError>?
        let done = {
            guard let access, let document else { return }
            completion(access.flatMap { access in document.map { SessionContext(code: $0.text, access: access) } })
        }
        sessionAccess(sessionID, tokenHash: tokenHash, forReading: forReading, withQuestion: withQuestion) { result in
            access = result
            done()
        }
        documents.read(sessionID) { result in
            document = result
            done()
        }
    }

    /// The session's newest executions, newest first (no code or output).
    public func sessionJobs(_ sessionID: String, limit: Int, _ completion: @escaping (Result<[ExecutionJob], InterviewError>) -> Void) {
        sessionJobs(ExecutionKeys.session(sessionID), sessionID: sessionID, limit: limit) { result in
            completion(result.map { entries in entries.compactMap { ExecutionJob(id: $0.id, fields: $0.fields) } })
        }
    }

    /// The newest jobs of one of a session's lists (`list`), newest first: each job's fields.
    func sessionJobs(_ list: String, sessionID: String, limit: Int,
                     _ completion: @escaping (Result<[(id: String, fields: [String: String])], InterviewError>) -> Void) {
        let count = max(1, min(limit, settings.sessionHistoryLimit))
        jobs.sessionJobs(list: list, count: count) { result in
            completion(result.mapError { translate($0, session: sessionID) })
        }
    }

    public func hashToken(_ token: String?) -> String {
        guard let token, !token.isEmpty else { return "" }
        return Identifiers.tokenHash(token)
    }
}

/// A flat field/value reply (HGETALL's) as a dictionary.
func pairs(_ values: [RedisValue]) -> [String: String] {
    var out: [String: String] = [:]
    var index = 0
    while index + 1 < values.count {
        if let key = values[index].text { out[key] = values[index + 1].text ?? "" }
        index += 2
    }
    return out
}


/// Cluster-wide execution figures for /metrics.
public struct ExecutionStatistics: Sendable {
    public var queueDepth: Int
    public var finished: [(language: String, status: String, count: Int)]
    public var busySlots: Int
    public var totalSlots: Int
}

extension Executions {
    /// Queue depth, finished executions by language and status, and the slots of live runners;
    /// nil when Redis cannot be read.
    public func statistics(_ completion: @escaping (ExecutionStatistics?) -> Void) {
        redis.send(["LLEN", ExecutionKeys.queue]) { [redis] depth in
            redis.send(["HGETALL", ExecutionKeys.stats]) { finished in
                redis.run(Self.slotsScript, keys: [ExecutionKeys.runners, ExecutionKeys.runnerInfo], arguments: []) { slots in
                    guard let depth = (try? depth.get())?.integer else { return completion(nil) }
                    var counts: [(String, String, Int)] = []
                    let flat = (try? finished.get())?.array ?? []
                    var index = 0
                    while index + 1 < flat.count {
                        if let key = flat[index].text, let count = flat[index + 1].integer, let colon = key.lastIndex(of: ":") {
                            counts.append((String(key[..<colon]), String(key[key.index(after: colon)...]), count))
                        }
                        index += 2
                    }
                    let pair = (try? slots.get())?.array?.compactMap(\.integer) ?? [0, 0]
                    completion(ExecutionStatistics(queueDepth: depth, finished: counts.sorted { ($0.0, $0.1) < ($1.0, $1.1) },
                                                   busySlots: pair.first ?? 0, totalSlots: pair.count > 1 ? pair[1] : 0))
                }
            }
        }
    }

    /// KEYS: runners (zset id -> lease expiry), runner-info. Returns {busy, total} over live runners.
    static let slotsScript = RedisScripts.script("runner_slots", PackageResources.runner_slots_lua)
}
