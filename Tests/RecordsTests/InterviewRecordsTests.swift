import CLibUV
import Foundation
import Interview
import JSON
import Logging
import Postgres
@testable import Records
@testable import TestSupport
import Transport
import XCTest

/// The record store against a real PostgreSQL started by the harness (one server for the suite,
/// one database per test), driven on this thread's libuv loop.
final class InterviewRecordsTests: XCTestCase {
    nonisolated(unsafe) static var shared: PostgresServer?
    nonisolated(unsafe) static var startError = ""
    nonisolated(unsafe) static var databases = 0
    var server: PostgresServer { Self.shared! }
    let pump = LoopPump(label: "records-test", logVariable: "RECORDS_TEST_LOG")
    var pools: [PostgresPool] = []
    var url = ""

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
        Self.databases += 1
        let name = "records_\(Self.databases)"
        try server.psql("CREATE DATABASE \(name)")
        url = "postgresql://postgres@127.0.0.1:\(server.port)/\(name)"
    }

    override func tearDown() {
        for pool in pools { pool.close() }
        pools.removeAll()
        pump.until(0.05) { false }
        super.tearDown()
    }

    func makeStore(poolSize: Int = 2) -> InterviewRecords {
        let pool = PostgresPool(loop: pump.loop, configuration: PostgresConfiguration(url: url, poolSize: poolSize), logger: pump.logger)
        pools.append(pool)
        XCTAssertTrue(pump.until(10) { pool.stats.connections == poolSize }, "the pool should connect: \(pool.unavailableReason)")
        return InterviewRecords(pool: pool)
    }

    func wait<T>(_ start: (@escaping (T) -> Void) -> Void, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        guard let value = pump.wait(30, start) else { throw HarnessError("no answer in 30 s (\(file):\(line))") }
        return value
    }

    func migrated() throws -> InterviewRecords {
        let store = makeStore()
        XCTAssertEqual(try wait(store.migrate).get(), InterviewRecords.schemaVersion)
        return store
    }

    /// Rows of `id` in every table of the record.
    func rowCounts(_ store: InterviewRecords, _ id: String) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for (table, column) in [("interviews", "id"), ("interview_participants", "interview_id"), ("interview_ops", "interview_id"),
                                ("interview_history", "interview_id"), ("interview_runs", "interview_id"),
                                ("interview_extras", "interview_id")] {
            let statement = PostgresStatement("count_\(table)", "SELECT count(*) AS n FROM \(table) WHERE \(column) = $1::text")
            let result = try wait { store.pool.query(statement, [id], $0) }.get()
            counts[table] = Int(result[0, "n"] ?? "") ?? -1
        }
        return counts
    }

    // MARK: Migrations

    func testMigrateTwiceAppliesOnce() throws {
        let store = makeStore()
        XCTAssertEqual(try wait(store.migrate).get(), 1)
        XCTAssertEqual(try wait(store.migrate).get(), 0)
        let versions = try wait { store.pool.query(RecordStatements.appliedMigrations, [], $0) }.get()
        XCTAssertEqual(versions.rows.map { $0[0] }, ["1"])
    }

    func testTwoProcessesMigratingAtOnceNeverRace() throws {
        // Two pools (two processes' worth of connections) starting together, each migrating
        // twice over: the advisory lock makes them take turns; the migration is applied once.
        let stores = [makeStore(), makeStore(), makeStore()]
        var results: [Result<Int, PostgresError>] = []
        for store in stores { store.migrate { results.append($0) } }
        XCTAssertTrue(pump.until(30) { results.count == stores.count })
        let applied = try results.map { try $0.get() }
        XCTAssertEqual(applied.reduce(0, +), 1, "\(applied)")
        let versions = try wait { stores[0].pool.query(RecordStatements.appliedMigrations, [], $0) }.get()
        XCTAssertEqual(versions.rows.count, 1)
    }

    // MARK: Save and read

    func testSaveFiveThousandOpsAndReadItBackEqual() throws {
        let store = try migrated()
        let record = Fixtures.record(ops: 5_000)
        XCTAssertEqual(record.code.ops.count, 5_000)
        let started = Date()
        guard case .stored = try wait({ store.save(record, $0) }).get() else { return XCTFail("first save stores") }
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        let read = try XCTUnwrap(try wait { store.record(record.id, includeOps: true, $0) }.get())
        Fixtures.assertEqual(read, record)
        // Without the ops: everything else, and empty logs.
        let light = try XCTUnwrap(try wait { store.record(record.id, includeOps: false, $0) }.get())
        XCTAssertTrue(light.code.ops.isEmpty)
        XCTAssertEqual(light.code.text, record.code.text)
        // The replay from the stored ops gives the final text.
        XCTAssertEqual(try read.text(at: read.code.revision - 1) + "", String(record.code.text.dropLast()))
        XCTAssertNil(try wait { store.record("nosuchinterview0000000", includeOps: true, $0) }.get())
    }

    func testSavingTwiceStoresOnce() throws {
        let store = try migrated()
        let record = Fixtures.record(ops: 30)
        guard case .stored = try wait({ store.save(record, $0) }).get() else { return XCTFail("first save stores") }
        guard case .alreadyStored = try wait({ store.save(record, $0) }).get() else { return XCTFail("second save finds it") }
        XCTAssertEqual(try rowCounts(store, record.id),
                       ["interviews": 1, "interview_participants": 2, "interview_ops": 31, "interview_history": 3,
                        "interview_runs": 2, "interview_extras": 2])
    }

    func testASaveThatFailsMidwayLeavesNothing() throws {
        let store = try migrated()
        // PostgreSQL refuses \u0000 in jsonb: the history insert (the 4th statement) fails after
        // the interview, its participants and ops were written in the same transaction.
        var record = Fixtures.record(ops: 50)
        record.history.append(["type": "note", "at": 5, "text": .string("bad \u{0} byte")])
        let result = try wait { store.save(record, $0) }
        guard case .failure(let error) = result else { return XCTFail("the save must fail") }
        XCTAssertEqual(error.kind, .server, "\(error)")
        XCTAssertEqual(try rowCounts(store, record.id).values.reduce(0, +), 0)
        // A NUL in a text column is refused before anything is sent (libpq would cut it short).
        var nul = Fixtures.record(ops: 5, id: "nulnulnulnulnulnulnul0")
        nul.code.text += "\u{0}"
        guard case .failure = try wait({ store.save(nul, $0) }) else { return XCTFail("a NUL in the code is refused") }
        XCTAssertEqual(try rowCounts(store, nul.id).values.reduce(0, +), 0)
        // And the good record still saves afterwards.
        record.history.removeLast()
        guard case .stored = try wait({ store.save(record, $0) }).get() else { return XCTFail("stores") }
    }

    func testPostgresKilledMidSaveLeavesAllOrNothing() throws {
        // A server of its own: this test kills it.
        let own = try PostgresServer()
        defer { own.remove() }
        url = own.url
        let store = try migrated()
        let expected = ["interviews": 1, "interview_participants": 2, "interview_ops": 20_001, "interview_history": 3,
                        "interview_runs": 2, "interview_extras": 2]
        // Kill at several points of the write (before it is sent, while it runs, around COMMIT,
        // after it answered: the pump stops waiting once the save answers).
        for (index, delay) in [0.0, 0.02, 0.2, 0.5, 0.65, 0.8, 10].enumerated() {
            let record = Fixtures.record(ops: 20_000, id: Fixtures.id(100 + index))
            var outcome: Result<RecordSaveOutcome, PostgresError>?
            store.save(record) { outcome = $0 }
            pump.until(delay) { outcome != nil }
            own.kill()
            XCTAssertTrue(pump.until(30) { outcome != nil }, "the save answers after the kill")
            try own.start()
            // The pool reconnects; then the record is there whole, or not at all.
            var counts: [String: Int] = [:]
            XCTAssertTrue(pump.until(30) {
                counts = (try? rowCounts(store, record.id)) ?? [:]
                return !counts.isEmpty
            }, "the pool reconnects")
            let total = counts.values.reduce(0, +)
            XCTAssertTrue(total == 0 || counts == expected, "delay \(delay): \(counts), outcome \(String(describing: outcome))")
            if case .success = outcome { XCTAssertEqual(counts, expected, "a save that answered success is all there") }
            // The archiver's retry completes it, exactly once.
            _ = try wait { store.save(record, $0) }.get()
            XCTAssertEqual(try rowCounts(store, record.id), expected)
        }
    }

    // MARK: Erase

    func testEraseLeavesNoRowInAnyTable() throws {
        let store = try migrated()
        let record = Fixtures.record(ops: 40)
        let other = Fixtures.record(ops: 3, id: "otherotherotherother00")
        _ = try wait { store.save(record, $0) }.get()
        _ = try wait { store.save(other, $0) }.get()
        XCTAssertTrue(try wait { store.erase(record.id, $0) }.get())
        XCTAssertEqual(try rowCounts(store, record.id), ["interviews": 0, "interview_participants": 0, "interview_ops": 0,
                                                         "interview_history": 0, "interview_runs": 0, "interview_extras": 0])
        XCTAssertFalse(try wait { store.erase(record.id, $0) }.get())
        XCTAssertNil(try wait { store.record(record.id, includeOps: true, $0) }.get())
        XCTAssertEqual(try rowCounts(store, other.id)["interview_ops"], 4, "the other interview is untouched")
    }

    func testEraseEndedErasesTheOldestInBatches() throws {
        let store = try migrated()
        for index in 0..<5 {
            var record = Fixtures.record(ops: 2, id: Fixtures.id(index))
            record.endedAt = 1_000 + Int64(index)
            _ = try wait { store.save(record, $0) }.get()
        }
        XCTAssertEqual(try wait { store.eraseEnded(before: 1_004, limit: 3, $0) }.get(), 3)
        XCTAssertEqual(try wait { store.eraseEnded(before: 1_004, limit: 3, $0) }.get(), 1)
        XCTAssertEqual(try wait { store.eraseEnded(before: 1_004, limit: 3, $0) }.get(), 0)
        XCTAssertNotNil(try wait { store.record(Fixtures.id(4), includeOps: false, $0) }.get())
        XCTAssertNil(try wait { store.record(Fixtures.id(0), includeOps: false, $0) }.get())
        XCTAssertEqual(try rowCounts(store, Fixtures.id(0)).values.reduce(0, +), 0)
    }

    // MARK: List

    func testListPagesNewestFirstSearchesAndEscapes() throws {
        let store = try migrated()
        let names = ["Backend loop", "100% done", "under_score", "Frontend", "Data", "Ops", "Mobile"]
        for (index, name) in names.enumerated() {
            var record = Fixtures.record(ops: 1, id: Fixtures.id(index))
            record.name = name
            // Two pairs share an ended_at: the id breaks the tie.
            record.endedAt = 10_000 + Int64(index / 2) * 1_000
            record.participants[1].name = index == 3 ? "ASA Lindqvist" : "Candidate \(index)"
            if index == 5 { record.question = ["title": "Two Sum", "prompt": "", "tests": []] } else { record.question = nil }
            _ = try wait { store.save(record, $0) }.get()
        }
        // Every page, three at a time: all seven, each once, newest first (ended_at, then id).
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try wait { store.list(from: nil, to: nil, query: nil, cursor: cursor, limit: 3, $0) }.get()
            XCTAssertLessThanOrEqual(page.items.count, 3)
            seen += page.items.compactMap { $0["id"]?.stringValue }
            cursor = page.nextCursor
        } while cursor != nil
        let expected = (0..<7).sorted { a, b in (a / 2, Fixtures.id(a)) > (b / 2, Fixtures.id(b)) }.map(Fixtures.id)
        XCTAssertEqual(seen, expected)

        func search(_ q: String?, from: Int64? = nil, to: Int64? = nil) throws -> [String] {
            try wait { store.list(from: from, to: to, query: q, cursor: nil, limit: 50, $0) }.get().items.compactMap { $0["name"]?.stringValue }
        }
        XCTAssertEqual(try search("%"), ["100% done"], "% matches itself")
        XCTAssertEqual(try search("_"), ["under_score"], "_ matches itself")
        XCTAssertEqual(try search("BACKEND"), ["Backend loop"], "case-insensitive name")
        // Case folding beyond ASCII follows the database's LC_CTYPE (the harness's initdb: C, ASCII only).
        XCTAssertEqual(try search("asa LIND"), ["Frontend"], "case-insensitive participant name")
        XCTAssertEqual(try search("two s"), ["Ops"], "question title")
        XCTAssertEqual(try search("zzz"), [], "no match")
        XCTAssertEqual(Set(try search(nil, from: 11_000, to: 12_000)), ["Frontend", "under_score"], "from <= ended_at < to")
        XCTAssertEqual(try search("o", from: 12_000), ["Mobile", "Ops"], "filters combine")
        // A malformed cursor is invalid input, never a query.
        for bad in ["nope", "cjE6MTIzOmFiYw", Base64URL.encode("r1:x:\(Fixtures.id(0))"), ""] {
            guard case .failure(.invalidCursor) = try wait({ store.list(from: nil, to: nil, query: nil, cursor: bad, limit: 3, $0) }) else {
                return XCTFail("cursor '\(bad)' must be refused")
            }
        }
    }
}

/// Records to store: every part filled, `ops` one-character inserts on the code.
enum Fixtures {
    static func id(_ index: Int) -> String { String(format: "interview%013d", index) }

    static func record(ops count: Int, id: String = "recordrecordrecordrec0") -> InterviewRecord {
        var text = "# start\n"
        let initial = text
        var ops: [TimelineOp] = []
        for revision in 1...max(count, 1) {
            let character = String(UnicodeScalar(UInt8(97 + revision % 26)))
            ops.append(TimelineOp(revision: revision, ops: [.integer(text.unicodeScalars.count), .string(character)],
                                  userID: revision % 2 == 0 ? "u_00000000000000a1" : nil, timestamp: 1_000 + revision))
            text += character
        }
        let notesCheckpoint = TimelineCheckpoint(revision: 2, text: "ab", timestamp: 900, foldedOps: 2,
                                                 summary: [(key: "reason", value: "cap"), (key: "authors", value: ["u_1": 2])])
        let notes = InterviewRecord.DocumentRecord(text: "abc", revision: 3, initialText: "", checkpoint: notesCheckpoint,
                                                   ops: [TimelineOp(revision: 3, ops: [2, "c"], userID: "u_00000000000000a1", timestamp: 950)])
        let question: JSON = ["title": "Two Sum", "prompt": "Add.", "starter_code": ["python": "def f(): pass"],
                              "tests": [["name": "a", "stdin": "1", "expected_stdout": "1", "hidden": false],
                                        ["name": "b", "stdin": "2", "expected_stdout": "2", "hidden": true]]]
        return InterviewRecord(
            id: id, name: "Backend pair", language: "python", createdAt: 500, endedAt: 90_000, ending: .completed,
            hostTokenHash: Identifiers.tokenHash("host-token"),
            code: InterviewRecord.DocumentRecord(text: text, revision: ops.count, initialText: initial, checkpoint: nil, ops: ops),
            notes: notes, question: question,
            participants: [
                InterviewRecord.Person(id: "u_00000000000000a1", name: "Ivy Interviewer", role: .interviewer, color: "#f00",
                                       joinedAt: 510, leftAt: nil, tokenHash: Identifiers.tokenHash("interviewer-token")),
                InterviewRecord.Person(id: "u_00000000000000c1", name: "Cal Candidate", role: .candidate, color: "#0f0",
                                       joinedAt: 520, leftAt: 80_000, tokenHash: Identifiers.tokenHash("candidate-token")),
            ],
            history: [["type": "created", "at": 500, "language": "python"], ["type": "joined", "at": 510, "user_id": "u_00000000000000a1"],
                      ["type": "ended", "at": 90_000]],
            runs: [
                InterviewRecord.Run(id: "j_1", kind: .execution, createdAt: 2_000,
                                    fields: ["state": "done", "language": "python", "created_at": "2000", "code": "print(1)",
                                             "result": #"{"stdout":"1\n","exit_code":0}"#, "status": "ok"]),
                InterviewRecord.Run(id: "t_1", kind: .testRun, createdAt: 3_000,
                                    fields: ["kind": "test-run", "state": "done", "language": "python", "created_at": "3000",
                                             "cases": #"[{"name":"a","hidden":false},{"name":"b","hidden":true}]"#]),
            ],
            extras: ["scorecards": [["score": 4]], "integrity": [["type": "paste", "at": 1_500]]])
    }

    /// Objects with their keys sorted: jsonb keeps no key order.
    static func canonical(_ value: JSON) -> JSON {
        switch value {
        case .object(let members): return .object(members.map { (key: $0.key, value: canonical($0.value)) }.sorted { $0.key < $1.key })
        case .array(let items): return .array(items.map(canonical))
        default: return value
        }
    }

    static func assertEqual(_ a: InterviewRecord, _ b: InterviewRecord, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.id, b.id, file: file, line: line)
        XCTAssertEqual(a.name, b.name, file: file, line: line)
        XCTAssertEqual(a.language, b.language, file: file, line: line)
        XCTAssertEqual(a.createdAt, b.createdAt, file: file, line: line)
        XCTAssertEqual(a.endedAt, b.endedAt, file: file, line: line)
        XCTAssertEqual(a.ending, b.ending, file: file, line: line)
        XCTAssertEqual(a.hostTokenHash, b.hostTokenHash, file: file, line: line)
        XCTAssertEqual(a.participants, b.participants, file: file, line: line)
        for (x, y) in [(a.code, b.code), (a.notes, b.notes)] {
            XCTAssertEqual(x.text, y.text, file: file, line: line)
            XCTAssertEqual(x.revision, y.revision, file: file, line: line)
            XCTAssertEqual(x.initialText, y.initialText, file: file, line: line)
            XCTAssertEqual(x.checkpoint?.revision, y.checkpoint?.revision, file: file, line: line)
            XCTAssertEqual(x.checkpoint?.text, y.checkpoint?.text, file: file, line: line)
            XCTAssertEqual(x.checkpoint?.timestamp, y.checkpoint?.timestamp, file: file, line: line)
            XCTAssertEqual(x.checkpoint?.foldedOps, y.checkpoint?.foldedOps, file: file, line: line)
            XCTAssertEqual(x.checkpoint.map { JSON.object($0.summary) }, y.checkpoint.map { JSON.object($0.summary) }, "summary order kept",
                           file: file, line: line)
            XCTAssertEqual(x.ops.count, y.ops.count, file: file, line: line)
            for (p, q) in zip(x.ops, y.ops) where p.revision != q.revision || p.ops != q.ops || p.userID != q.userID || p.timestamp != q.timestamp {
                return XCTFail("op \(p.revision) differs", file: file, line: line)
            }
        }
        XCTAssertEqual(a.question.map(canonical), b.question.map(canonical), file: file, line: line)
        XCTAssertEqual(a.history.map(canonical), b.history.map(canonical), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.id), b.runs.map(\.id), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.kind), b.runs.map(\.kind), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.createdAt), b.runs.map(\.createdAt), file: file, line: line)
        XCTAssertEqual(a.runs.map(\.fields), b.runs.map(\.fields), file: file, line: line)
        XCTAssertEqual(a.extras.mapValues { $0.map(canonical) }, b.extras.mapValues { $0.map(canonical) }, file: file, line: line)
    }
}

