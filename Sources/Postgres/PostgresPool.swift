import CLibPQ
import Logging
import Transport

/// A few libpq connections on the caller's loop, each carrying one request at a time; requests
/// wait in a bounded queue for a free one. A connection that fails is closed once and replaced
/// after a backoff (100 ms doubling to 5 s); the requests it carried fail with `.unavailable`,
/// never retried here (a transaction that failed mid-way was rolled back by the server: the
/// caller decides whether to run it again). With no connection up and none being attempted,
/// requests fail at once, so PostgreSQL down costs a caller nothing but an error.
public final class PostgresPool {
    private final class Slot {
        var connection: PostgresConnection?
        let retry: LoopTimer
        var backoffMillis: UInt64 = 100
        init(loop: EventLoop) { retry = LoopTimer(loop: loop) }
    }

    private let loop: EventLoop
    private let configuration: PostgresConfiguration
    private let logger: Logger
    private var slots: [Slot] = []
    /// Waiting requests, oldest first (`queueHead` is the next one).
    private var queue: [PostgresJob] = []
    private var queueHead = 0
    private var isClosed = false
    private let watchdog: LoopTimer
    /// The libpq keywords and values every connection starts with; nil when the URL is unusable.
    private var keywords: [String] = []
    private var values: [String] = []
    private var configurationError: String?
    private var lastError = "not connected yet"
    /// Connections made after a loss (for /metrics).
    public private(set) var reconnectCount = 0
    private var everConnected = Set<Int>()

    public init(loop: EventLoop, configuration: PostgresConfiguration, logger: Logger) {
        self.loop = loop
        self.configuration = configuration
        self.logger = logger
        watchdog = LoopTimer(loop: loop)
        do {
            (keywords, values) = try connectionParameters(configuration)
        } catch {
            configurationError = "\(error)"
            logger.error("the PostgreSQL URL is unusable: \(error)")
            return
        }
        for index in 0..<max(1, configuration.poolSize) {
            slots.append(Slot(loop: loop))
            connect(index)
        }
        // Connect attempts that hang (a host that answers nothing) and statements the server
        // never answers (a stopped server, a cut network) are given up from here.
        watchdog.start(after: 100, repeat: 100) { [weak self] in self?.checkTimeouts() }
        watchdog.unref()
    }

    // MARK: Requests

    /// One statement on any free connection.
    public func query(_ statement: PostgresStatement, _ parameters: [String?],
                      _ completion: @escaping (Result<PostgresResult, PostgresError>) -> Void) {
        submit(PostgresJob(steps: [(statement, parameters)], transactional: false) { result in
            completion(result.flatMap { results in
                results.first.map { .success($0) } ?? .failure(PostgresError(.protocolError, "no result"))
            })
        })
    }

    /// BEGIN, every step in order on one connection, COMMIT; any failure rolls back and fails the
    /// whole. `steps` are decided up front (no step depends on an earlier one's result).
    public func transaction(_ steps: [(PostgresStatement, [String?])],
                            _ completion: @escaping (Result<[PostgresResult], PostgresError>) -> Void) {
        submit(PostgresJob(steps: steps, transactional: true, completion))
    }

    /// Whether a connection is up now (for /health and /metrics).
    public var isReachable: Bool { slots.contains { $0.connection?.state == .ready } }

    public var stats: (connections: Int, busy: Int, queued: Int) {
        let ready = slots.compactMap(\.connection).filter { $0.state == .ready }
        return (ready.count, ready.filter { $0.job != nil }.count, queue.count - queueHead)
    }

    /// Why PostgreSQL is unusable right now, for problem details and /health.
    public var unavailableReason: String {
        configurationError.map { "the PostgreSQL URL is unusable: \($0)" } ?? "PostgreSQL is unreachable (\(lastError))"
    }

    /// Fails what waits (.closed) and closes every connection once; completions run once.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        watchdog.close()
        var failed: [PostgresJob] = Array(queue[queueHead...])
        queue.removeAll()
        queueHead = 0
        for slot in slots {
            slot.retry.close()
            if let job = slot.connection?.close() { failed.append(job) }
            slot.connection = nil
        }
        let error = PostgresError(.closed, "the PostgreSQL pool is closed")
        for job in failed { job.finish(.failure(error)) }
    }

    /// A pool let go without close() closes itself: its connections would otherwise live on,
    /// held by their poll handles.
    deinit { close() }

    /// The sockets of the connections that are up (tests check they are close-on-exec).
    var sockets: [Int32] { slots.compactMap(\.connection).filter { $0.state == .ready }.map(\.socket) }

    private func submit(_ job: PostgresJob) {
        if isClosed { return job.finish(.failure(PostgresError(.closed, "the PostgreSQL pool is closed"))) }
        for (index, step) in job.steps.enumerated() where step.1.contains(where: { $0?.utf8.contains(0) == true }) {
            // Text parameters are C strings: a NUL would cut the value short without a word.
            return job.finish(.failure(PostgresError(.protocolError, "parameter of step \(index) holds a NUL byte")))
        }
        // Nothing to run: a transaction of no step commits nothing.
        if job.steps.isEmpty { return job.finish(.success([])) }
        if let idle = slots.lazy.compactMap(\.connection).first(where: \.isIdle) { return idle.run(job) }
        guard slots.contains(where: { $0.connection != nil }) else {
            return job.finish(.failure(PostgresError(.unavailable, unavailableReason)))
        }
        guard queue.count - queueHead < configuration.maxQueued else {
            return job.finish(.failure(PostgresError(.unavailable, "too many PostgreSQL requests waiting (\(configuration.maxQueued))")))
        }
        queue.append(job)
    }

    /// Hands waiting requests to idle connections.
    private func dispatch() {
        while queueHead < queue.count, !isClosed {
            guard let idle = slots.lazy.compactMap(\.connection).first(where: \.isIdle) else { return }
            let job = queue[queueHead]
            queueHead += 1
            if queueHead == queue.count {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            } else if queueHead >= 64, queueHead * 2 >= queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            idle.run(job)
        }
    }

    /// Fails every waiting request (no connection is up or coming).
    private func failQueue(_ error: PostgresError) {
        let failed = queue[queueHead...]
        queue.removeAll()
        queueHead = 0
        for job in failed { job.finish(.failure(error)) }
    }

    // MARK: Connections

    private func connect(_ index: Int) {
        guard !isClosed else { return }
        let connection = PostgresConnection(loop: loop, logger: logger, slot: index)
        connection.pool = self
        slots[index].connection = connection
        connection.start(keywords: keywords, values: values)
    }

    func connectionReady(_ connection: PostgresConnection) {
        let slot = slots[connection.slot]
        guard slot.connection === connection else { return }
        slot.backoffMillis = 100
        if everConnected.contains(connection.slot) { reconnectCount += 1 }
        everConnected.insert(connection.slot)
        if !lastError.isEmpty { logger.info("connected to PostgreSQL") }
        lastError = ""
        dispatch()
    }

    func jobFinished(_ connection: PostgresConnection, _ job: PostgresJob, _ result: Result<[PostgresResult], PostgresError>) {
        job.finish(result)
        dispatch()
    }

    func connectionLost(_ connection: PostgresConnection, job: PostgresJob?, error: PostgresError) {
        let slot = slots[connection.slot]
        guard slot.connection === connection else {
            job?.finish(.failure(error))
            return
        }
        slot.connection = nil
        if error.message != lastError {
            logger.warning("PostgreSQL connection lost or refused: \(error.message); retrying in \(slot.backoffMillis) ms")
        }
        lastError = error.message
        if !isClosed {
            let index = connection.slot
            let delay = slot.backoffMillis
            slot.backoffMillis = min(slot.backoffMillis * 2, 5_000)
            slot.retry.start(after: delay) { [weak self] in self?.connect(index) }
        }
        job?.finish(.failure(error))
        // Nobody left to take what waits: fail it now rather than let it wait for a backoff.
        if !slots.contains(where: { $0.connection != nil }) {
            failQueue(PostgresError(.unavailable, unavailableReason))
        }
    }

    private func checkTimeouts() {
        let now = loop.now
        // A statement the server does not answer although its own timeout has passed: the
        // server or the network is stuck. Two seconds of grace for the cancel to come back.
        // Without a statement timeout (0), statements may run as long as they like.
        let answerMillis: UInt64? = configuration.statementTimeoutMs > 0 ? UInt64(configuration.statementTimeoutMs) + 2_000 : nil
        for slot in slots {
            guard let connection = slot.connection else { continue }
            let age = now &- connection.startedAt
            if connection.state == .connecting, age > UInt64(max(1, configuration.connectTimeoutMs)) {
                connection.drop("no connection within \(configuration.connectTimeoutMs) ms")
            } else if connection.state == .ready, connection.awaitsCommand, let answerMillis, age > answerMillis {
                connection.drop("no answer from PostgreSQL within \(answerMillis) ms", kind: .timeout)
            }
        }
    }
}

/// The libpq keywords and values for `configuration`: its URL's, with the statement timeout added
/// to the server options, UTF-8 on the wire, and an application name unless the URL gives one.
func connectionParameters(_ configuration: PostgresConfiguration) throws -> ([String], [String]) {
    var message: UnsafeMutablePointer<CChar>?
    guard let options = PQconninfoParse(configuration.url, &message) else {
        let text = message.map { String(cString: $0).trimmingTrailingWhitespace() } ?? "cannot parse it"
        if let message { PQfreemem(message) }
        throw PostgresError(.unavailable, text)
    }
    defer { PQconninfoFree(options) }
    var keywords: [String] = []
    var values: [String] = []
    var serverOptions = ""
    var index = 0
    while let keyword = options[index].keyword {
        defer { index += 1 }
        guard let value = options[index].val else { continue }
        let name = String(cString: keyword)
        if name == "options" {
            serverOptions = String(cString: value)
            continue
        }
        if name == "client_encoding" { continue }
        keywords.append(name)
        values.append(String(cString: value))
    }
    let timeout = "-c statement_timeout=\(max(0, configuration.statementTimeoutMs))"
    keywords += ["options", "client_encoding", "fallback_application_name"]
    values += [serverOptions.isEmpty ? timeout : "\(serverOptions) \(timeout)", "UTF8", "codeinterview"]
    // An idle connection to a server that vanished (a machine gone, a network cut) is noticed in
    // about a minute rather than the system's two hours, unless the URL says otherwise.
    for (keyword, value) in [("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3")]
    where !keywords.contains(keyword) {
        keywords.append(keyword)
        values.append(value)
    }
    return (keywords, values)
}
