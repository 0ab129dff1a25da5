import Interview
import JSON
@testable import Records
import XCTest

/// Scorecards written into an archived record (InterviewRecords.writeScorecard) against the real
/// PostgreSQL of InterviewRecordsTests: an author's first one is added, later ones replace it
/// only when it is still the one read, and a record's other extras stay as they were.
extension InterviewRecordsTests {
    func testScorecardsAreAddedAndReplacedPerAuthorGuardedByWhatWasRead() throws {
        let store = try migrated()
        let record = Fixtures.record(ops: 3)
        _ = try wait { store.save(record, $0) }.get()
        let extrasBefore = try wait { store.record(record.id, includeOps: false, $0) }.get()?.extras ?? [:]

        let change = try ScorecardChange(json: ["recommendation": "yes", "submit": true], rubric: Rubric.standard)
        let first = try change.applied(to: nil, authorID: "u_a", authorName: "Ada", now: 1_000)
        XCTAssertTrue(try wait { store.writeScorecard(record.id, author: "u_a", entry: first, previousUpdatedAt: nil, $0) }.get())
        XCTAssertFalse(try wait { store.writeScorecard(record.id, author: "u_a", entry: first, previousUpdatedAt: nil, $0) }.get(),
                       "a second 'first' scorecard of the same author is refused")
        let other = try change.applied(to: nil, authorID: "u_b", authorName: "Bo", now: 1_001)
        XCTAssertTrue(try wait { store.writeScorecard(record.id, author: "u_b", entry: other, previousUpdatedAt: nil, $0) }.get())

        let amended = try ScorecardChange(json: ["recommendation": "no", "text": "amended", "submit": true], rubric: Rubric.standard)
            .applied(to: first, authorID: "u_a", authorName: "Ada", now: 2_000)
        XCTAssertEqual(amended["amendments"]?.intValue, 1)
        XCTAssertEqual(amended["submitted_at"]?.intValue, 1_000)
        XCTAssertThrowsError(try ScorecardChange(json: ["recommendation": "no"], rubric: Rubric.standard)
            .applied(to: first, authorID: "u_a", authorName: "Ada", now: 2_000), "no way back to draft")
        XCTAssertFalse(try wait { store.writeScorecard(record.id, author: "u_a", entry: amended, previousUpdatedAt: 999, $0) }.get(),
                       "a replacement of an entry that changed since it was read is refused")
        XCTAssertTrue(try wait { store.writeScorecard(record.id, author: "u_a", entry: amended, previousUpdatedAt: 1_000, $0) }.get())

        let read = try XCTUnwrap(try wait { store.record(record.id, includeOps: false, $0) }.get())
        let cards = read.extras["scorecards"] ?? []
        XCTAssertEqual(cards.filter { $0["author_id"] != nil }.count, 2, "one per author (the fixture has one of its own)")
        XCTAssertEqual(cards.first { $0["author_id"]?.stringValue == "u_a" }?["text"]?.stringValue, "amended")
        for (kind, entries) in extrasBefore where kind != "scorecards" { XCTAssertEqual(read.extras[kind], entries, kind) }
        XCTAssertFalse(try wait { store.writeScorecard("nosuchrecordnosuchrec0", author: "u_a", entry: first, previousUpdatedAt: nil, $0) }.get(),
                       "no record, nothing written")
    }
}
