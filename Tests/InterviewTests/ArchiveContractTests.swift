import Foundation
import JSON
import Logging
import Redis
import Transport
import XCTest
@testable import Archiver
@testable import Interview
@testable import Stores
@testable import TestSupport

/// The archive's Redis contract against a real redis-server: the queue's scripts (claim, lease,
/// retry with backoff, complete), a session's keys kept for the hold when archiving is on (and
/// unchanged behaviour when it is off), the reader and the release, and the archiver's loop with
/// a record store in memory.
final class ArchiveContractTests: XCTestCase {
    var redis: RedisContract!

    override func setUpWithError() throws { redis = try RedisContract() }
    override func tearDown() { redis?.close() }

    func wait<T>(_ start: (@escaping (T) -> Void) -> Void, file: StaticString = #filePath, line: UInt = #line) -> T {
        redis.wait(start, file: file, line: line)
    }

    /// The detail of a 410, nil for anything else.
    func gone<T>(_ start: (@escaping (Result<T, InterviewError>) -> Void) -> Void) -> String? {
        if case .failure(let error) = redis.wait(start), error.kind == .gone { return error.detail }
        return nil
    }

    func score(_ c: RedisConnection, _ id: String) -> Int64? {
        (try? redis.send(c, ["ZSCORE", ArchiveKeys.due, id]).get())?.text.flatMap { Double($0) }.map { Int64($0) }
    }

    func pttl(_ c: RedisConnection, _ key: String) -> Int64 {
        Int64((try? redis.send(c, ["PTTL", key]).get())?.integer ?? -3)
    }

    // MARK: The queue

    func testClaimLeaseRetryBackoffAndComplete() throws {
        for functions in [false, true] {
            let c = redis.connect(functions: functions)
            _ = redis.send(c, ["DEL", ArchiveKeys.due, ArchiveKeys.attempts])
            let queue = ArchiveQueue(redis: c)
            let now = EventLoop.unixMillis()
            XCTAssertNoThrow(try wait { queue.schedule("s_due", dueAt: now - 1000, $0) }.get())
            XCTAssertNoThrow(try wait { queue.schedule("s_later", dueAt: now + 3_600_000, $0) }.get())
            XCTAssertGreaterThan(pttl(c, ArchiveKeys.due), 0, "the queue keeps a TTL")

            // ZADD LT: a later schedule never pushes an entry back; an earlier one brings it forward.
            XCTAssertNoThrow(try wait { queue.schedule("s_due", dueAt: now + 10_000, $0) }.get())
            XCTAssertEqual(score(c, "s_due"), now - 1000)

            var stats = try wait { queue.stats($0) }.get()
            XCTAssertEqual(stats.size, 2)
            XCTAssertEqual(stats.overdue, 1)
            XCTAssertGreaterThanOrEqual(stats.oldestOverdueMillis, 900)

            let claim = try wait { queue.claim(leaseMillis: 300, $0) }.get()
            XCTAssertEqual(claim?.id, "s_due")
            XCTAssertEqual(claim?.attempts, 0)
            XCTAssertNil(try wait { queue.claim(leaseMillis: 300, $0) }.get(), "claimed (leased) and not due: nothing to claim")
            stats = try wait { queue.stats($0) }.get()
            XCTAssertEqual(stats.overdue, 0, "a claimed entry is not overdue")

            // A renewal keeps it; a lapsed lease lets the next claim take it.
            XCTAssertTrue(try wait { queue.renew("s_due", leaseMillis: 300, $0) }.get())
            XCTAssertTrue(redis.until(2) { (try? self.wait { queue.claim(leaseMillis: 60_000, $0) }.get())??.id == "s_due" },
                          "an archiver that died lets the lease pass; another takes the session")

            // A failure: due again after 2^n s (2 s, then 4 s), counted.
            let first = try wait { queue.retry("s_due", $0) }.get()
            XCTAssertEqual(first, 2000)
            let after = score(c, "s_due") ?? 0
            XCTAssertGreaterThanOrEqual(after, now + 1500)
            XCTAssertEqual(try wait { queue.retry("s_due", $0) }.get(), 4000)
            XCTAssertEqual((try? redis.send(c, ["HGET", ArchiveKeys.attempts, "s_due"]).get())?.text, "2")
            XCTAssertGreaterThan(pttl(c, ArchiveKeys.attempts), 0)
            for _ in 0..<10 { _ = try wait { queue.retry("s_due", $0) }.get() }
            XCTAssertEqual(try wait { queue.retry("s_due", $0) }.get(), 300_000, "the backoff stops at 5 min")
            _ = redis.send(c, ["ZADD", ArchiveKeys.due, "XX", "0", "s_due"])
            XCTAssertEqual(try wait { queue.claim(leaseMillis: 1000, $0) }.get()?.attempts, 13, "a claim tells the attempts so far")

            // Complete: off the queue with its attempts; a late retry or renew does not put it back.
            XCTAssertNoThrow(try wait { queue.complete("s_due", $0) }.get())
            XCTAssertNil(score(c, "s_due"))
            XCTAssertNil((try? redis.send(c, ["HGET", ArchiveKeys.attempts, "s_due"]).get())?.text)
            XCTAssertNil(try wait { queue.retry("s_due", $0) }.get())
            XCTAssertFalse(try wait { queue.renew("s_due", leaseMillis: 1000, $0) }.get())
            XCTAssertNil(score(c, "s_due"))

            // A live session's entry is postponed to its expires_at.
            XCTAssertNoThrow(try wait { queue.postpone("s_later", until: now + 7_200_000, $0) }.get())
            XCTAssertEqual(score(c, "s_later"), now + 7_200_000)
            XCTAssertNoThrow(try wait { queue.postpone("s_gone", until: now, $0) }.get())
            XCTAssertNil(score(c, "s_gone"), "postponing never adds an entry")

            XCTAssertNoThrow(try wait { queue.heartbeat(archiver: "arch-1", leaseMillis: 5000, info: "{}", $0) }.get())
            XCTAssertNotNil((try? redis.send(c, ["ZSCORE", NodeKeys.archivers, "arch-1"]).get())?.text)
            XCTAssertNoThrow(try wait { queue.deregister(archiver: "arch-1", $0) }.get())
            XCTAssertNil((try? redis.send(c, ["ZSCORE", NodeKeys.archivers, "arch-1"]).get())?.text)
        }
    }

    // MARK: Sessions kept until archived

    func archiving(hold: Int64 = 3_600_000, ttl: Int64 = 24 * 3_600_000) -> SessionSettings {
        var settings = SessionSettings()
        settings.ttlMillis = ttl
        settings.archiveHoldMillis = hold
        return settings
    }

    func create(_ sessions: Sessions, code: String = "print(1)\n") throws -> CreatedSession {
        try wait { sessions.create(SessionDraft(name: "Archive", code: code, language: "python", maxParticipants: 5, creatorName: "Ada"), $0) }.get()
    }

    func testADeletedSessionAnswers410AndKeepsItsKeysUntilArchived() throws {
        let c = redis.connect(functions: true)
        let settings = archiving()
        let sessions = Sessions(redis: c, settings: settings)
        let created = try create(sessions)
        let id = created.session.id
        let keys = SessionKeys(id)
        XCTAssertEqual((try? redis.send(c, ["HGET", keys.session, "archive_hold_ms"]).get())?.text, "3600000")
        // Kept keys expire at expires_at + hold.
        let expected = created.session.expiresAt + settings.archiveHoldMillis! - EventLoop.unixMillis()
        for key in [keys.session, keys.participants, keys.tokens, keys.history, keys.snapshot, keys.checkpoint] {
            XCTAssertEqual(Double(pttl(c, key)), Double(expected), accuracy: 5_000, key)
        }
        XCTAssertEqual(score(c, id), created.session.expiresAt, "create schedules it at its expires_at")

        let (candidate, candidateToken) = try wait { sessions.join(id, name: "Bob", role: .candidate, token: nil, $0) }.get()
        _ = try wait { sessions.saveCode(id, code: "print(2)\n", language: nil, token: created.hostToken, $0) }.get()
        _ = try wait { sessions.replaceNotes(id, text: "good", revision: nil, token: created.hostToken, $0) }.get()
        XCTAssertEqual(Double(pttl(c, keys.notesLog)), Double(expected), accuracy: 5_000, "the notes' keys too")

        XCTAssertNoThrow(try wait { sessions.delete(id, token: created.hostToken, $0) }.get())
        XCTAssertLessThanOrEqual(score(c, id) ?? .max, EventLoop.unixMillis(), "delete makes it due now")
        // Every live route answers 410 deleted, as when the keys went at once...
        XCTAssertEqual(gone { sessions.session(id, $0) }, "session \(id) was deleted by its host")
        XCTAssertEqual(gone { sessions.documents.read(id, .code, $0) }, "session \(id) was deleted by its host", "the document of a deleted session is gone")
        XCTAssertEqual(gone { sessions.join(id, name: "Eve", role: .candidate, token: nil, $0) }, "session \(id) was deleted by its host")
        XCTAssertNotNil(gone { sessions.delete(id, token: created.hostToken, $0) }, "deleting twice is 410")
        XCTAssertEqual(gone { sessions.notes(id, token: created.hostToken, $0) }, "session \(id) was deleted by its host")
        _ = candidateToken
        // ...but its data keys stay for the archiver.
        for key in [keys.session, keys.participants, keys.history, keys.log, keys.checkpoint, keys.notesLog] {
            XCTAssertEqual((try? redis.send(c, ["EXISTS", key]).get())?.integer, 1, key)
        }

        let archive = SessionArchive(redis: c, settings: settings)
        guard case .record(let record, let release)? = try? wait({ archive.read(id, now: EventLoop.unixMillis(), $0) }).get() else {
            return XCTFail("a deleted session is read as a record")
        }
        XCTAssertEqual(record.ending, .deleted)
        XCTAssertEqual(record.code.text, "print(2)\n")
        XCTAssertEqual(record.code.initialText, "print(1)\n")
        XCTAssertEqual(record.code.revision, record.code.ops.last?.revision)
        XCTAssertEqual(record.notes.text, "good")
        XCTAssertEqual(Set(record.participants.map(\.name)), ["Ada", "Bob"])
        XCTAssertNotNil(record.participants.first { $0.id == candidate.id }?.tokenHash)
        XCTAssertTrue(record.history.contains { $0["type"]?.stringValue == "deleted" })

        XCTAssertTrue(try wait { archive.release(id, release, $0) }.get())
        for key in [keys.session, keys.participants, keys.history, keys.log, keys.checkpoint, keys.notesLog, keys.notes] {
            XCTAssertEqual((try? redis.send(c, ["EXISTS", key]).get())?.integer, 0, key)
        }
        XCTAssertEqual((try? redis.send(c, ["GET", keys.gone]).get())?.text, "deleted")
        XCTAssertEqual(gone { sessions.session(id, $0) }, "session \(id) was deleted by its host", "a released session answers 410")
        XCTAssertFalse(try wait { archive.release(id, release, $0) }.get(), "released twice: nothing left")
        guard case .missing? = try? wait({ archive.read(id, now: EventLoop.unixMillis(), $0) }).get() else { return XCTFail("nothing left to read") }
    }

    func testEndedAndExpiredSessionsAreReadWithTheirEndingAndLiveOnesAreNot() throws {
        let c = redis.connect(functions: false)
        let sessions = Sessions(redis: c, settings: archiving(ttl: 1_500))
        let archive = SessionArchive(redis: c, settings: sessions.settings)
        let ended = try create(sessions)
        let expiring = try create(sessions)
        guard case .live(let expiresAt)? = try? wait({ archive.read(expiring.session.id, now: EventLoop.unixMillis(), $0) }).get() else {
            return XCTFail("a live session is not archived")
        }
        XCTAssertEqual(expiresAt, expiring.session.expiresAt)
        _ = try wait { sessions.update(ended.session.id, SessionChanges(status: .completed), token: ended.hostToken, $0) }.get()
        XCTAssertLessThanOrEqual(score(c, ended.session.id) ?? .max, EventLoop.unixMillis(), "the end makes it due now")
        guard case .record(let record, let release)? = try? wait({ archive.read(ended.session.id, now: EventLoop.unixMillis(), $0) }).get() else {
            return XCTFail("an ended session is read")
        }
        XCTAssertEqual(record.ending, .completed)
        XCTAssertTrue(try wait { archive.release(ended.session.id, release, $0) }.get())
        XCTAssertEqual((try? redis.send(c, ["GET", SessionKeys(ended.session.id).gone]).get())?.text, "ended")
        XCTAssertEqual(gone { sessions.session(ended.session.id, $0) }, "session \(ended.session.id) has ended", "a released ended session answers 410 ended")

        // Past expires_at the keys stay (the hold) but every live route says expired.
        XCTAssertTrue(redis.until(5) { EventLoop.unixMillis() > expiring.session.expiresAt + 50 })
        XCTAssertEqual((try? redis.send(c, ["EXISTS", SessionKeys(expiring.session.id).session]).get())?.integer, 1)
        XCTAssertEqual(gone { sessions.session(expiring.session.id, $0) }, "session \(expiring.session.id) has expired")
        XCTAssertEqual(gone { sessions.documents.read(expiring.session.id, .code, $0) }, "session \(expiring.session.id) has expired")
        guard case .record(let expired, _)? = try? wait({ archive.read(expiring.session.id, now: EventLoop.unixMillis(), $0) }).get() else {
            return XCTFail("an expired session is read")
        }
        XCTAssertEqual(expired.ending, .expired)
        XCTAssertEqual(expired.endedAt, expiring.session.expiresAt)
        // A release that finds the session moved past what the record holds refuses.
        var stale = release
        stale.codeRevision = 99
        XCTAssertThrowsError(try wait { archive.release(expiring.session.id, stale, $0) }.get())
    }

    func testWithoutArchivingSessionsBehaveAsBefore() throws {
        let c = redis.connect(functions: true)
        var settings = SessionSettings()
        settings.ttlMillis = 3_600_000
        let sessions = Sessions(redis: c, settings: settings)
        XCTAssertNil(sessions.archive)
        let created = try create(sessions)
        let keys = SessionKeys(created.session.id)
        XCTAssertNil((try? redis.send(c, ["HGET", keys.session, "archive_hold_ms"]).get())?.text)
        XCTAssertEqual(Double(pttl(c, keys.session)), Double(created.session.expiresAt - EventLoop.unixMillis()), accuracy: 5_000)
        XCTAssertNil(score(c, created.session.id), "nothing is queued without archiving")
        XCTAssertNoThrow(try wait { sessions.delete(created.session.id, token: created.hostToken, $0) }.get())
        XCTAssertEqual((try? redis.send(c, ["EXISTS", keys.session, keys.history, keys.participants, keys.checkpoint]).get())?.integer, 0,
                       "DELETE deletes at once")
        XCTAssertEqual((try? redis.send(c, ["GET", keys.gone]).get())?.text, "deleted")
        XCTAssertNil(score(c, created.session.id))
    }

    // MARK: The archiver

    func testTheArchiverStoresEachSessionOnceRetriesFailuresAndReleases() throws {
        let c = redis.connect(functions: true)
        let sessions = Sessions(redis: c, settings: archiving())
        var ids: [String] = []
        for n in 0..<4 {
            let created = try create(sessions, code: "v\(n)")
            ids.append(created.session.id)
            if n % 2 == 0 {
                _ = try wait { sessions.update(created.session.id, SessionChanges(status: .completed), token: created.hostToken, $0) }.get()
            } else {
                try wait { sessions.delete(created.session.id, token: created.hostToken, $0) }.get()
            }
        }
        let live = try create(sessions)

        var stored: [String: InterviewRecord] = [:]
        var saves = 0
        var migrations = 0
        let store = ArchiveStore(migrate: { done in
            migrations += 1
            done(migrations < 2 ? .failure(InterviewError(.unavailable, "PostgreSQL is starting")) : .success(()))
        }, save: { record, done in
            saves += 1
            // The first save fails: the session stays in Redis and is tried again after the backoff.
            if saves == 1 { return done(.failure(InterviewError(.unavailable, "connection refused"))) }
            stored[record.id] = record
            done(.success(()))
        })
        var configuration = ArchiverConfiguration()
        configuration.redis = .single(host: "127.0.0.1", port: Int(redis.server.port))
        configuration.nodeID = "arch-test"
        configuration.pollMillis = 50
        configuration.leaseMillis = 5_000
        let archiver = Archiver(loop: redis.loop, configuration: configuration, store: store, logger: redis.logger)
        archiver.start()
        XCTAssertTrue(redis.until(15) { stored.count == 4 }, "every ended session is stored (\(stored.count))")
        XCTAssertEqual(Set(stored.keys), Set(ids))
        XCTAssertEqual(saves, 5, "one failure, then each once")
        XCTAssertEqual(migrations, 2, "the schema is retried until it is up")
        for (n, id) in ids.enumerated() {
            XCTAssertEqual(stored[id]?.ending, n % 2 == 0 ? .completed : .deleted)
            XCTAssertEqual(stored[id]?.code.text, "v\(n)")
        }
        XCTAssertTrue(redis.until(5) { ids.allSatisfy { self.score(c, $0) == nil } }, "every archived session leaves the queue")
        for id in ids {
            XCTAssertEqual((try? redis.send(c, ["EXISTS", SessionKeys(id).session]).get())?.integer, 0)
            XCTAssertNotNil((try? redis.send(c, ["GET", SessionKeys(id).gone]).get())?.text)
        }
        XCTAssertNil(stored[live.session.id])
        XCTAssertEqual(score(c, live.session.id), live.session.expiresAt, "a live session waits for its expires_at")
        XCTAssertNotNil((try? redis.send(c, ["ZSCORE", NodeKeys.archivers, "arch-test"]).get())?.text)
        archiver.stop()
        XCTAssertTrue(redis.until(5) { archiver.isClosed })
        XCTAssertTrue(redis.until(5) { (try? self.redis.send(c, ["ZSCORE", NodeKeys.archivers, "arch-test"]).get())?.text == nil },
                      "a stopped archiver leaves the registry")
    }
}
