import Interview
import JSON
import XCTest

/// The record's views (pure): what each role sees, the timeline's pages, the text at a revision.
final class InterviewRecordViewTests: XCTestCase {
    /// A record with 12 code ops ("abcdefghijkl" typed one character at a time onto "x"), notes
    /// folded into a checkpoint, a question with a hidden test, an execution, a test run, extras.
    func record() -> InterviewRecord {
        var text = "x"
        var ops: [TimelineOp] = []
        for (index, character) in "abcdefghijkl".enumerated() {
            ops.append(TimelineOp(revision: index + 1, ops: [.integer(text.count), .string(String(character))],
                                  userID: "u_00000000000000a1", timestamp: 1_000 + index * 100))
            text.append(character)
        }
        let notes = InterviewRecord.DocumentRecord(
            text: "secret notes!", revision: 3, initialText: "",
            checkpoint: TimelineCheckpoint(revision: 2, text: "secret notes", timestamp: 1_050, foldedOps: 2,
                                           summary: [(key: "reason", value: "cap")]),
            ops: [TimelineOp(revision: 3, ops: [12, "!"], userID: "u_00000000000000a1", timestamp: 1_060)])
        let question: JSON = ["title": "Reverse", "prompt": "Reverse it.", "starter_code": ["python": "pass"],
                              "tests": [["name": "shown", "stdin": "ab", "expected_stdout": "ba", "hidden": false],
                                        ["name": "secret", "stdin": "hidden input", "expected_stdout": "tupni", "hidden": true]]]
        let caseResults = #"[{"name":"shown","hidden":false,"status":"passed","stdin":"ab","expected_stdout":"ba","stdout":"ba"},"#
            + #"{"name":"secret","hidden":true,"status":"failed","stdin":"hidden input","expected_stdout":"tupni","stdout":"nope"}]"#
        return InterviewRecord(
            id: "abcdefghijklmnopqrstuv", name: "Pair", language: "python", createdAt: 900, endedAt: 5_000, ending: .completed,
            hostTokenHash: Identifiers.tokenHash("host"),
            code: InterviewRecord.DocumentRecord(text: text, revision: 12, initialText: "x", ops: ops),
            notes: notes, question: question,
            participants: [InterviewRecord.Person(id: "u_00000000000000a1", name: "Ivy", role: .interviewer, color: "#f00", joinedAt: 950),
                           InterviewRecord.Person(id: "u_00000000000000c1", name: "Cal", role: .candidate, color: "#0f0", joinedAt: 960,
                                                  leftAt: 4_000)],
            history: [["type": "created", "at": 900, "language": "python"],
                      ["type": "joined", "at": 950, "user_id": "u_00000000000000a1"],
                      ["type": "language_changed", "at": 1_450, "language": "go"],
                      ["type": "notes_saved", "at": 1_460],
                      ["type": "ended", "at": 5_000]],
            runs: [InterviewRecord.Run(id: "j_1", kind: .execution, createdAt: 1_250,
                                       fields: ["state": "done", "language": "python", "created_at": "1250", "code": "print(1)",
                                                "result": #"{"stdout":"1\n","exit_code":0}"#, "status": "ok", "finished_at": "1300"]),
                   InterviewRecord.Run(id: "t_1", kind: .testRun, createdAt: 1_650,
                                       fields: ["kind": "test-run", "state": "done", "language": "python", "created_at": "1650",
                                                "cases": #"[{"name":"shown","hidden":false},{"name":"secret","hidden":true}]"#,
                                                "result": #"{"status":"failed","cases":"# + caseResults + "}"])],
            extras: ["scorecards": [["score": 3]], "integrity": [["type": "paste"]], "terminal": [["line": "$ ls"]]])
    }

    // MARK: Roles

    func testInterviewersSeeEverything() {
        let view = record().json(forInterviewer: true)
        XCTAssertEqual(view["view"]?.stringValue, "interviewer")
        XCTAssertEqual(view["notes"]?["text"]?.stringValue, "secret notes!")
        XCTAssertEqual(view["question"]?["tests"]?.arrayValue?.count, 2)
        XCTAssertEqual(view["code"]?["text"]?.stringValue, "xabcdefghijkl")
        XCTAssertEqual(view["extras"]?.objectValue?.map(\.key), ["integrity", "scorecards", "terminal"])
        XCTAssertEqual(view["history"]?.arrayValue?.count, 5)
        let runs = view["runs"]?.arrayValue ?? []
        XCTAssertEqual(runs.map { $0["kind"]?.stringValue }, ["execution", "test-run"])
        XCTAssertEqual(runs[0]["result"]?["stdout"]?.stringValue, "1\n")
        let secret = runs[1]["cases"]?.arrayValue?[1]
        XCTAssertEqual(secret?["stdin"]?.stringValue, "hidden input", "interviewers see a hidden case whole")
        XCTAssertEqual(view["participants"]?.arrayValue?[1]["left_at"]?.intValue, 4_000)
    }

    func testACandidateSeesWhatACandidateSaw() {
        let view = record().json(forInterviewer: false)
        let text = view.text
        XCTAssertEqual(view["view"]?.stringValue, "candidate")
        XCTAssertNil(view["notes"], "no notes")
        XCTAssertFalse(text.contains("secret notes"))
        XCTAssertEqual(view["question"]?["tests"]?.arrayValue?.map { $0["name"]?.stringValue }, ["shown"])
        XCTAssertEqual(view["question"]?["hidden_test_count"]?.intValue, 1)
        XCTAssertFalse(text.contains("hidden input"), "no hidden test's input, in the question or in a run")
        XCTAssertFalse(text.contains("tupni"))
        XCTAssertEqual(view["extras"]?.objectValue?.map(\.key), ["terminal"], "no scorecards, no integrity")
        XCTAssertFalse(view["history"]?.arrayValue?.contains { $0["type"]?.stringValue == "notes_saved" } ?? true)
        XCTAssertEqual(view["code"]?["text"]?.stringValue, "xabcdefghijkl")
    }

    // MARK: Text at a revision

    func testTheTextAtEveryRevisionReplaysTheOps() throws {
        let record = record()
        let final = Array("xabcdefghijkl")
        for revision in 0...12 {
            XCTAssertEqual(try record.text(at: revision), String(final.prefix(1 + revision)), "revision \(revision)")
        }
        XCTAssertEqual(try record.text(notes: true, at: 2), "secret notes")
        XCTAssertEqual(try record.text(notes: true, at: 3), "secret notes!")
        for (notes, bad) in [(false, 13), (false, -1), (true, 1), (true, 4)] {
            XCTAssertThrowsError(try record.text(notes: notes, at: bad)) { error in
                XCTAssertEqual((error as? InterviewError)?.kind, .invalid, "revision \(bad)")
                XCTAssertEqual((error as? InterviewError)?.field, "revision")
            }
        }
    }

    func testTheCodeAnswerSaysTheLanguageAndTimeThen() throws {
        let record = record()
        let early = try record.codeJSON(at: 2)
        XCTAssertEqual(early["code"]?.stringValue, "xab")
        XCTAssertEqual(early["language"]?.stringValue, "python")
        XCTAssertEqual(early["updated_at"]?.intValue, 1_100)
        XCTAssertEqual(try record.codeJSON(at: 12)["language"]?.stringValue, "go", "changed at 1450, before revision 12 (2100)")
        XCTAssertEqual(try record.codeJSON(at: 0)["updated_at"]?.intValue, 900, "revision 0: the creation")
    }

    // MARK: Timeline

    func testTimelinePagesCoverEveryOpOnceWithTheEventsAmongThem() {
        let record = record()
        var after = 0
        var revisions: [Int] = []
        var others: [String] = []
        var pages = 0
        while true {
            let page = record.timeline(after: after, limit: 4)
            pages += 1
            XCTAssertEqual(page["document"]?.stringValue, "code")
            XCTAssertEqual(page["revision"]?.intValue, 12)
            XCTAssertEqual(page["participants"]?.arrayValue?.count, 2)
            for event in page["events"]?.arrayValue ?? [] {
                if event["type"]?.stringValue == "op" { revisions.append(event["revision"]?.intValue ?? -1) } else {
                    others.append(event["type"]?.stringValue ?? "?")
                }
            }
            guard let next = page["next_after_revision"]?.intValue else { break }
            XCTAssertGreaterThan(next, after)
            after = next
        }
        XCTAssertEqual(revisions, Array(1...12))
        XCTAssertGreaterThan(pages, 2)
        XCTAssertEqual(others, ["created", "joined", "execution", "language_changed", "notes_saved", "execution", "ended"])
        // The same page the live timeline builds from the same parts.
        let direct = Timeline.page(after: 0, limit: 4, head: 12, ops: Array(record.code.ops.prefix(5)),
                                   others: record.history.compactMap(Timeline.event(history:)), checkpoint: nil)
        let first = record.timeline(after: 0, limit: 4)["events"]?.arrayValue ?? []
        XCTAssertEqual(first.filter { $0["type"]?.stringValue == "op" }.count,
                       direct.events.filter { $0["type"]?.stringValue == "op" }.count)
        // Past the end: an empty last page.
        let past = record.timeline(after: 12, limit: 4)
        XCTAssertEqual(past["events"]?.arrayValue?.count, 0)
        XCTAssertTrue(past["next_after_revision"]?.isNull ?? false)
    }

    func testACandidatesTimelineHasWhatACandidateSaw() {
        var record = record()
        record.extras["integrity"] = [["type": "integrity", "kind": "paste", "at": 1_200, "user_id": "u_00000000000000c1"]]
        let theirs = record.timeline(after: 0, limit: 50)
        let types = (theirs["events"]?.arrayValue ?? []).map { $0["type"]?.stringValue ?? "?" }
        XCTAssertTrue(types.contains("integrity") && types.contains("notes_saved"), "the interviewers' view is unchanged")
        let page = record.timeline(after: 0, limit: 50, forInterviewer: false)
        let events = page["events"]?.arrayValue ?? []
        XCTAssertEqual(events.map { $0["type"]?.stringValue ?? "?" }, types.filter { $0 != "integrity" && $0 != "notes_saved" })
        XCTAssertEqual(events.filter { $0["type"]?.stringValue == "op" }.count, 12, "every op")
        let text = page.text
        for secret in ["hidden input", "tupni", "nope", "paste"] { XCTAssertFalse(text.contains(secret), secret) }
        let run = events.first { $0["kind"]?.stringValue == "test-run" }
        XCTAssertEqual(run?["total"]?.intValue, 2)
        XCTAssertEqual(run?["passed"]?.intValue, 1)
        let secret = run?["cases"]?.arrayValue?.first { $0["name"]?.stringValue == "secret" }
        XCTAssertEqual(Set(secret?.objectValue?.map(\.key) ?? []), ["name", "hidden", "status"])
        let shown = run?["cases"]?.arrayValue?.first { $0["name"]?.stringValue == "shown" }
        XCTAssertEqual(shown?["stdin"]?.stringValue, "ab", "a visible case as the candidate saw it")
    }

    func testTheNotesTimelineStartsFromItsCheckpoint() {
        let page = record().timeline(notes: true, after: 0, limit: 50)
        let events = page["events"]?.arrayValue ?? []
        XCTAssertEqual(page["document"]?.stringValue, "notes")
        XCTAssertEqual(events.map { $0["type"]?.stringValue }, ["checkpoint", "op"])
        XCTAssertEqual(events[0]["text"]?.stringValue, "secret notes")
        XCTAssertEqual(events[0]["reason"]?.stringValue, "cap")
        XCTAssertEqual(events[1]["revision"]?.intValue, 3)
    }
}
