import Foundation
import JSON
import Logging
import Redis
import Transport
import XCTest
@testable import Interview
@testable import Stores
@testable import TestSupport

/// The integrity signals' Redis contract (Activity, Lua/activity_add.lua) against a real
/// redis-server: stamping, the private channel only, the session's TTL, the cap, the REST read's
/// token check, and the archive (read into the `integrity` extras, the release's count guard, the
/// keys released). Also the signal's validation (ActivitySignal), which is pure.
final class ActivityContractTests: XCTestCase {
    var redis: RedisContract!

    override func setUpWithError() throws { redis = try RedisContract() }
    override func tearDown() { redis?.close() }

    func wait<T>(_ start: (@escaping (T) -> Void) -> Void, file: StaticString = #filePath, line: UInt = #line) -> T {
        redis.wait(start, file: file, line: line)
    }

    func signal(_ json: JSON) throws -> ActivitySignal { try ActivitySignal(json) }

    func count(_ c: RedisConnection, _ id: String) -> Int {
        (try? redis.send(c, ["LLEN", SessionKeys(id).activity]).get())?.integer ?? -1
    }

    func testSignalsAreStampedCappedExpireWithTheSessionAndArePublishedOnThePrivateChannelOnly() throws {
        let c = redis.connect(functions: true)
        var settings = SessionSettings()
        settings.archiveHoldMillis = 3_600_000
        let sessions = Sessions(redis: c, settings: settings)
        let activity = Activity(redis: c)
        let created = try wait { sessions.create(SessionDraft(name: "Integrity", code: "x\n", language: "python", maxParticipants: 5,
                                                              creatorName: "Ada"), $0) }.get()
        let id = created.session.id
        let keys = SessionKeys(id)
        let (candidate, candidateToken) = try wait { sessions.join(id, name: "Bob", role: .candidate, token: nil, $0) }.get()

        // What each channel carries.
        let subscriber = RedisSubscriber(loop: redis.loop, address: .single(host: "127.0.0.1", port: Int(redis.server.port)), logger: redis.logger)
        subscriber.start()
        XCTAssertTrue(redis.until(10) { subscriber.isConnected }, "the subscriber connects")
        var onPrivate: [ChannelMessage] = []
        var onEvents: [ChannelMessage] = []
        var ready = 0
        _ = subscriber.listen(keys.privateChannel, ready: { ok in XCTAssertTrue(ok); ready += 1 }) { onPrivate.append(ChannelMessage(payload: $0)!) }
        _ = subscriber.listen(keys.channel, ready: { ok in XCTAssertTrue(ok); ready += 1 }) { onEvents.append(ChannelMessage(payload: $0)!) }
        XCTAssertTrue(redis.until(10) { ready == 2 })

        let before = EventLoop.unixMillis()
        let paste = try signal(["kind": "paste", "length": 240, "source": "external", "document": "code", "offset": 3, "line": 1])
        let entry = try wait { activity.add(id, participant: candidate.id, paste, $0) }.get()
        XCTAssertEqual(entry["user_id"]?.stringValue, candidate.id)
        XCTAssertEqual(entry["name"]?.stringValue, "Bob")
        XCTAssertEqual(entry["role"]?.stringValue, "candidate")
        XCTAssertEqual(entry["type"]?.stringValue, "integrity")
        XCTAssertEqual(entry["kind"]?.stringValue, "paste")
        XCTAssertEqual(entry["seq"]?.intValue, 1)
        XCTAssertEqual(entry["length"]?.intValue, 240)
        XCTAssertEqual(Double(entry["at"]?.intValue ?? 0), Double(before), accuracy: 2_000, "Redis' clock")
        XCTAssertTrue(redis.until(5) { onPrivate.count == 1 }, "published on the private channel")
        guard onPrivate.count == 1 else { return XCTFail("got \(onPrivate.count) on private, \(onEvents.count) on events") }
        let frame = try JSON.parse(onPrivate[0].frame)
        XCTAssertEqual(frame["type"]?.stringValue, "activity")
        XCTAssertEqual(frame["data"]?["seq"]?.intValue, 1)
        XCTAssertEqual(onPrivate[0].exclude, "")
        XCTAssertEqual(onPrivate[0].revision, 0, "no notes revision: a signal is no op")
        redis.until(0.3) { false }
        XCTAssertTrue(onEvents.isEmpty, "nothing on the events channel: \(onEvents.map { String(decoding: $0.frame, as: UTF8.self) })")

        // The session's life: kept as long as its other keys.
        let ttl = (try? redis.send(c, ["PTTL", keys.activity]).get())?.integer ?? -3
        let sessionTTL = (try? redis.send(c, ["PTTL", keys.session]).get())?.integer ?? -3
        XCTAssertEqual(Double(ttl), Double(sessionTTL), accuracy: 5_000)
        XCTAssertGreaterThan(ttl, 0)

        // Not a participant (any more): refused, nothing stored.
        let away = try signal(["kind": "away", "cause": "blur"])
        if case .failure(let error) = wait({ activity.add(id, participant: "u-nobody", away, $0) }) {
            XCTAssertEqual(error.kind, .forbidden)
        } else { XCTFail("a stranger's signal is refused") }
        XCTAssertEqual(count(c, id), 1)

        // The REST read: interviewers (the host token, the admin), not a candidate.
        XCTAssertEqual(try wait { activity.list(id, token: created.hostToken, admin: false, after: 0, $0) }.get().count, 1)
        XCTAssertEqual(try wait { activity.list(id, token: nil, admin: true, after: 0, $0) }.get().count, 1)
        if case .failure(let error) = wait({ activity.list(id, token: candidateToken, admin: false, after: 0, $0) }) {
            XCTAssertEqual(error.kind, .forbidden)
        } else { XCTFail("a candidate reads no signals") }
        if case .failure(let error) = wait({ activity.list(id, token: nil, admin: false, after: 0, $0) }) {
            XCTAssertEqual(error.kind, .unauthorized)
        } else { XCTFail("no token reads no signals") }

        // The cap: the list filled to one short, one more fits, the next is refused.
        let filler = #"{"type":"integrity","kind":"away","cause":"blur","seq":0,"at":0}"#
        _ = redis.send(c, ["RPUSH", keys.activity] + Array(repeating: filler, count: Activity.cap - 2))
        XCTAssertEqual(count(c, id), Activity.cap - 1)
        XCTAssertEqual(try wait { activity.add(id, participant: candidate.id, away, $0) }.get()["seq"]?.intValue, Activity.cap)
        if case .failure(let error) = wait({ activity.add(id, participant: candidate.id, away, $0) }) {
            XCTAssertEqual(error.kind, .full)
            XCTAssertTrue(error.detail.contains("\(Activity.cap)"), error.detail)
        } else { XCTFail("past the cap is refused") }
        XCTAssertEqual(count(c, id), Activity.cap)
        subscriber.close {}

        // An ended session takes no more.
        _ = try wait { sessions.update(id, SessionChanges(status: .completed), token: created.hostToken, author: nil, connection: "", $0) }.get()
        if case .failure(let error) = wait({ activity.add(id, participant: candidate.id, away, $0) }) {
            XCTAssertEqual(error.kind, .gone)
        } else { XCTFail("an ended session takes no signal") }
    }

    func testTheArchiveReadsTheSignalsAndItsReleaseRefusesWhenMoreCameMeanwhile() throws {
        let c = redis.connect(functions: true)
        var settings = SessionSettings()
        settings.archiveHoldMillis = 3_600_000
        let sessions = Sessions(redis: c, settings: settings)
        let activity = Activity(redis: c)
        let created = try wait { sessions.create(SessionDraft(name: "Integrity", code: "x\n", language: "python", maxParticipants: 5,
                                                              creatorName: "Ada"), $0) }.get()
        let id = created.session.id
        let (candidate, _) = try wait { sessions.join(id, name: "Bob", role: .candidate, token: nil, $0) }.get()
        for kind in ["away", "back"] {
            var json: JSON = ["kind": .string(kind), "cause": "hidden"]
            if kind == "back" { json.set("duration_ms", 1200) }
            _ = try wait { activity.add(id, participant: candidate.id, try! ActivitySignal(json), $0) }.get()
        }
        let archive = SessionArchive(redis: c, settings: settings)
        // Read while live: not a record yet. Delete it (ends it), then read.
        XCTAssertNoThrow(try wait { sessions.delete(id, token: created.hostToken, $0) }.get())
        guard case .record(let record, let release)? = try? wait({ archive.read(id, now: EventLoop.unixMillis(), $0) }).get() else {
            return XCTFail("a deleted session is read as a record")
        }
        let kept = record.extras[InterviewRecord.integrityExtras] ?? []
        XCTAssertEqual(kept.map { $0["kind"]?.stringValue }, ["away", "back"])
        XCTAssertEqual(release.activityCount, 2)
        XCTAssertNil(record.json(forInterviewer: false)["extras"]?["integrity"], "the candidate's view has none")
        XCTAssertEqual(record.json(forInterviewer: true)["extras"]?["integrity"]?.arrayValue?.count, 2)

        // A signal written between the read and the release (straight into the list: the session
        // takes none once deleted, but a script racing the end could): the release refuses.
        _ = redis.send(c, ["RPUSH", SessionKeys(id).activity, #"{"type":"integrity","kind":"away","cause":"blur","seq":3,"at":1}"#])
        XCTAssertThrowsError(try wait { archive.release(id, release, $0) }.get(), "the record lacks a signal")
        XCTAssertEqual(count(c, id), 3, "nothing deleted")
        guard case .record(let again, let release2)? = try? wait({ archive.read(id, now: EventLoop.unixMillis(), $0) }).get() else {
            return XCTFail("read again")
        }
        XCTAssertEqual(again.extras[InterviewRecord.integrityExtras]?.count, 3)
        XCTAssertTrue(try wait { archive.release(id, release2, $0) }.get())
        XCTAssertEqual((try? redis.send(c, ["EXISTS", SessionKeys(id).activity]).get())?.integer, 0, "released with the session")
    }

    func testASessionWithoutSignalsIsArchivedAsBefore() throws {
        let c = redis.connect(functions: true)
        var settings = SessionSettings()
        settings.archiveHoldMillis = 3_600_000
        let sessions = Sessions(redis: c, settings: settings)
        let created = try wait { sessions.create(SessionDraft(name: "Plain", code: "x\n", language: "python", maxParticipants: 5,
                                                              creatorName: "Ada"), $0) }.get()
        XCTAssertNoThrow(try wait { sessions.delete(created.session.id, token: created.hostToken, $0) }.get())
        let archive = SessionArchive(redis: SessionArchive(redis: c, settings: settings).redis, settings: settings)
        guard case .record(let record, let release)? = try? wait({ archive.read(created.session.id, now: EventLoop.unixMillis(), $0) }).get() else {
            return XCTFail("read")
        }
        XCTAssertTrue(record.extras.isEmpty, "no integrity extras when there were no signals")
        XCTAssertEqual(release.activityCount, 0)
        XCTAssertTrue(try wait { archive.release(created.session.id, release, $0) }.get())
    }

    func testValidation() throws {
        XCTAssertNoThrow(try signal(["kind": "insert", "length": 201]))
        XCTAssertNoThrow(try signal(["kind": "back", "cause": "blur", "duration_ms": 0]))
        let refused: [(JSON, String)] = [
            (["kind": "nope"], "kind"), ([:], "kind"), (.array([]), "data"),
            (["kind": "paste", "length": 3], "source"),
            (["kind": "paste", "length": 0, "source": "external"], "length"),
            (["kind": "paste", "length": 3, "source": "external", "user_id": "u-x"], "user_id"),
            (["kind": "away", "cause": "blur", "timestamp": 5], "timestamp"),
            (["kind": "back", "cause": "blur"], "duration_ms"),
            (["kind": "back", "cause": "blur", "duration_ms": 1.5], "duration_ms"),
            (["kind": "away", "cause": .string(String(repeating: "x", count: 600))], "data"),
        ]
        for (json, field) in refused {
            do {
                _ = try signal(json)
                XCTFail("accepted \(json.text)")
            } catch {
                XCTAssertEqual((error as? InterviewError)?.field, field, json.text)
            }
        }
    }
}
