import CLibPQ
import CLibUV
import Logging
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// One request of the pool: a statement alone, or the steps of a transaction. Its completion runs
/// once, whatever happens to the connection that carries it.
final class PostgresJob {
    let steps: [(PostgresStatement, [String?])]
    let transactional: Bool
    private var completion: ((Result<[PostgresResult], PostgresError>) -> Void)?

    init(steps: [(PostgresStatement, [String?])], transactional: Bool,
         _ completion: @escaping (Result<[PostgresResult], PostgresError>) -> Void) {
        self.steps = steps
        self.transactional = transactional
        self.completion = completion
    }

    func finish(_ result: Result<[PostgresResult], PostgresError>) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }
}

/// One libpq connection driven by a uv_poll on its socket, never blocking the loop:
/// PQconnectStartParams + PQconnectPoll while connecting (the socket may change between polls:
/// libpq tries one address after another), then PQsend* / PQflush / PQconsumeInput / PQgetResult.
/// It carries one job at a time, one command at a time (BEGIN, each step, COMMIT or ROLLBACK).
///
/// Lifecycle: connecting -> ready -> closed. `drop` is the only way to closed: it closes the poll
/// handle once (LoopHandle), calls PQfinish once, and hands the job in flight back to the pool,
/// which fails it. Nothing is retried here: a lost connection is replaced by the pool.
final class PostgresConnection {
    enum State { case connecting, ready, closed }

    /// What the connection waits for the results of.
    private enum Command { case plain, prepare(PostgresStatement), execute }
    /// Where a job is: BEGIN sent, step i, COMMIT sent, ROLLBACK sent (after `failure`).
    private enum Phase { case begin, step(Int), commit, rollback }

    private(set) var state = State.connecting
    private let loop: EventLoop
    private let logger: Logger
    weak var pool: PostgresPool?
    let slot: Int

    private var conn: OpaquePointer?
    private var poll: LoopHandle?
    private var pollEvents: Int32 = 0
    private var writePending = false
    /// Statements prepared on this server session, name to SQL (gone with the connection).
    private var prepared: [String: String] = [:]

    private(set) var job: PostgresJob?
    private var phase = Phase.begin
    private var command: Command?
    private var results: [PostgresResult] = []
    private var commandResult: PostgresResult?
    private var commandError: PostgresError?
    /// The error that made the transaction roll back.
    private var failure: PostgresError?
    /// Loop time the connect attempt, or the command in flight, started (for the pool's watchdog).
    private(set) var startedAt: UInt64
    var awaitsCommand: Bool { command != nil }

    init(loop: EventLoop, logger: Logger, slot: Int) {
        self.loop = loop
        self.logger = logger
        self.slot = slot
        startedAt = loop.now
    }

    var isIdle: Bool { state == .ready && job == nil }

    /// The socket (for the close-on-exec test); -1 when there is none.
    var socket: Int32 { conn.map { PQsocket($0) } ?? -1 }

    // MARK: Connecting

    /// Starts connecting with these libpq keywords and values; a failure to even start is
    /// reported through `pool.connectionLost` like any other.
    func start(keywords: [String], values: [String]) {
        startedAt = loop.now
        conn = withCStringArray(keywords) { keys in
            withCStringArray(values) { vals in PQconnectStartParams(keys, vals, 0) }
        }
        guard let conn else { return drop("out of memory") }
        guard PQstatus(conn) != CONNECTION_BAD else { return drop(errorMessage()) }
        // libpq prints notices (a WARNING, a NOTICE) to stderr by default: ignore them.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // libpq's rule: just after PQconnectStart, behave as if PQconnectPoll said WRITING.
        watchConnect(events: Int32(UV_WRITABLE.rawValue))
    }

    /// Arms a poll on libpq's socket for the next connect step. The socket can change between
    /// steps (libpq closes a failed address's socket and opens the next), and the new one often
    /// gets the old one's number: a handle kept across that would watch a descriptor epoll has
    /// already forgotten (never woken, or libuv aborting on EPOLL_CTL_MOD). So every step gets a
    /// new handle, the old one closed first (uv_close drops the number from epoll at once).
    /// A connect takes a handful of steps: the cost is nothing.
    private func watchConnect(events: Int32) {
        guard let conn else { return }
        let fd = PQsocket(conn)
        guard fd >= 0 else { return drop("libpq has no socket: \(errorMessage())") }
        poll?.close()
        poll = nil
        pollEvents = 0
        // libpq's sockets are not opened close-on-exec: a sandbox forked meanwhile would inherit one.
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        guard let handle = LoopHandle(uv_poll_t.self, owner: self, { uv_poll_init(loop.raw, $0, fd) }) else {
            return drop("cannot watch the PostgreSQL socket")
        }
        poll = handle
        arm(events)
    }

    private func arm(_ events: Int32) {
        guard let poll, !poll.isClosed, events != pollEvents else { return }
        pollEvents = events
        let status = uv_poll_start(poll.pointer(uv_poll_t.self), events, postgresPollCallback)
        if status != 0 { drop("cannot watch the PostgreSQL socket: \(uvErrorDescription(status))") }
    }

    private func continueConnect() {
        guard let conn else { return }
        switch PQconnectPoll(conn) {
        case PGRES_POLLING_OK:
            connected()
        case PGRES_POLLING_READING:
            watchConnect(events: Int32(UV_READABLE.rawValue))
        case PGRES_POLLING_WRITING:
            watchConnect(events: Int32(UV_WRITABLE.rawValue))
        default:
            drop(errorMessage())
        }
    }

    private func connected() {
        guard let conn else { return }
        // Sends must never block the loop: PQflush answers 1 instead of waiting for the socket.
        guard PQsetnonblocking(conn, 1) == 0 else { return drop("cannot make the connection non-blocking: \(errorMessage())") }
        state = .ready
        prepared.removeAll()
        // The socket of the last connect step, on a fresh handle (see watchConnect).
        watchConnect(events: Int32(UV_READABLE.rawValue))
        guard state == .ready else { return }
        pool?.connectionReady(self)
    }

    // MARK: Events

    fileprivate func pollEvent(status: Int32, events: Int32) {
        // libuv reports POLLERR as UV_EBADF and stops the handle. While connecting that is a
        // refused address: libpq reads the socket's error and tries the next address (localhost:
        // ::1, then 127.0.0.1). Once ready, libpq's read names what went wrong.
        if status < 0 {
            pollEvents = 0
            switch state {
            case .connecting:
                continueConnect()
            case .ready:
                read()
                drop("the PostgreSQL socket failed: \(uvErrorDescription(status))")
            case .closed:
                break
            }
            return
        }
        switch state {
        case .connecting:
            continueConnect()
        case .ready:
            if events & Int32(UV_READABLE.rawValue) != 0 { read() }
            if state == .ready, writePending { flush() }
        case .closed:
            break
        }
    }

    private func read() {
        guard let conn else { return }
        guard PQconsumeInput(conn) == 1 else { return drop(errorMessage()) }
        drain()
    }

    /// Takes every complete result; a NULL result ends the command in flight, and the next
    /// command (or the next job the pool hands over) is sent from here.
    private func drain() {
        while state == .ready, let conn {
            if PQisBusy(conn) != 0 { break }
            guard let result = PQgetResult(conn) else {
                guard command != nil else { break }
                commandDone()
                continue
            }
            take(result)
            PQclear(result)
        }
        if state == .ready, let conn, PQstatus(conn) == CONNECTION_BAD { drop(errorMessage()) }
    }

    private func take(_ result: OpaquePointer) {
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            commandResult = convert(result)
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR:
            if commandError == nil { commandError = serverError(result) }
        default:
            // COPY and the like: statements of this codebase never ask for them.
            if commandError == nil {
                commandError = PostgresError(.protocolError, "unexpected result \(String(cString: PQresStatus(PQresultStatus(result))))")
            }
        }
    }

    private func flush() {
        guard let conn else { return }
        let status = PQflush(conn)
        guard status >= 0 else { return drop(errorMessage()) }
        writePending = status == 1
        arm(Int32(UV_READABLE.rawValue) | (writePending ? Int32(UV_WRITABLE.rawValue) : 0))
    }

    // MARK: Jobs

    /// Runs `job` (the connection is idle and ready).
    func run(_ job: PostgresJob) {
        precondition(isIdle, "a job given to a busy connection")
        self.job = job
        results = []
        failure = nil
        if job.transactional {
            phase = .begin
            sendPlain("BEGIN")
        } else {
            phase = .step(0)
            sendStep(0)
        }
    }

    private func sendStep(_ index: Int) {
        guard let job else { return }
        let (statement, parameters) = job.steps[index]
        if !statement.isPrepared {
            // Several commands may travel only by the simple protocol, which takes no parameters.
            if parameters.isEmpty { return send(.execute) { PQsendQuery($0, statement.sql) } }
            return send(.execute) { conn in
                withCStringArray(parameters, terminated: false) { values in
                    PQsendQueryParams(conn, statement.sql, Int32(parameters.count), nil, values, nil, nil, 0)
                }
            }
        }
        if let sql = prepared[statement.name] {
            // One name, one SQL: another SQL under a prepared name would run the first one.
            guard sql == statement.sql else {
                return fail(PostgresError(.protocolError, "statement \(statement.name) was prepared with other SQL"))
            }
            sendExecute(index)
        } else {
            send(.prepare(statement)) { PQsendPrepare($0, statement.name, statement.sql, 0, nil) }
        }
    }

    private func sendExecute(_ index: Int) {
        guard let job else { return }
        let (statement, parameters) = job.steps[index]
        send(.execute) { conn in
            withCStringArray(parameters, terminated: false) { values in
                PQsendQueryPrepared(conn, statement.name, Int32(parameters.count), values, nil, nil, 0)
            }
        }
    }

    private func sendPlain(_ sql: String) {
        send(.plain) { PQsendQueryParams($0, sql, 0, nil, nil, nil, nil, 0) }
    }

    private func send(_ command: Command, _ body: (OpaquePointer) -> Int32) {
        guard state == .ready, let conn else { return }
        self.command = command
        commandResult = nil
        commandError = nil
        startedAt = loop.now
        guard body(conn) == 1 else { return drop(errorMessage()) }
        flush()
    }

    /// The command in flight has all its results: on to the next one.
    private func commandDone() {
        guard let job, let command else { return }
        self.command = nil
        let error = commandError
        let result = commandResult ?? PostgresResult()
        commandError = nil
        commandResult = nil
        // A lost connection or a server going down answers with an error first: that is not the
        // statement's fault, and the connection is done.
        if let conn, PQstatus(conn) == CONNECTION_BAD { return drop(error?.message ?? errorMessage()) }
        if let error, error.kind == .unavailable { return drop(error.message) }
        switch (phase, command) {
        case (.begin, _):
            if let error { return finish(.failure(error)) }
            phase = .step(0)
            sendStep(0)
        case (.step(let index), .prepare(let statement)):
            if let error { return fail(error) }
            prepared[statement.name] = statement.sql
            sendExecute(index)
        case (.step(let index), _):
            if let error { return fail(error) }
            results.append(result)
            if index + 1 < job.steps.count {
                phase = .step(index + 1)
                sendStep(index + 1)
            } else if job.transactional {
                phase = .commit
                sendPlain("COMMIT")
            } else {
                finish(.success(results))
            }
        case (.commit, _):
            // A COMMIT that fails (a deferred constraint) has ended the transaction: rolled back.
            if let error { return finish(.failure(error)) }
            finish(.success(results))
        case (.rollback, _):
            let failure = self.failure ?? PostgresError(.protocolError, "rolled back")
            // A ROLLBACK refused leaves the session in a state nobody knows: start afresh.
            if let error {
                logger.warning("ROLLBACK failed (\(error)); dropping the connection")
                let job = self.job
                self.job = nil
                drop(error.message)
                job?.finish(.failure(failure))
                return
            }
            finish(.failure(failure))
        }
    }

    /// A step failed: inside a transaction, roll back first, then fail the whole.
    private func fail(_ error: PostgresError) {
        guard let job else { return }
        guard job.transactional else { return finish(.failure(error)) }
        failure = error
        phase = .rollback
        sendPlain("ROLLBACK")
    }

    private func finish(_ result: Result<[PostgresResult], PostgresError>) {
        guard let job else { return }
        self.job = nil
        command = nil
        results = []
        guard let pool else { return job.finish(result) }
        pool.jobFinished(self, job, result)
    }

    // MARK: Closing

    /// Closes the connection once (poll handle, then PQfinish); the job in flight goes back to the
    /// pool with `kind` (or, with `notify` false, is returned to the caller).
    func drop(_ reason: String, kind: PostgresError.Kind = .unavailable) {
        guard state != .closed else { return }
        let job = close()
        let error = PostgresError(kind, reason)
        guard let pool else { job?.finish(.failure(error)); return }
        pool.connectionLost(self, job: job, error: error)
    }

    /// Closes without telling the pool; answers the job that was in flight.
    @discardableResult
    func close() -> PostgresJob? {
        guard state != .closed else { return nil }
        state = .closed
        // The handle first: uv_close stops polling now, before PQfinish closes the descriptor.
        poll?.close()
        poll = nil
        if let conn { PQfinish(conn) }
        conn = nil
        command = nil
        let job = self.job
        self.job = nil
        return job
    }

    // MARK: Helpers

    private func errorMessage() -> String {
        guard let conn, let text = PQerrorMessage(conn) else { return "connection lost" }
        let message = String(cString: text).trimmingTrailingWhitespace()
        return message.isEmpty ? "connection lost" : message
    }

    private func convert(_ result: OpaquePointer) -> PostgresResult {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount { columns.append(PQfname(result, Int32(column)).map { String(cString: $0) } ?? "") }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let value = PQgetvalue(result, Int32(row), Int32(column))
                    values.append(String(decoding: UnsafeRawBufferPointer(start: value, count: length), as: UTF8.self))
                }
            }
            rows.append(values)
        }
        let affected = PQcmdTuples(result).map { Int(String(cString: $0)) ?? 0 } ?? 0
        return PostgresResult(columns: columns, rows: rows, affectedRows: affected)
    }
}

/// A server error as the pool reports it: 57014 (statement timeout, or cancelled) is a timeout;
/// the server going away (57P01-03, class 08) or an error libpq made itself (no SQLSTATE: the
/// connection broke) is unavailability; the rest is the statement's.
func serverError(_ result: OpaquePointer) -> PostgresError {
    func field(_ code: UInt8) -> String? {
        PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
    }
    let sqlState = field(UInt8(ascii: "C"))
    let message = field(UInt8(ascii: "M")) ?? PQresultErrorMessage(result).map { String(cString: $0).trimmingTrailingWhitespace() } ?? "error"
    let kind: PostgresError.Kind
    switch sqlState {
    case "57014"?: kind = .timeout
    case nil: kind = .unavailable
    case let state? where state.hasPrefix("08") || state.hasPrefix("57P"): kind = .unavailable
    default: kind = .server
    }
    return PostgresError(kind, sqlState: sqlState, message)
}

private let postgresPollCallback: uv_poll_cb = { handle, status, events in
    LoopHandle.owner(of: handle!.pointee.data, as: PostgresConnection.self).pollEvent(status: status, events: events)
}

/// Runs `body` with a C array of C strings (NULL for nil), terminated by a NULL entry when asked
/// (libpq's keyword lists); the strings live for the call only (libpq copies what it keeps).
func withCStringArray<R>(_ values: [String?], terminated: Bool = true,
                         _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var copies: [UnsafeMutablePointer<CChar>?] = values.map { $0.flatMap { strdup($0) } }
    defer { copies.forEach { free($0) } }
    if terminated || copies.isEmpty { copies.append(nil) }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

func withCStringArray<R>(_ values: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withCStringArray(values.map { Optional($0) }, terminated: true, body)
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
