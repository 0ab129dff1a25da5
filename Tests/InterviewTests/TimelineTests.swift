import Interview
import Stores
import JSON
import XCTest

/// Timeline pages: cut by revision, each event after the op that made the document it saw, no
/// event lost or repeated across pages, whatever the page size.
final class TimelineTests: XCTestCase {
    /// 40 ops one per 10 ms from t=1000; history events at chosen times.
    private func session(ops count: Int = 40) -> (ops: [TimelineOp], others: [JSON]) {
        let ops = (1...count).map { TimelineOp(revision: $0, ops: [.integer($0 - 1), "x"], userID: "u\($0 % 3)", timestamp: 1000 + 10 * $0) }
        let others: [JSON] = [
            ["type": "created", "at": 1000],
            ["type": "joined", "at": 1000, "user_id": "u1"],
            ["type": "joined", "at": 1055, "user_id": "u2"],   // after op 5 (t=1050), before op 6
            ["type": "execution", "timestamp": 1100],           // at op 10's time: after it
            ["type": "left", "at": 1333, "user_id": "u1"],
            ["type": "ended", "at": 9999],
        ].map { Timeline.event(history: $0)! }
        return (ops, others)
    }

    /// Every page from the start, as the route would read them (limit + 1 ops from the bound).
    private func pages(limit: Int, ops: [TimelineOp], others: [JSON], checkpoint: TimelineCheckpoint? = nil) -> [TimelinePage] {
        let head = ops.last?.revision ?? 0
        var out: [TimelinePage] = []
        var after = 0
        while true {
            let lower = max(after, checkpoint.map { after < $0.revision ? $0.revision : after } ?? after)
            let read = Array(ops.filter { $0.revision > lower }.prefix(limit + 1))
            let page = Timeline.page(after: after, limit: limit, head: head, ops: read, others: others, checkpoint: checkpoint)
            out.append(page)
            guard let next = page.nextAfterRevision else { return out }
            XCTAssertGreaterThan(next, after)
            after = next
            if out.count > 1000 { XCTFail("paging does not end"); return out }
        }
    }

    private func describe(_ events: [JSON]) -> [String] {
        events.map { e in
            let type = e["type"]!.stringValue!
            return type == "op" ? "op\(e["revision"]!.intValue!)" : "\(type)@\(e["revision"]?.intValue.map(String.init) ?? "-")"
        }
    }

    func testEventsFollowTheOpWhoseDocumentTheySaw() {
        let (ops, others) = session()
        let all = pages(limit: 5000, ops: ops, others: others)
        XCTAssertEqual(all.count, 1)
        let names = describe(all[0].events)
        XCTAssertEqual(Array(names.prefix(3)), ["created@0", "joined@0", "op1"])
        XCTAssertEqual(names[names.firstIndex(of: "op5")! + 1], "joined@5")
        XCTAssertEqual(names[names.firstIndex(of: "op10")! + 1], "execution@10")
        XCTAssertEqual(names.last, "ended@40")
        XCTAssertEqual(names.filter { $0.hasPrefix("op") }.count, 40)
    }

    func testEveryPageSizeGivesTheSameTimelineWithNothingRepeated() {
        let (ops, others) = session()
        let whole = describe(pages(limit: 5000, ops: ops, others: others)[0].events)
        for limit in [1, 2, 3, 5, 7, 13, 40, 41] {
            let paged = pages(limit: limit, ops: ops, others: others)
            XCTAssertEqual(describe(paged.flatMap(\.events)), whole, "limit \(limit)")
            for page in paged.dropLast() { XCTAssertNotNil(page.nextAfterRevision) }
            // A page holds at most `limit` events unless one revision alone has more.
            for page in paged where page.events.count > limit {
                XCTAssertEqual(page.events.filter { $0["type"]?.stringValue == "op" }.count, 1, "limit \(limit)")
            }
        }
    }

    func testAfterTheHeadIsAnEmptyLastPage() {
        let (ops, others) = session()
        let page = Timeline.page(after: 40, limit: 10, head: 40, ops: [], others: others, checkpoint: nil)
        XCTAssertEqual(page.events.count, 0)
        XCTAssertNil(page.nextAfterRevision)
        let later = Timeline.page(after: 99, limit: 10, head: 40, ops: [], others: others, checkpoint: nil)
        XCTAssertTrue(later.events.isEmpty)
    }

    func testACheckpointStartsTheFirstPageWithTheEventsBeforeIt() {
        let (ops, others) = session()
        let checkpoint = TimelineCheckpoint(revision: 20, text: String(repeating: "x", count: 20), timestamp: 1200, foldedOps: 20)
        let kept = ops.filter { $0.revision > 20 }
        for limit in [3, 5000] {
            let paged = pages(limit: limit, ops: kept, others: others, checkpoint: checkpoint)
            let names = describe(paged.flatMap(\.events))
            XCTAssertEqual(Array(names.prefix(5)), ["created@-", "joined@-", "joined@-", "execution@-", "checkpoint@20"], "limit \(limit)")
            XCTAssertEqual(names[5], "op21")
            XCTAssertEqual(names.filter { $0.hasPrefix("op") }.count, 20)
            XCTAssertEqual(names[names.firstIndex(of: "op33")! + 1], "left@33")
            XCTAssertEqual(paged[0].events[4]["text"]?.stringValue, checkpoint.text)
        }
        // Paging from before the checkpoint lands on it too.
        let page = Timeline.page(after: 3, limit: 5000, head: 40, ops: kept, others: others, checkpoint: checkpoint)
        XCTAssertEqual(describe(page.events).first(where: { $0.hasPrefix("checkpoint") }), "checkpoint@20")
    }

    func testExecutionEventsCarryTheirResultAsStored() throws {
        let job = try XCTUnwrap(ExecutionJob(id: "j_1", fields: [
            "state": "done", "language": "python", "user_id": "u1", "user_name": "Ada", "created_at": "1234",
            "status": "ok", "result": #"{"status":"ok","stdout":"hi\n","stderr":"","exit_code":0,"time_ms":3}"#,
        ]))
        let event = Timeline.event(execution: job)
        XCTAssertEqual(event["type"], "execution")
        XCTAssertEqual(event["timestamp"], 1234)
        XCTAssertEqual(event["stdout"], "hi\n")
        XCTAssertEqual(event["status"], "ok")
        XCTAssertEqual(event["name"], "Ada")
        XCTAssertEqual(event["exit_code"], 0)
    }
}
