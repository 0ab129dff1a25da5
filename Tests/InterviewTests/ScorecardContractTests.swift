import Foundation
import JSON
import Redis
import Transport
import XCTest
@testable import Interview
@testable import Stores
@testable import TestSupport

/// Scorecards' Redis contract against a real redis-server (Lua/scorecard_put.lua, Scorecards,
/// and their part in the archive: read into the record's extras, the release refusing when they
/// changed after the read, and deleting them).
final class ScorecardContractTests: XCTestCase {
    var redis: RedisContract!

    override func setUpWithError() throws { redis = try RedisContract() }
    override func tearDown() { redis?.close() }

    func wait<T>(_ start: (@escaping (T) -> Void) -> Void, file: StaticString = #filePath, line: UInt = #line) -> T {
        redis.wait(start, file: file, line: line)
    }

    func change(_ json: JSON, rubric: [RubricCriterion] = Rubric.standard) throws -> ScorecardChange {
        try ScorecardChange(json: json, rubric: rubric)
    }

    func testDraftSubmitAmendPrivacyAndTheArchiveRelease() throws {
        for functions in [false, true] {
            let c = redis.connect(functions: functions)
            var settings = SessionSettings()
            settings.archiveHoldMillis = 3_600_000
            let sessions = Sessions(redis: c, settings: settings)
            let scorecards = Scorecards(sessions: sessions)
            let created = try wait { sessions.create(SessionDraft(name: "S", code: "x\n", language: "python", maxParticipants: 5,
                                                                  creatorName: "Ada"), $0) }.get()
            let id = created.session.id
            let host = created.hostToken
            let (zed, zedToken) = try wait { sessions.join(id, name: "Zed", role: .interviewer, token: host, $0) }.get()
            let (_, candidateToken) = try wait { sessions.join(id, name: "Cat", role: .candidate, token: nil, $0) }.get()

            // A candidate can neither read nor write.
            if case .failure(let error) = wait({ scorecards.read(id, token: candidateToken, $0) }) {
                XCTAssertEqual(error.kind, .forbidden)
            } else { XCTFail("a candidate read scorecards") }
            if case .failure(let error) = wait({ scorecards.write(id, try! self.change(["text": "x"]), token: candidateToken, $0) }) {
                XCTAssertEqual(error.kind, .forbidden)
            } else { XCTFail("a candidate wrote a scorecard") }

            // Zed's draft: his alone.
            let draft = try wait { scorecards.write(id, try! self.change(["recommendation": "yes", "ratings": ["testing": 3], "text": "ok"]),
                                                    token: zedToken, $0) }.get()
            XCTAssertEqual(draft["status"]?.stringValue, "draft")
            XCTAssertEqual(draft["author_id"]?.stringValue, zed.id)
            XCTAssertEqual(draft["ratings"]?["testing"]?.intValue, 3)
            let hostView = try wait { scorecards.read(id, token: host, $0) }.get()
            XCTAssertEqual(hostView.viewer, "host")
            XCTAssertEqual(ScorecardVisibility.view(hostView.cards, viewer: "host").visible.count, 0, "the host sees no one's draft")

            // Zed submits; the host (not yet submitted) sees who, not what.
            _ = try wait { scorecards.write(id, try! self.change(["recommendation": "strong_yes", "submit": true]), token: zedToken, $0) }.get()
            var view = ScorecardVisibility.view(try wait { scorecards.read(id, token: host, $0) }.get().cards, viewer: "host")
            XCTAssertEqual(view.visible.count, 0)
            XCTAssertEqual(view.submitted.map { $0["author_id"]?.stringValue }, [zed.id])
            XCTAssertNil(view.submitted.first?["recommendation"])
            // Back to draft is refused; an amendment is counted.
            if case .failure(let error) = wait({ scorecards.write(id, try! self.change(["recommendation": "no"]), token: zedToken, $0) }) {
                XCTAssertEqual(error.kind, .conflict)
            } else { XCTFail("a submitted scorecard went back to draft") }
            let amended = try wait { scorecards.write(id, try! self.change(["recommendation": "yes", "submit": true]), token: zedToken, $0) }.get()
            XCTAssertEqual(amended["amendments"]?.intValue, 1)
            XCTAssertEqual(amended["status"]?.stringValue, "submitted")

            // The host submits and then sees Zed's.
            _ = try wait { scorecards.write(id, try! self.change(["recommendation": "no", "submit": true]), token: host, $0) }.get()
            view = ScorecardVisibility.view(try wait { scorecards.read(id, token: host, $0) }.get().cards, viewer: "host")
            XCTAssertEqual(Set(view.visible.compactMap { $0["author_id"]?.stringValue }), ["host", zed.id])
            let keys = SessionKeys(id)
            XCTAssertGreaterThan((try? redis.send(c, ["PTTL", keys.scorecards]).get())?.integer ?? -1, 0, "the scorecards expire with the session")

            // End; the archive reads them; a write after the read makes the release refuse.
            _ = try wait { sessions.update(id, SessionChanges(status: .completed), token: host, $0) }.get()
            let archive = SessionArchive(redis: c, settings: settings)
            guard case .record(let record, let release)? = try? wait({ archive.read(id, now: EventLoop.unixMillis(), $0) }).get() else {
                return XCTFail("the ended session is read")
            }
            XCTAssertEqual(record.extras["scorecards"]?.count, 2)
            XCTAssertEqual(record.json(forInterviewer: false)["extras"]?["scorecards"], nil, "never in the candidate's record")
            _ = try wait { scorecards.write(id, try! self.change(["recommendation": "strong_no", "submit": true]), token: host, $0) }.get()
            XCTAssertThrowsError(try wait { archive.release(id, release, $0) }.get(), "a scorecard written after the read is not lost")
            guard case .record(let again, let fresh)? = try? wait({ archive.read(id, now: EventLoop.unixMillis(), $0) }).get() else {
                return XCTFail("read again")
            }
            XCTAssertEqual(again.extras["scorecards"]?.first { $0["author_id"]?.stringValue == "host" }?["recommendation"]?.stringValue, "strong_no")
            XCTAssertTrue(try wait { archive.release(id, fresh, $0) }.get())
            XCTAssertEqual((try? redis.send(c, ["EXISTS", keys.scorecards]).get())?.integer, 0, "released with the session")
            if case .failure(let error) = wait({ scorecards.read(id, token: host, $0) }) {
                XCTAssertEqual(error.kind, .gone)
            } else { XCTFail("a released session's scorecards are gone") }
        }
    }

    func testBodiesAreCheckedAgainstTheRubric() throws {
        let rubric = try Rubric.parse(["rubric": [["id": "algo", "name": "Algorithms", "description": "d"]]]["rubric"])
        XCTAssertEqual(rubric.map(\.id), ["algo"])
        XCTAssertEqual(Rubric.effective(question: nil).map(\.id), ["problem_solving", "code_quality", "communication", "testing"])
        let bad: [(JSON, String)] = [
            (["ratings": ["testing": 3]], "ratings.testing"),
            (["ratings": ["algo": 5]], "ratings.algo"),
            (["ratings": ["algo": 0]], "ratings.algo"),
            (["ratings": ["algo": 2.5]], "ratings.algo"),
            (["ratings": ["algo": "3"]], "ratings.algo"),
            (["ratings": [1, 2]], "ratings"),
            (["recommendation": "maybe"], "recommendation"),
            (["recommendation": 1], "recommendation"),
            (["submit": true], "recommendation"),
            (["submit": "yes"], "submit"),
            (["text": 5], "text"),
            (["text": .string(String(repeating: "x", count: 10_001))], "text"),
            (["verdict": "yes"], "verdict"),
        ]
        for (body, field) in bad {
            XCTAssertThrowsError(try change(body, rubric: rubric), "\(body)") { error in
                XCTAssertEqual((error as? InterviewError)?.field, field, "\(body)")
            }
        }
        XCTAssertEqual(try change(["ratings": ["algo": 4], "recommendation": "strong_no", "submit": true], rubric: rubric).ratings.first?.value, 4)
        for (rubricJSON, field) in [(JSON.string("x"), "rubric"), (.array([["id": "A b", "name": "n"]]), "rubric[0].id"),
                                    (.array([["id": "a", "name": ""]]), "rubric[0].name"),
                                    (.array([["id": "a", "name": "n"], ["id": "a", "name": "m"]]), "rubric[1].id"),
                                    (.array([["id": "a", "name": .string(String(repeating: "n", count: 81))]]), "rubric[0].name"),
                                    (.array((0..<13).map { ["id": .string("c\($0)"), "name": "n"] }), "rubric")] {
            XCTAssertThrowsError(try Question(json: ["title": "T", "rubric": rubricJSON]), "\(rubricJSON)") { error in
                XCTAssertEqual((error as? InterviewError)?.field, field)
            }
        }
        let question = try Question(json: ["title": "T", "rubric": [["id": "algo", "name": "Algorithms"]]])
        XCTAssertEqual(question.json(forInterviewer: true)["rubric"]?.arrayValue?.count, 1)
        XCTAssertNil(question.json(forInterviewer: false)["rubric"], "a candidate does not get the rubric")
        XCTAssertNil(try Question(json: ["title": "T"]).json["rubric"], "a question without one stays as it was")
    }
}
