import CLibUV
import Foundation
import Logging
@testable import Postgres
@testable import TestSupport
import Transport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The pool against a real PostgreSQL started by the harness, driven on this thread's libuv loop.
/// Tests that kill or stop the server start their own.
final class PostgresPoolTests: XCTestCase {
    nonisolated(unsafe) static var shared: PostgresServer?
    nonisolated(unsafe) static var startError = ""
    var server: PostgresServer { Self.shared! }
    let pump = LoopPump(label: "postgres-test", logVariable: "POSTGRES_TEST_LOG")
    var pools: [PostgresPool] = []

    override class func setUp() {
        super.setUp()
        do { shared = try PostgresServer() } catch { startError = "\(error)" }
    }

    override class func tearDown() {
        shared?.remove()
        shared = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard Self.shared != nil else { throw HarnessError("PostgreSQL did not start: \(Self.startError)") }
    }

    override func tearDown() {
        for pool in pools { pool.close() }
        pools.removeAll()
        // Let the closed handles run their close callbacks.
        pump.until(0.05) { false }
        super.tearDown()
    }

    func makePool(url: String? = nil, poolSize: Int = 4, statementTimeoutMs: Int = 5_000, connectTimeoutMs: Int = 5_000,
                  maxQueued: Int = 1_000, waitReachable: Bool = true) -> PostgresPool {
        let configuration = PostgresConfiguration(url: url ?? server.url, poolSize: poolSize, statementTimeoutMs: statementTimeoutMs,
                                                  connectTimeoutMs: connectTimeoutMs, maxQueued: maxQueued)
        let pool = PostgresPool(loop: pump.loop, configuration: configuration, logger: pump.logger)
        pools.append(pool)
        if waitReachable {
            XCTAssertTrue(pump.until(10) { pool.stats.connections == poolSize }, "the pool should connect: \(pool.unavailableReason)")
        }
        return pool
    }

    func query(_ pool: PostgresPool, _ sql: String, _ parameters: [String?] = [], name: String? = nil,
               timeout: TimeInterval = 10) -> Result<PostgresResult, PostgresError>? {
        let statement = PostgresStatement(name ?? "q\(abs(sql.hashValue))", sql)
        return pump.wait(timeout) { done in pool.query(statement, parameters, done) }
    }

    // MARK: Queries

    func testQueryWithParametersNullUnicodeAndOneMegabyte() throws {
        let pool = makePool()
        let text = "héllo, 世界 🎉 \"quotes\" 'single' \\ back"
        let big = String(repeating: "abcdefghij", count: 100_000) + "é"
        let result = try XCTUnwrap(query(pool, "SELECT $1::text AS a, $2::text AS b, $2::text IS NULL AS isnull, $3::text AS big, length($3::text) AS n",
                                         [text, nil, big])).get()
        XCTAssertEqual(result.columns, ["a", "b", "isnull", "big", "n"])
        XCTAssertEqual(result.rows.count, 1)
        XCTAssertEqual(result[0, "a"], text)
        XCTAssertNil(result[0, "b"])
        XCTAssertEqual(result[0, "isnull"], "t")
        XCTAssertEqual(result[0, "big"], big)
        XCTAssertEqual(result[0, "n"], "1000001")
        XCTAssertNil(result[1, "a"])
        XCTAssertNil(result[0, "nope"])

        // affectedRows, and rows of several lines.
        _ = try XCTUnwrap(query(pool, "CREATE TABLE IF NOT EXISTS q_rows (id int PRIMARY KEY, v text)")).get()
        _ = try XCTUnwrap(query(pool, "TRUNCATE q_rows")).get()
        let insert = try XCTUnwrap(query(pool, "INSERT INTO q_rows SELECT g, 'v' || g FROM generate_series(1, $1::int) g", ["7"])).get()
        XCTAssertEqual(insert.affectedRows, 7)
        let select = try XCTUnwrap(query(pool, "SELECT id, v FROM q_rows ORDER BY id")).get()
        XCTAssertEqual(select.rows.count, 7)
        XCTAssertEqual(select.affectedRows, 7)
        XCTAssertEqual(select[6, "v"], "v7")

        // A server error names its SQLSTATE; the connection goes on.
        guard case .failure(let error) = try XCTUnwrap(query(pool, "SELECT 1/0")) else { return XCTFail("1/0 should fail") }
        XCTAssertEqual(error.kind, .server)
        XCTAssertEqual(error.sqlState, "22012")
        XCTAssertEqual(try XCTUnwrap(query(pool, "SELECT 2 AS two")).get()[0, "two"], "2")

        // A NUL cannot travel in text: refused before it is cut short.
        guard case .failure(let nul) = try XCTUnwrap(query(pool, "SELECT $1::text", ["a\u{0}b"])) else { return XCTFail("NUL should fail") }
        XCTAssertEqual(nul.kind, .protocolError)
    }

    func testPreparedStatementsAreReusedOnTheirConnection() throws {
        let pool = makePool(poolSize: 1)
        let statement = PostgresStatement("reused", "SELECT $1::int + 1 AS n")
        for i in 0..<100 {
            let result = try XCTUnwrap(pump.wait(10) { pool.query(statement, ["\(i)"], $0) }).get()
            XCTAssertEqual(result[0, "n"], "\(i + 1)")
        }
        // One connection, one preparation: the server holds it once, under its name.
        let prepared = try XCTUnwrap(query(pool, "SELECT count(*) AS n, max(statement) AS sql FROM pg_prepared_statements WHERE name = 'reused'")).get()
        XCTAssertEqual(prepared[0, "n"], "1")
        XCTAssertEqual(prepared[0, "sql"], statement.sql)
    }

    func testRequestsMadeWhileConnectingWaitForTheConnection() throws {
        let pool = makePool(poolSize: 2, waitReachable: false)
        XCTAssertFalse(pool.isReachable, "nothing can be connected before the loop runs")
        var results: [Result<PostgresResult, PostgresError>] = []
        for i in 0..<10 {
            pool.query(PostgresStatement("early", "SELECT $1::int AS i"), ["\(i)"]) { result in
                if case .success(let rows) = result { XCTAssertEqual(rows[0, "i"], "\(i)") }
                results.append(result)
            }
        }
        XCTAssertEqual(pool.stats.queued, 10)
        XCTAssertTrue(pump.until(10) { results.count == 10 })
        // Two connections: answers come in any order, each to its own request.
        XCTAssertEqual(Set(try results.map { try XCTUnwrap($0.get()[0, "i"]) }), Set((0..<10).map { "\($0)" }))
    }

    func testOneNameOneSQL() throws {
        let pool = makePool(poolSize: 1)
        XCTAssertNoThrow(try XCTUnwrap(pump.wait(10) { pool.query(PostgresStatement("same", "SELECT 1 AS n"), [], $0) }).get())
        guard case .failure(let error)? = pump.wait(10, { pool.query(PostgresStatement("same", "SELECT 2 AS n"), [], $0) }) else {
            return XCTFail("another SQL under a prepared name must not run the first one")
        }
        XCTAssertEqual(error.kind, .protocolError)
        XCTAssertEqual(try XCTUnwrap(pump.wait(10) { pool.query(PostgresStatement("same", "SELECT 1 AS n"), [], $0) }).get()[0, "n"], "1")
    }

    func testAPoolLetGoClosesItsConnections() throws {
        var calls = 0
        var kind: PostgresError.Kind?
        do {
            let pool = PostgresPool(loop: pump.loop, configuration: PostgresConfiguration(url: server.url, poolSize: 2), logger: pump.logger)
            XCTAssertTrue(pump.until(10) { pool.stats.connections == 2 })
            pool.query(PostgresStatement("slow", "SELECT pg_sleep(5)"), []) { result in
                calls += 1
                if case .failure(let error) = result { kind = error.kind }
            }
            XCTAssertTrue(pump.until(5) { pool.stats.busy == 1 })
        }
        XCTAssertEqual(calls, 1)
        XCTAssertEqual(kind, .closed)
        pump.until(0.2) { false }
        XCTAssertEqual(calls, 1)
    }

    func testUnpreparedStatementsAndScripts() throws {
        let pool = makePool(poolSize: 1)
        let script = PostgresStatement.unprepared("""
            DROP TABLE IF EXISTS script_a; CREATE TABLE script_a (id int PRIMARY KEY);
            INSERT INTO script_a VALUES (1), (2);
            SELECT count(*) AS n FROM script_a
            """)
        XCTAssertFalse(script.isPrepared)
        XCTAssertEqual(try XCTUnwrap(pump.wait(10) { pool.query(script, [], $0) }).get()[0, "n"], "2", "the last command's rows")
        let withParameters = PostgresStatement.unprepared("SELECT $1::int + 1 AS n")
        XCTAssertEqual(try XCTUnwrap(pump.wait(10) { pool.query(withParameters, ["41"], $0) }).get()[0, "n"], "42")
        // A script in a transaction whose later command fails leaves nothing.
        let failing = PostgresStatement.unprepared("INSERT INTO script_a VALUES (3); INSERT INTO script_a VALUES (1)")
        guard case .failure(let error)? = pump.wait(10, { pool.transaction([(PostgresStatement.unprepared("INSERT INTO script_a VALUES (4)"), []), (failing, [])], $0) }) else {
            return XCTFail("a duplicate key should fail")
        }
        XCTAssertEqual(error.sqlState, "23505")
        XCTAssertEqual(try server.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM script_a"), "1,2")
        // Nothing was prepared under the empty name.
        XCTAssertEqual(try XCTUnwrap(query(pool, "SELECT count(*) AS n FROM pg_prepared_statements WHERE name = ''")).get()[0, "n"], "0")
    }

    // MARK: Transactions

    func testTransactionCommitsAndRollsBackOnAFailingStep() throws {
        let pool = makePool(poolSize: 2)
        try server.psql("DROP TABLE IF EXISTS tx_items; CREATE TABLE tx_items (id int PRIMARY KEY, label text NOT NULL)")
        let insert = PostgresStatement("tx_insert", "INSERT INTO tx_items (id, label) VALUES ($1::int, $2)")
        let count = PostgresStatement("tx_count", "SELECT count(*) AS n FROM tx_items")

        let committed = try XCTUnwrap(pump.wait(10) { pool.transaction([(insert, ["1", "one"]), (insert, ["2", "two"]), (count, [])], $0) }).get()
        XCTAssertEqual(committed.count, 3)
        XCTAssertEqual(committed[0].affectedRows, 1)
        XCTAssertEqual(committed[2][0, "n"], "2", "a step sees the earlier steps of its transaction")
        XCTAssertEqual(try server.psql("SELECT id || ':' || label FROM tx_items ORDER BY id"), "1:one\n2:two")

        // Step 2 violates the primary key: nothing of steps 1 and 3 may remain.
        let failed = try XCTUnwrap(pump.wait(10) { pool.transaction([(insert, ["3", "three"]), (insert, ["1", "again"]), (insert, ["4", "four"])], $0) })
        guard case .failure(let error) = failed else { return XCTFail("a duplicate key should fail the transaction") }
        XCTAssertEqual(error.kind, .server)
        XCTAssertEqual(error.sqlState, "23505")
        XCTAssertTrue(error.isUniqueViolation)
        XCTAssertEqual(try server.psql("SELECT count(*) FROM tx_items"), "2")

        // A step that is not even valid SQL (its preparation fails) rolls back too.
        let bad = PostgresStatement("tx_bad", "SELEKT nothing")
        let badResult = try XCTUnwrap(pump.wait(10) { pool.transaction([(insert, ["5", "five"]), (bad, [])], $0) })
        guard case .failure(let syntax) = badResult else { return XCTFail("a syntax error should fail") }
        XCTAssertEqual(syntax.sqlState, "42601")
        XCTAssertEqual(try server.psql("SELECT count(*) FROM tx_items"), "2")

        // Every connection is back in a clean state: no transaction left open.
        for i in 0..<8 {
            let result = try XCTUnwrap(pump.wait(10) { pool.transaction([(insert, ["\(10 + i)", "x"])], $0) })
            XCTAssertNoThrow(try result.get())
        }
        XCTAssertEqual(try server.psql("SELECT count(*) FROM tx_items"), "10")
        XCTAssertEqual(try server.psql("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"), "0")
    }

    // MARK: Timeouts and the loop

    func testStatementTimeoutIsATimeoutAndTheLoopKeepsRunning() throws {
        let pool = makePool(poolSize: 1, statementTimeoutMs: 200)
        var ticks = 0
        let timer = LoopTimer(loop: pump.loop)
        timer.start(after: 10, repeat: 10) { ticks += 1 }
        defer { timer.close() }
        let started = Date()
        let result = try XCTUnwrap(query(pool, "SELECT pg_sleep(2)"))
        let elapsed = Date().timeIntervalSince(started)
        guard case .failure(let error) = result else { return XCTFail("pg_sleep(2) should time out") }
        XCTAssertEqual(error.kind, .timeout)
        XCTAssertEqual(error.sqlState, "57014")
        XCTAssertLessThan(elapsed, 1.5)
        XCTAssertGreaterThan(ticks, 8, "the timer should fire while the statement runs")
        // Inside a transaction the same, and the connection stays usable.
        let sleep = PostgresStatement("sleep", "SELECT pg_sleep(2)")
        guard case .failure(let inTransaction)? = pump.wait(10, { pool.transaction([(sleep, [])], $0) }) else { return XCTFail() }
        XCTAssertEqual(inTransaction.kind, .timeout)
        XCTAssertEqual(try XCTUnwrap(query(pool, "SELECT 'ok' AS s")).get()[0, "s"], "ok")
    }

    func testNotStartedFailsQuicklyWithoutBlocking() throws {
        let port = try Ports.free()
        var ticks = 0
        let timer = LoopTimer(loop: pump.loop)
        timer.start(after: 5, repeat: 5) { ticks += 1 }
        defer { timer.close() }
        let started = Date()
        let pool = makePool(url: "postgresql://postgres@127.0.0.1:\(port)/postgres", connectTimeoutMs: 1_000, waitReachable: false)
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5, "creating the pool must not wait for PostgreSQL")
        var results: [Result<PostgresResult, PostgresError>] = []
        for _ in 0..<5 { pool.query(PostgresStatement("one", "SELECT 1"), []) { results.append($0) } }
        XCTAssertTrue(pump.until(3) { results.count == 5 })
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5)
        for result in results {
            guard case .failure(let error) = result else { return XCTFail("nothing listens: should fail") }
            XCTAssertEqual(error.kind, .unavailable)
        }
        XCTAssertFalse(pool.isReachable)
        // Later requests (the pool retrying in the background) fail fast too.
        pump.until(0.5) { false }
        let later = Date()
        guard case .failure(let error)? = query(pool, "SELECT 1") else { return XCTFail() }
        XCTAssertEqual(error.kind, .unavailable)
        XCTAssertLessThan(Date().timeIntervalSince(later), 1.2)
        XCTAssertGreaterThan(ticks, 20)

        // A host that answers nothing at all (a black hole): the connect timeout gives up.
        let hole = makePool(url: "postgresql://postgres@10.255.255.1:5432/postgres", poolSize: 1, connectTimeoutMs: 300, waitReachable: false)
        let holeStarted = Date()
        guard case .failure(let holeError)? = query(hole, "SELECT 1", timeout: 5) else { return XCTFail() }
        XCTAssertEqual(holeError.kind, .unavailable)
        XCTAssertLessThan(Date().timeIntervalSince(holeStarted), 2)
    }

    func testKeyValueURLAndAHostOfSeveralAddresses() throws {
        // Two hosts, the first refusing: libpq moves to another socket while connecting (the
        // poll follows it), as with a name of several addresses (localhost: ::1, 127.0.0.1).
        let dead = try Ports.free()
        let pool = makePool(url: "host=127.0.0.1,localhost port=\(dead),\(server.port) user=postgres dbname=postgres", poolSize: 2)
        XCTAssertEqual(try XCTUnwrap(query(pool, "SELECT current_setting('statement_timeout') AS t, current_setting('client_encoding') AS e")).get()[0, "t"], "5s")
        XCTAssertEqual(try XCTUnwrap(query(pool, "SELECT current_setting('application_name') AS a")).get()[0, "a"], "codeinterview")
        for fd in pool.sockets { XCTAssertEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) }
        // Options of the URL's own are kept beside the statement timeout.
        let withOptions = makePool(url: server.url + "?options=-c%20work_mem%3D12MB", poolSize: 1)
        let settings = try XCTUnwrap(query(withOptions, "SELECT current_setting('work_mem') AS w, current_setting('statement_timeout') AS t")).get()
        XCTAssertEqual(settings[0, "w"], "12MB")
        XCTAssertEqual(settings[0, "t"], "5s")
    }

    func testBadURLFailsEveryRequest() throws {
        let pool = makePool(url: "postgresql://[nope", waitReachable: false)
        guard case .failure(let error)? = query(pool, "SELECT 1") else { return XCTFail() }
        XCTAssertEqual(error.kind, .unavailable)
        XCTAssertFalse(pool.isReachable)
    }

    // MARK: Faults

    func testKilledWithQueriesInFlightThenRestarted() throws {
        let own = try PostgresServer()
        defer { own.remove() }
        let pool = makePool(url: own.url, poolSize: 4)
        // Prepare a statement on every connection before the crash.
        let probe = PostgresStatement("probe", "SELECT 'probe' AS s")
        var probes = 0
        for _ in 0..<8 { pool.query(probe, []) { if case .success = $0 { probes += 1 } } }
        XCTAssertTrue(pump.until(10) { probes == 8 })
        var calls = [Int](repeating: 0, count: 12)
        var errors: [PostgresError] = []
        let sleep = PostgresStatement("long", "SELECT pg_sleep(30)")
        for i in 0..<12 {
            pool.query(sleep, []) { result in
                calls[i] += 1
                if case .failure(let error) = result { errors.append(error) }
            }
        }
        XCTAssertTrue(pump.until(5) { pool.stats.busy == 4 })
        XCTAssertEqual(pool.stats.queued, 8)
        own.kill()
        XCTAssertTrue(pump.until(10) { calls.allSatisfy { $0 == 1 } }, "every completion should run: \(calls)")
        XCTAssertEqual(errors.count, 12)
        XCTAssertTrue(errors.allSatisfy { $0.kind == .unavailable }, "\(errors)")
        pump.until(0.3) { false }
        XCTAssertEqual(calls, [Int](repeating: 1, count: 12), "no completion may run twice")
        XCTAssertFalse(pool.isReachable)

        try own.start()
        XCTAssertTrue(pump.until(15) { pool.stats.connections == 4 }, "the pool should reconnect: \(pool.unavailableReason)")
        let again = try XCTUnwrap(query(pool, "SELECT 'back' AS s", name: "back")).get()
        XCTAssertEqual(again[0, "s"], "back")
        XCTAssertGreaterThanOrEqual(pool.reconnectCount, 4)
        // Prepared statements went with the old sessions: the pool prepares them again.
        var after: [Result<PostgresResult, PostgresError>] = []
        for _ in 0..<8 { pool.query(probe, []) { after.append($0) } }
        XCTAssertTrue(pump.until(10) { after.count == 8 })
        for result in after { XCTAssertEqual(try result.get()[0, "s"], "probe") }
    }

    func testKilledMidTransactionLeavesNothing() throws {
        let own = try PostgresServer()
        defer { own.remove() }
        try own.psql("CREATE TABLE mid (id int PRIMARY KEY)")
        let pool = makePool(url: own.url, poolSize: 1)
        let insert = PostgresStatement("mid_insert", "INSERT INTO mid VALUES ($1::int)")
        let sleep = PostgresStatement("mid_sleep", "SELECT pg_sleep(30)")
        var calls = 0
        var failure: PostgresError?
        pool.transaction([(insert, ["1"]), (sleep, []), (insert, ["2"])]) { result in
            calls += 1
            if case .failure(let error) = result { failure = error }
        }
        // The loop runs while psql looks: the transaction has inserted and sleeps.
        XCTAssertTrue(pump.until(10) { (try? own.psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")) == "1" })
        own.kill()
        XCTAssertTrue(pump.until(10) { calls == 1 })
        XCTAssertEqual(failure?.kind, .unavailable)
        try own.start()
        XCTAssertEqual(try own.psql("SELECT count(*) FROM mid"), "0")
        XCTAssertTrue(pump.until(15) { pool.isReachable })
        let done = try XCTUnwrap(pump.wait(10) { pool.transaction([(insert, ["1"]), (insert, ["2"])], $0) })
        XCTAssertNoThrow(try done.get())
        XCTAssertEqual(try own.psql("SELECT count(*) FROM mid"), "2")
        XCTAssertEqual(calls, 1)
    }

    /// Transactions keep coming while PostgreSQL is killed and restarted three times: every
    /// completion runs once, every transaction that succeeded is stored, none twice, and the
    /// pool serves again after each restart.
    func testKilledAndRestartedUnderLoad() throws {
        let own = try PostgresServer()
        defer { own.remove() }
        try own.psql("CREATE TABLE load (id int PRIMARY KEY, step int NOT NULL)")
        let pool = makePool(url: own.url, poolSize: 4, connectTimeoutMs: 1_000)
        let insert = PostgresStatement("load_insert", "INSERT INTO load VALUES ($1::int, $2::int)")
        let touch = PostgresStatement("load_touch", "UPDATE load SET step = step + 1 WHERE id = $1::int")
        var calls: [Int: Int] = [:]
        var succeeded = Set<Int>()
        var next = 0
        var generator = SystemRandomNumberGenerator()
        func submit() {
            let id = next
            next += 1
            pool.transaction([(insert, ["\(id)", "0"]), (touch, ["\(id)"]), (touch, ["\(id)"])]) { result in
                calls[id, default: 0] += 1
                if case .success = result { succeeded.insert(id) }
            }
        }
        for round in 0..<3 {
            // Load for a while, then the crash at a random point of it.
            let until = Date().addingTimeInterval(Double.random(in: 0.2...0.6, using: &generator))
            while Date() < until {
                while pool.stats.queued < 20 { submit() }
                pump.until(0.01) { false }
            }
            own.kill()
            for _ in 0..<20 { submit() }
            XCTAssertTrue(pump.until(10) { calls.count == next }, "round \(round): every completion should run")
            try own.start()
            XCTAssertTrue(pump.until(15) { pool.stats.connections == 4 }, "round \(round): the pool should reconnect")
        }
        for _ in 0..<50 { submit() }
        XCTAssertTrue(pump.until(15) { calls.count == next })
        pump.until(0.2) { false }
        XCTAssertTrue(calls.values.allSatisfy { $0 == 1 }, "no completion may run twice")
        let stored = Set(try own.psql("SELECT id FROM load WHERE step = 2").split(separator: "\n").compactMap { Int($0) })
        XCTAssertEqual(try own.psql("SELECT count(*) FROM load WHERE step <> 2"), "0", "a transaction is whole or absent")
        XCTAssertTrue(succeeded.isSubset(of: stored), "every success is stored: missing \(succeeded.subtracting(stored).sorted())")
        // A failure may still have committed only when the answer to COMMIT was lost: rare.
        XCTAssertLessThanOrEqual(stored.subtracting(succeeded).count, 3 * 4)
        XCTAssertGreaterThan(succeeded.count, 50)
    }

    func testQueueIsBounded() throws {
        let pool = makePool(poolSize: 1, maxQueued: 5)
        var results: [Int: Result<PostgresResult, PostgresError>] = [:]
        let sleep = PostgresStatement("short_sleep", "SELECT pg_sleep(0.3)")
        for i in 0..<8 { pool.query(sleep, []) { results[i] = $0 } }
        // 1 running, 5 waiting: the 7th and 8th fail at once.
        XCTAssertEqual(results.count, 2)
        for i in [6, 7] {
            guard case .failure(let error)? = results[i] else { return XCTFail("request \(i) should fail at once") }
            XCTAssertEqual(error.kind, .unavailable)
        }
        XCTAssertEqual(pool.stats.queued, 5)
        XCTAssertTrue(pump.until(10) { results.count == 8 })
        for i in 0..<6 { XCTAssertNoThrow(try results[i]!.get()) }
    }

    func testCloseFailsWhatWaitsOnce() throws {
        let pool = makePool(poolSize: 1)
        var calls: [Int: Int] = [:]
        var kinds: [PostgresError.Kind] = []
        let sleep = PostgresStatement("sleep1", "SELECT pg_sleep(5)")
        for i in 0..<4 {
            pool.query(sleep, []) { result in
                calls[i, default: 0] += 1
                if case .failure(let error) = result { kinds.append(error.kind) }
            }
        }
        XCTAssertTrue(pump.until(5) { pool.stats.busy == 1 })
        pool.close()
        pool.close()
        XCTAssertEqual(calls, [0: 1, 1: 1, 2: 1, 3: 1])
        XCTAssertEqual(kinds, [.closed, .closed, .closed, .closed])
        var after: Result<PostgresResult, PostgresError>?
        pool.query(sleep, []) { after = $0 }
        guard case .failure(let error)? = after else { return XCTFail("a closed pool should fail at once") }
        XCTAssertEqual(error.kind, .closed)
        pump.until(0.3) { false }
        XCTAssertEqual(calls, [0: 1, 1: 1, 2: 1, 3: 1])
        XCTAssertFalse(pool.isReachable)
        // The server sees the session go (its query cancelled with it).
        XCTAssertTrue(eventually(timeout: 10) { (try? self.server.psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'")) == "0" })
    }

    func testSocketsAreCloseOnExec() throws {
        let pool = makePool(poolSize: 3)
        let sockets = pool.sockets
        XCTAssertEqual(sockets.count, 3)
        for fd in sockets {
            XCTAssertGreaterThanOrEqual(fd, 0)
            XCTAssertEqual(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "fd \(fd) should be close-on-exec")
        }
    }

    func testTwoHundredConcurrentQueriesOverFourConnections() throws {
        let pool = makePool(poolSize: 4)
        let statement = PostgresStatement("double", "SELECT $1::int * 2 AS n, pg_backend_pid() AS pid")
        var answers = [String?](repeating: nil, count: 200)
        var calls = 0
        var pids = Set<String>()
        for i in 0..<200 {
            pool.query(statement, ["\(i)"]) { result in
                calls += 1
                if case .success(let rows) = result {
                    answers[i] = rows[0, "n"]
                    if let pid = rows[0, "pid"] { pids.insert(pid) }
                }
            }
        }
        XCTAssertGreaterThan(pool.stats.queued, 0)
        XCTAssertTrue(pump.until(20) { calls == 200 })
        XCTAssertEqual(calls, 200)
        for i in 0..<200 { XCTAssertEqual(answers[i], "\(i * 2)") }
        XCTAssertEqual(pids.count, 4, "all four connections should have worked")
        XCTAssertEqual(pool.stats.queued, 0)
        XCTAssertEqual(pool.stats.busy, 0)
    }
}

