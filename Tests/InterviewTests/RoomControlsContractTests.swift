import Foundation
import JSON
import Redis
import XCTest
@testable import Interview
@testable import Stores
@testable import TestSupport

/// The room controls' Redis contract (issue 22, part 2), against a real redis-server, in both
/// modes (EVALSHA and the Functions library): control.lua's typed arguments and reply, who may
/// change the controls, and the enforcement in the scripts that commit ops, change the code or the
/// language and start runs, each refusing with LOCKED <code> before writing anything.
final class RoomControlsContractTests: XCTestCase {
    var redis: RedisContract!

    override func setUpWithError() throws { redis = try RedisContract() }
    override func tearDown() { redis?.close() }

    let settings = SessionSettings()
    let host = Identifiers.tokenHash("host-token"), interviewer = Identifiers.tokenHash("interviewer-token")
    let candidate = Identifiers.tokenHash("candidate-token")
    let text = "print(1)\n"

    func json(_ result: Result<RedisValue, RedisError>, file: StaticString = #filePath, line: UInt = #line) -> JSON? {
        switch result {
        case .success(let value): return value.text.flatMap { try? JSON.parse($0) }
        case .failure(let error): XCTFail("the script failed: \(error)", file: file, line: line); return nil
        }
    }

    func refusal(_ result: Result<RedisValue, RedisError>, file: StaticString = #filePath, line: UInt = #line) -> ScriptError? {
        guard case .failure(let error) = result else { XCTFail("the script should refuse: \(result)", file: file, line: line); return nil }
        let decoded = ScriptError(error)
        XCTAssertNotNil(decoded, "\(error) is outside the vocabulary", file: file, line: line)
        return decoded
    }

    func lockedCode(_ result: Result<RedisValue, RedisError>, file: StaticString = #filePath, line: UInt = #line) -> String? {
        guard case .locked(let code, let detail)? = refusal(result, file: file, line: line) else { return nil }
        XCTAssertFalse(detail.isEmpty, file: file, line: line)
        return code
    }

    /// A session with an interviewer (the creator) and a candidate, and a runner for its scripts.
    func session(_ c: RedisConnection) -> (id: String, run: (RedisScript, [String]) -> Result<RedisValue, RedisError>) {
        let id = Identifiers.sessionID()
        let keys = SessionKeys(id).all
        let run = { (script: RedisScript, arguments: [String]) in self.redis.run(c, script, keys: keys, arguments: arguments) }
        let create = Scripts.createArguments(settings: settings, name: "Controls", code: text, language: "python", maxParticipants: 5,
                                             hostTokenHash: host, creator: (id: "u_ivy", name: "Ivy", color: "#111111", tokenHash: interviewer))
        XCTAssertNotNil(json(run(Scripts.create, create)))
        let join = Scripts.joinArguments(settings: settings, id: "u_cal", name: "Cal", role: .candidate, tokenHash: candidate,
                                         presentedTokenHash: "", palette: "#222222", connected: false)
        XCTAssertNotNil(json(run(Scripts.join, join)))
        return (id, run)
    }

    func control(_ changes: ControlChanges, by token: String) -> [String] {
        RoomControlsStore.controlArguments(settings: settings, changes, presentedTokenHash: token)
    }

    func testControlChangesStateHistoryAndViewsAndRefusesCandidates() throws {
        for functions in [false, true] {
            let c = redis.connect(functions: functions)
            let (id, run) = session(c)
            let keys = SessionKeys(id)
            guard case .forbidden? = refusal(run(RoomControlsStore.control, control(.init(editorLocked: true), by: candidate))) else {
                return XCTFail("a candidate may not change the controls")
            }
            guard case .unauthorized? = refusal(run(RoomControlsStore.control, control(.init(editorLocked: true), by: ""))) else {
                return XCTFail("the controls need a token")
            }
            guard case .forbidden? = refusal(run(RoomControlsStore.control, control(.init(editorLocked: true), by: "stranger"))) else {
                return XCTFail("a token of no participant is refused")
            }
            XCTAssertEqual(try redis.send(c, ["HMGET", keys.session, "editor_locked", "runs_held", "question_hidden"]).get().array?
                .compactMap(\.text), [], "refusals write nothing")

            let first = json(run(RoomControlsStore.control, control(.init(editorLocked: true, questionHidden: true), by: interviewer)))
            XCTAssertEqual(first.map(RoomControls.init(json:)), RoomControls(editorLocked: true, questionHidden: true))
            XCTAssertEqual(first?["changed"]?.arrayValue?.compactMap(\.stringValue), ["editor_locked", "question_hidden"])
            let again = json(run(RoomControlsStore.control, control(.init(editorLocked: true), by: host)))
            XCTAssertEqual(again?["changed"]?.arrayValue ?? [], [], "setting what is set changes nothing")
            let history = try redis.send(c, ["LRANGE", keys.history, "0", "-1"]).get().array?.compactMap { $0.text.flatMap { try? JSON.parse($0) } } ?? []
            let events = history.filter { $0["type"]?.stringValue == "controls_changed" }
            XCTAssertEqual(events.count, 1)
            XCTAssertEqual(events.first?["user_id"]?.stringValue, "u_ivy")
            XCTAssertEqual(events.first?["editor_locked"]?.boolValue, true)

            // Every session view carries the controls (the update's, connect's).
            let rename = Scripts.updateArguments(settings: settings, changes: SessionChanges(name: "R"), presentedTokenHash: host,
                                                 author: nil, connection: "")
            let view = json(run(Scripts.update, rename)).flatMap(Session.init(view:))
            XCTAssertEqual(view?.controls, RoomControls(editorLocked: true, questionHidden: true))
            XCTAssertEqual(view?.json(joinURL: "x")["controls"]?["editor_locked"]?.boolValue, true)
        }
    }

    func testALockedEditorRefusesCandidatesInEveryWritingScript() throws {
        for functions in [false, true] {
            let c = redis.connect(functions: functions)
            let (id, run) = session(c)
            XCTAssertNotNil(json(run(RoomControlsStore.control, control(.init(editorLocked: true), by: host))))
            var op = TextOperation()
            op.retain(text.unicodeScalars.count)
            op.insert("x")
            let candidateOp = Scripts.commitArguments(settings: settings, .code, base: 0, op: op, connection: "gw#1",
                                                      author: CommitAuthor(id: "u_cal", name: "Cal", color: "#222222"))
            XCTAssertEqual(lockedCode(run(Scripts.commit, candidateOp)), "editor_locked")
            // Not the notes: they are the interviewers' own document (the gateway checks the role).
            let notesOp = Scripts.commitArguments(settings: settings, .notes, base: 0, op: { var o = TextOperation(); o.insert("n"); return o }(),
                                                  connection: "gw#2", author: CommitAuthor(id: "u_ivy", name: "Ivy", color: "#111111"))
            XCTAssertNotNil(try? run(Scripts.commit, notesOp).get())
            for (token, author) in [(candidate, nil), ("", nil), ("", "u_cal")] as [(String, String?)] {
                let change = Scripts.updateArguments(settings: settings, changes: SessionChanges(code: "y\n"), presentedTokenHash: token,
                                                     author: author, connection: "")
                XCTAssertEqual(lockedCode(run(Scripts.update, change)), "editor_locked", "code by \(token) \(author ?? "")")
                let language = Scripts.updateArguments(settings: settings, changes: SessionChanges(language: "go"), presentedTokenHash: token,
                                                       author: author, connection: "")
                XCTAssertEqual(lockedCode(run(Scripts.update, language)), "editor_locked")
            }
            let save = Scripts.saveCodeArguments(settings: settings, code: "z\n", language: nil, presentedTokenHash: candidate)
            XCTAssertEqual(lockedCode(run(Scripts.saveCode, save)), "editor_locked")
            let revisionAfterRefusals = try redis.send(c, ["HGET", SessionKeys(id).session, "revision"]).get().text
            XCTAssertEqual(revisionAfterRefusals, "0", "no refusal wrote a revision")

            // Interviewers edit on: by op, by token, by a connected interviewer's update.
            let interviewerOp = Scripts.commitArguments(settings: settings, .code, base: 0, op: op, connection: "gw#3",
                                                        author: CommitAuthor(id: "u_ivy", name: "Ivy", color: "#111111"))
            XCTAssertEqual(try run(Scripts.commit, interviewerOp).get().array?.first?.integer, 1)
            for (token, author) in [(host, nil), (interviewer, nil), ("", "u_ivy")] as [(String, String?)] {
                let change = Scripts.updateArguments(settings: settings, changes: SessionChanges(code: "by \(token.prefix(4))\(author ?? "")\n"),
                                                     presentedTokenHash: token, author: author, connection: "")
                XCTAssertNotNil(json(run(Scripts.update, change)))
            }
            XCTAssertNotNil(try? run(Scripts.saveCode, Scripts.saveCodeArguments(settings: settings, code: "h\n", language: nil,
                                                                                 presentedTokenHash: host)).get())
            // Unlocked: the candidate's change goes through.
            XCTAssertNotNil(json(run(RoomControlsStore.control, control(.init(editorLocked: false), by: interviewer))))
            XCTAssertNotNil(try? run(Scripts.saveCode, save).get())
        }
    }

    func testHeldRunsAndAHiddenQuestionInTheRunContext() throws {
        let c = redis.connect(functions: true)
        let (id, run) = session(c)
        XCTAssertNotNil(json(run(RoomControlsStore.control, control(.init(runsHeld: true, questionHidden: true), by: host))))
        _ = try redis.send(c, ["SET", SessionKeys(id).question, #"{"title":"Q"}"#]).get()
        let context = ExecutionScripts.sessionContext
        for token in [candidate, ""] {
            XCTAssertEqual(lockedCode(run(context, [token, "run", "1"])), "runs_held")
            // Reading (an ended session's history, the runs list) is not a run; a hidden question is none.
            let read = try run(context, [token, "read", "1"]).get().array?.compactMap(\.text)
            XCTAssertEqual(read?[5], "0", "no question for \(token.isEmpty ? "no token" : "a candidate") while hidden")
        }
        for token in [host, interviewer] {
            let parts = try run(context, [token, "run", "1"]).get().array?.compactMap(\.text)
            XCTAssertEqual(parts?[5], "1")
            XCTAssertEqual(parts?[6], #"{"title":"Q"}"#)
        }
        XCTAssertNotNil(json(run(RoomControlsStore.control, control(.init(runsHeld: false), by: host))))
        XCTAssertEqual(try run(context, [candidate, "run", "1"]).get().array?.compactMap(\.text)[5], "0", "still hidden")
    }

    func testEndingIsTheInterviewersAndFreezesTheControls() throws {
        let c = redis.connect(functions: true)
        let (_, run) = session(c)
        let end = { (token: String) in
            Scripts.updateArguments(settings: self.settings, changes: SessionChanges(status: .completed), presentedTokenHash: token,
                                    author: nil, connection: "")
        }
        guard case .forbidden? = refusal(run(Scripts.update, end(candidate))) else { return XCTFail("a candidate may not end") }
        guard case .unauthorized? = refusal(run(Scripts.update, end(""))) else { return XCTFail("ending needs a token") }
        XCTAssertEqual(json(run(Scripts.update, end(interviewer)))?["session"]?["status"]?.stringValue, "completed")
        XCTAssertEqual(refusal(run(RoomControlsStore.control, control(.init(editorLocked: true), by: host))), .gone(.ended))
    }
}
