import Foundation
import JSON
import Redis
import XCTest
@testable import Interview
@testable import Stores
@testable import TestSupport

/// The Redis contract, against a real redis-server: every script runs through its Swift builder
/// (or its store), once by EVALSHA and once as a function of the Functions library, and its reply
/// is checked in its typed form; the scripts' errors decode to the one vocabulary (ScriptError).
final class ScriptContractTests: XCTestCase {
    var redis: RedisContract!

    override func setUpWithError() throws { redis = try RedisContract() }
    override func tearDown() { redis?.close() }

    /// Runs `scenario` on a connection without and one with the Functions library, checking that
    /// the scripts ran as EVALSHA in the first and as FCALL in the second. (`registers`: the scenario
    /// makes a store that registers the library itself, so the first connection is not EVALSHA only.)
    func inBothModes(registers: Bool = false, _ scenario: (RedisConnection) throws -> Void) rethrows {
        for functions in [false, true] {
            let connection = redis.connect(functions: functions)
            _ = redis.send(connection, ["CONFIG", "RESETSTAT"])
            try scenario(connection)
            let fcall = redis.commandStats(connection, "fcall")?.calls ?? 0
            let evalsha = redis.commandStats(connection, "evalsha")?.calls ?? 0
            if functions {
                XCTAssertGreaterThan(fcall, 0, "the Functions library should run the scripts")
                XCTAssertEqual(evalsha, 0, "no script should fall back to EVALSHA")
            } else if !registers {
                XCTAssertEqual(fcall, 0)
                XCTAssertGreaterThan(evalsha, 0)
            }
        }
    }

    func value(_ result: Result<RedisValue, RedisError>, file: StaticString = #filePath, line: UInt = #line) -> RedisValue? {
        switch result {
        case .success(let value): return value
        case .failure(let error): XCTFail("the script failed: \(error)", file: file, line: line); return nil
        }
    }

    func refusal(_ result: Result<RedisValue, RedisError>, file: StaticString = #filePath, line: UInt = #line) -> ScriptError? {
        guard case .failure(let error) = result else { XCTFail("the script should refuse: \(result)", file: file, line: line); return nil }
        let decoded = ScriptError(error)
        XCTAssertNotNil(decoded, "\(error) is outside the vocabulary", file: file, line: line)
        return decoded
    }

    func json(_ value: RedisValue?) -> JSON? { value?.text.flatMap { try? JSON.parse($0) } }

    // MARK: The library

    func testTheLibraryIsVersionedAndHoldsEveryScript() throws {
        let library = RedisFunctions.library
        XCTAssertTrue(library.name.hasPrefix("ci_"))
        XCTAssertEqual(library.name.count, 3 + 12, library.name)
        let names = Set(RedisFunctions.scripts.map(\.name))
        XCTAssertEqual(Set(library.functions.keys), names)
        for function in library.functions.values { XCTAssertTrue(function.hasPrefix(library.name + "_"), function) }
        XCTAssertTrue(library.source.hasPrefix("#!lua name=\(library.name)\n"))

        let connection = redis.connect(functions: true)
        guard let list = value(redis.send(connection, ["FUNCTION", "LIST", "LIBRARYNAME", library.name])) else { return }
        XCTAssertEqual(list.array?.count, 1, "the library should be loaded at connect")
    }

    /// A server that lost its functions (FUNCTION FLUSH, a restart) answers "function not found":
    /// the call is retried by EVALSHA and the library is loaded again.
    func testAMissingFunctionReloadsTheLibraryAndRetries() throws {
        let connection = redis.connect(functions: true)
        _ = redis.send(connection, ["FUNCTION", "FLUSH"])
        let result = redis.run(connection, Scripts.availableLanguages, keys: [NodeKeys.runners, NodeKeys.runnerInfo], arguments: [])
        XCTAssertNotNil(value(result))
        XCTAssertTrue(redis.until(5) {
            (try? self.redis.send(connection, ["FUNCTION", "LIST", "LIBRARYNAME", RedisFunctions.library.name]).get())?.array?.count == 1
        }, "the library should be loaded again")
        XCTAssertNotNil(value(redis.run(connection, Scripts.availableLanguages, keys: [NodeKeys.runners, NodeKeys.runnerInfo], arguments: [])))
        XCTAssertEqual(redis.commandStats(connection, "fcall")?.calls, 2)
    }

    /// Libraries of other versions loaded more than an hour ago go when a connection loads its
    /// own; a recent one (a rolling upgrade's other half) stays.
    func testOldLibrariesAreRetiredAndRecentOnesKept() throws {
        let admin = redis.connect(functions: false)
        func load(_ name: String, loadedAt: Int64) {
            let code = "#!lua name=\(name)\nredis.register_function('\(name)_f', function() return 1 end)\n-- loaded_at=\(loadedAt)\n"
            XCTAssertNotNil(value(redis.send(admin, ["FUNCTION", "LOAD", code])))
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        load("ci_000000000old", loadedAt: now - 2 * 3_600_000)
        load("ci_000000000new", loadedAt: now - 60_000)
        load("other_library", loadedAt: 1)
        _ = redis.connect(functions: true)
        func names() -> Set<String> {
            let list = (try? redis.send(admin, ["FUNCTION", "LIST"]).get())?.array ?? []
            return Set(list.compactMap { $0.array?[1].text })
        }
        XCTAssertTrue(redis.until(5) { !names().contains("ci_000000000old") }, "the old library should be deleted: \(names())")
        XCTAssertEqual(names(), ["ci_000000000new", "other_library", RedisFunctions.library.name])
    }

    /// On Redis Cluster the library is loaded on every primary, and session scripts run as FCALL
    /// on the primary of their session's slot, wherever that is.
    func testOnRedisClusterTheLibraryRunsOnEveryPrimary() throws {
        let cluster = try RedisClusterProcesses()
        defer { cluster.stop() }
        XCTAssertTrue(cluster.waitUntilHealthy(timeout: 30))
        let connection = redis.connect(cluster: [cluster.ports[0]])
        let primaries = try cluster.primaryPorts()
        XCTAssertEqual(primaries.count, 3)
        for port in primaries {
            XCTAssertTrue(redis.until(10) {
                (try? cluster.cli(port, "FUNCTION", "LIST", "LIBRARYNAME", RedisFunctions.library.name))?.contains(RedisFunctions.library.name) == true
            }, "the library should be loaded on \(port)")
            _ = try cluster.cli(port, "CONFIG", "RESETSTAT")
        }
        let settings = SessionSettings()
        var shards = Set<UInt16>()
        for _ in 0..<60 where shards.count < 3 {
            let id = Identifiers.sessionID()
            let keys = SessionKeys(id)
            let create = Scripts.createArguments(settings: settings, name: "x", code: "", language: "python", maxParticipants: 3,
                                                 hostTokenHash: "h", creator: nil)
            XCTAssertNotNil(value(redis.run(connection, Scripts.create, keys: keys.all, arguments: create)))
            shards.insert(try cluster.primary(ofSlot: RedisSlot.of(keys.session)))
        }
        XCTAssertEqual(shards.count, 3)
        for port in primaries {
            let stats = try cluster.cli(port, "INFO", "commandstats")
            XCTAssertTrue(stats.contains("cmdstat_fcall:"), "\(port) should have run FCALL")
            XCTAssertFalse(stats.contains("cmdstat_evalsha:"), "\(port) should not have fallen back to EVALSHA")
        }
    }

    // MARK: Session scripts

    func testSessionScriptsThroughTheirBuilders() throws {
        let settings = SessionSettings()
        let host = Identifiers.tokenHash("host-token"), creator = Identifiers.tokenHash("creator-token")
        let candidate = Identifiers.tokenHash("candidate-token")
        try inBothModes { c in
            let id = Identifiers.sessionID()
            let keys = SessionKeys(id).all
            func run(_ script: RedisScript, _ arguments: [String]) -> Result<RedisValue, RedisError> {
                redis.run(c, script, keys: keys, arguments: arguments)
            }
            let text = "print(1)\n"
            let create = Scripts.createArguments(settings: settings, name: "Contract", code: text, language: "python", maxParticipants: 3,
                                                 hostTokenHash: host, creator: (id: "u_creator", name: "Ada", color: "#111111", tokenHash: creator))
            let view = json(value(run(Scripts.create, create)))
            XCTAssertEqual(view?["session"]?["id"]?.stringValue, id)
            XCTAssertEqual(view?["participants"]?.arrayValue?.count, 1)
            guard case .conflict? = refusal(run(Scripts.create, create)) else { return XCTFail("a second create should conflict") }

            let join = Scripts.joinArguments(settings: settings, id: "u_cand", name: "Bob", role: .candidate, tokenHash: candidate,
                                             presentedTokenHash: "", palette: "#222222,#333333", connected: false)
            XCTAssertEqual(json(value(run(Scripts.join, join)))?["role"]?.stringValue, "candidate")
            let asInterviewer = Scripts.joinArguments(settings: settings, id: "u_x", name: "X", role: .interviewer, tokenHash: "t",
                                                      presentedTokenHash: candidate, palette: "#222222", connected: false)
            guard case .forbidden? = refusal(run(Scripts.join, asInterviewer)) else { return XCTFail("joining as interviewer needs the host token") }
            XCTAssertEqual(json(value(run(Scripts.participantForToken, [candidate])))?["id"]?.stringValue, "u_cand")

            let connect = Scripts.connectArguments(settings: settings, connection: "gw-1#c1", participant: "u_cand", since: nil)
            XCTAssertNotNil(json(value(run(Scripts.connect, connect)).flatMap { $0.array?.first }))

            var op = TextOperation()
            op.retain(text.unicodeScalars.count)
            op.insert("x")
            let author = CommitAuthor(id: "u_cand", name: "Bob", color: "#222222")
            let commit = Scripts.commitArguments(settings: settings, .code, base: 0, op: op, connection: "gw-1#c1", author: author)
            XCTAssertEqual(value(run(Scripts.commit, commit))?.array?.first?.integer, 1)
            let future = Scripts.commitArguments(settings: settings, .code, base: 5, op: op, connection: "gw-1#c1", author: author)
            XCTAssertEqual(refusal(run(Scripts.commit, future)), .future("1"))

            let log = value(run(Scripts.log, Scripts.logArguments(.code, after: 0, limit: 10)))?.array ?? []
            XCTAssertEqual(log.count, 2, "the checkpoint's revision and one entry")
            XCTAssertEqual(json(log.last)?["revision"]?.intValue, 1)
            let document = value(run(Scripts.document, Scripts.documentArguments(.code, base: .snapshot, limit: nil)))?.array ?? []
            XCTAssertEqual(document.compactMap(\.text).prefix(3), ["2", "0", text])
            XCTAssertEqual(document.count, 4)
            let newText = text + "x"
            XCTAssertNotNil(value(run(Scripts.snapshot, Scripts.snapshotArguments(.code, revision: 1, text: newText,
                                                                                  length: newText.unicodeScalars.count))))
            let read = value(run(Scripts.document, Scripts.documentArguments(.code, base: .snapshot, limit: nil)))?.array ?? []
            XCTAssertEqual(read.compactMap(\.text), ["2", "1", newText])
            let fold = Scripts.foldArguments(settings: settings, .code, checkpointRead: 0, revision: 1, text: newText,
                                             length: newText.unicodeScalars.count)
            XCTAssertEqual(value(run(Scripts.fold, fold))?.integer, 0, "the log is empty after folding its only entry")
            XCTAssertEqual(value(run(Scripts.fold, fold))?.integer, -1, "the checkpoint moved: the second folder loses")
            XCTAssertFalse((value(run(Scripts.history, ["10"]))?.array ?? []).isEmpty)

            let save = Scripts.saveCodeArguments(settings: settings, code: "y", language: nil, presentedTokenHash: host)
            XCTAssertNotNil(value(run(Scripts.saveCode, save)))
            let rename = Scripts.updateArguments(settings: settings, changes: SessionChanges(name: "Renamed"), presentedTokenHash: host,
                                                 author: nil, connection: "")
            XCTAssertEqual(json(value(run(Scripts.update, rename)))?["session"]?["name"]?.stringValue, "Renamed")
            let renameByCandidate = Scripts.updateArguments(settings: settings, changes: SessionChanges(name: "No"),
                                                            presentedTokenHash: candidate, author: nil, connection: "")
            guard case .forbidden? = refusal(run(Scripts.update, renameByCandidate)) else { return XCTFail("renaming needs the host token") }

            let notes = Scripts.notesPutArguments(settings: settings, text: "strong candidate", revision: nil, presentedTokenHash: creator)
            XCTAssertEqual(json(value(run(Scripts.notesPut, notes)))?["revision"]?.intValue, 1)
            let notesByCandidate = Scripts.notesPutArguments(settings: settings, text: "x", revision: nil, presentedTokenHash: candidate)
            guard case .forbidden? = refusal(run(Scripts.notesPut, notesByCandidate)) else { return XCTFail("notes are the interviewers'") }
            let notesWithoutToken = Scripts.notesPutArguments(settings: settings, text: "x", revision: nil, presentedTokenHash: "")
            guard case .unauthorized? = refusal(run(Scripts.notesPut, notesWithoutToken)) else { return XCTFail("notes need a token") }
            let notesRead = value(run(Scripts.document, Scripts.documentArguments(.notes, base: .snapshot, limit: nil)))?.array ?? []
            XCTAssertEqual(notesRead.compactMap(\.text), ["2", "1", "strong candidate"])

            XCTAssertNotNil(value(run(Scripts.question, Scripts.clearQuestionArguments(settings: settings, presentedTokenHash: host))))
            XCTAssertEqual(value(run(Scripts.disconnect, ["gw-1#c1"]))?.integer != nil || true, true)
            XCTAssertNotNil(value(run(Scripts.connect, connect)))
            XCTAssertNotNil(value(run(Scripts.dropGateway, ["gw-1#"])))
            XCTAssertEqual(value(run(Scripts.leave, Scripts.leaveArguments(settings: settings, participant: "u_cand",
                                                                          presentedTokenHash: host)))?.integer, 1)
            XCTAssertEqual(refusal(run(Scripts.leave, Scripts.leaveArguments(settings: settings, participant: "u_cand",
                                                                            presentedTokenHash: host))), .notFound("participant"))

            XCTAssertNotNil(value(run(Scripts.delete, Scripts.deleteArguments(settings: settings, presentedTokenHash: host))))
            XCTAssertEqual(refusal(run(Scripts.history, ["10"])), .gone(.deleted))
            XCTAssertEqual(refusal(redis.run(c, Scripts.history, keys: SessionKeys("nope").all, arguments: ["10"])), .notFound(""))
            XCTAssertEqual(refusal(redis.run(c, Scripts.document, keys: SessionKeys("nope").all,
                                             arguments: Scripts.documentArguments(.code, base: .snapshot, limit: nil))), .notFound(""))
        }
    }

    /// A session written by the previous version (the text in the session hash, no layout) is read
    /// as it is and converted by its first write.
    func testASessionOfThePreviousLayoutIsReadAndMigrated() throws {
        let settings = SessionSettings()
        try inBothModes { c in
            let id = Identifiers.sessionID()
            let keys = SessionKeys(id)
            let expires = String(Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
            _ = redis.send(c, ["HSET", keys.session, "id", id, "name", "old", "language", "python", "revision", "3", "status", "active",
                               "created_at", "1", "updated_at", "1", "expires_at", expires, "max_participants", "5",
                               "host_token_hash", "h", "code", "old text"])
            _ = redis.send(c, ["RPUSH", keys.legacyOps, "frame"])
            let before = value(redis.run(c, Scripts.document, keys: keys.all, arguments: Scripts.documentArguments(.code, base: .snapshot, limit: nil)))
            XCTAssertEqual(before?.array?.compactMap(\.text), ["1", "3", "old text"])
            var op = TextOperation()
            op.retain(8)
            op.insert("!")
            let commit = Scripts.commitArguments(settings: settings, .code, base: 3, op: op, connection: "c",
                                                 author: CommitAuthor(id: "u", name: "U", color: "#000000"))
            XCTAssertEqual(value(redis.run(c, Scripts.commit, keys: keys.all, arguments: commit))?.array?.first?.integer, 4)
            let after = value(redis.run(c, Scripts.document, keys: keys.all, arguments: Scripts.documentArguments(.code, base: .snapshot, limit: nil)))
            XCTAssertEqual(after?.array?.compactMap(\.text).prefix(3), ["2", "3", "old text"])
            XCTAssertEqual(after?.array?.count, 4)
            XCTAssertEqual(value(redis.send(c, ["EXISTS", keys.legacyOps]))?.integer, 0)
        }
    }

    // MARK: Node registry, rate limits, the library

    func testNodeRegistryAndRateLimitScripts() throws {
        try inBothModes(registers: true) { c in
            let gateway = Sessions.gatewayKeys("gw-1")
            let expired = value(redis.run(c, Scripts.gatewayHeartbeat, keys: gateway,
                                          arguments: Scripts.heartbeatArguments(instance: "gw-1", leaseMillis: 5000, info: "{}")))
            XCTAssertEqual(expired?.array?.count, 0)
            XCTAssertNotNil(value(redis.run(c, Scripts.forgetGateway, keys: gateway, arguments: ["gw-1"])))

            let registry = RunnerRegistry(redis: c)
            let info = #"{"languages":[{"id":"python","version":"3"}],"running":1,"capacity":4}"#
            guard case .success(let now) = redis.wait({ registry.register(id: "r1", leaseMillis: 5000, info: info, $0) }) else {
                return XCTFail("register failed")
            }
            XCTAssertGreaterThan(now, 0)
            let languages = value(redis.run(c, Scripts.availableLanguages, keys: [NodeKeys.runners, NodeKeys.runnerInfo], arguments: []))
            XCTAssertEqual(languages?.array?.compactMap(\.text), ["python"])
            let slots = value(redis.run(c, Executions.slotsScript, keys: [NodeKeys.runners, NodeKeys.runnerInfo], arguments: []))
            XCTAssertEqual(slots?.array?.compactMap(\.integer), [1, 4])
            guard case .success = redis.wait({ registry.deregister(id: "r1", $0) }) else { return XCTFail("deregister failed") }
            XCTAssertEqual(value(redis.run(c, Scripts.availableLanguages, keys: [NodeKeys.runners, NodeKeys.runnerInfo], arguments: []))?
                .array?.count, 0)

            let limiter = RateLimiter(redis: c)
            let rule = RateRule(name: "contract-\(UUID().uuidString)", count: 2, periodMillis: 60_000)
            var decisions: [RateDecision] = []
            for _ in 0..<3 {
                guard case .success(let decision) = redis.wait({ limiter.check([(rule, "1.2.3.4")], tag: "1.2.3.4", $0) }) else {
                    return XCTFail("the rate check failed")
                }
                decisions.append(decision)
            }
            XCTAssertEqual(decisions.map(\.allowed), [true, true, false])
            XCTAssertEqual(decisions.map(\.remaining), [1, 0, 0])
            XCTAssertGreaterThan(decisions[2].retryAfterMillis, 0)
        }
    }

    func testQuestionLibraryScripts() throws {
        try inBothModes { c in
            let id = "q_\(UUID().uuidString.prefix(8))"
            let keys = LibraryKeys.keys(id)
            let question = #"{"title":"Two sum"}"#, summary = #"{"title":"Two sum"}"#
            let save = [id, "create", question, summary, "10"]
            let saved = value(redis.run(c, Scripts.librarySave, keys: keys, arguments: save))?.array?.compactMap(\.integer) ?? []
            XCTAssertEqual(saved.count, 2)
            guard case .conflict? = refusal(redis.run(c, Scripts.librarySave, keys: keys, arguments: save)) else { return XCTFail("exists") }
            XCTAssertEqual(refusal(redis.run(c, Scripts.librarySave, keys: LibraryKeys.keys("q_none"),
                                             arguments: ["q_none", "replace", question, summary, "10"])), .notFound(""))
            let page = value(redis.run(c, Scripts.libraryList, keys: [LibraryKeys.index, LibraryKeys.summaries],
                                       arguments: Scripts.libraryListArguments(limit: 10, after: nil)))?.array ?? []
            XCTAssertTrue(page.dropFirst(2).contains { $0.text?.contains(id) == true })
            XCTAssertEqual(value(redis.run(c, Scripts.libraryDelete, keys: keys, arguments: [id]))?.integer, 1)
            XCTAssertEqual(value(redis.run(c, Scripts.libraryDelete, keys: keys, arguments: [id]))?.integer, 0)
        }
    }

    // MARK: Job scripts, through the job store

    func testJobScriptsThroughTheJobStore() throws {
        let settings = ExecutionSettings()
        try inBothModes { c in
            let jobs = JobStore(redis: c)
            let sessionID = Identifiers.sessionID()
            let id = Executions.jobID()
            let request = ExecutionRequest(language: "python", code: "print(1)", stdin: "", limits: settings.defaults,
                                           sessionID: sessionID, userID: "u_1", userName: "Ada")
            guard case .success(let submitted) = redis.wait({ jobs.submit(id: id, request, settings: settings, $0) }) else {
                return XCTFail("submit failed")
            }
            XCTAssertGreaterThan(submitted.createdAt, 0)
            XCTAssertGreaterThanOrEqual(submitted.depth, 1)
            XCTAssertNotNil(value(redis.send(c, ["LREM", ExecutionKeys.queue, "0", id])))
            XCTAssertNotNil(value(redis.send(c, ["LPUSH", ExecutionKeys.processing("r1"), id])))

            func claim(_ runner: String, _ languages: [String]) -> ClaimOutcome? {
                let result = redis.wait { done in
                    jobs.claim(id: id, runner: runner, languages: languages, maxAttempts: 3, retentionMillis: settings.retentionMillis,
                               defaults: settings.defaults, maxima: settings.maxima, done)
                }
                guard case .success(let outcome) = result else { XCTFail("claim failed: \(result)"); return nil }
                return outcome
            }
            XCTAssertEqual(claim("r2", ["python"])?.word, "gone", "not in r2's processing list")
            guard case .run(let job)? = claim("r1", ["python"]) else { return XCTFail("r1 should run the job") }
            XCTAssertEqual(job.id, id)
            XCTAssertEqual(job.language, "python")
            XCTAssertEqual(job.code, "print(1)")
            XCTAssertEqual(job.sessionID, sessionID)
            XCTAssertEqual(job.userID, "u_1")
            XCTAssertEqual(job.attempt, 1)
            XCTAssertEqual(job.kind, .execution)
            XCTAssertEqual(job.limits, settings.defaults)

            guard case .success(true) = redis.wait({ jobs.output(job: id, runner: "r1", attempt: 1, frame: "{}", $0) }) else {
                return XCTFail("the job is r1's")
            }
            guard case .success(false) = redis.wait({ jobs.output(job: id, runner: "r2", attempt: 1, frame: "{}", $0) }) else {
                return XCTFail("the job is not r2's")
            }
            guard case .success(let beat) = redis.wait({ jobs.heartbeat(runner: "r1", leaseMillis: 5000, held: [id],
                                                                       running: [(id: id, attempt: 2)], $0) }) else {
                return XCTFail("heartbeat failed")
            }
            XCTAssertEqual(beat.requeued, 0)
            XCTAssertEqual(beat.lost, [id], "attempt 2 is not the running one")

            let result = #"{"status":"ok"}"#
            guard case .success(true) = redis.wait({ jobs.finish(id: id, runner: "r1", result: result, status: "ok", summary: "{}",
                                                                 candidateView: nil, retentionMillis: settings.retentionMillis, $0) }) else {
                return XCTFail("finish should store the result")
            }
            guard case .success(false) = redis.wait({ jobs.finish(id: id, runner: "r1", result: result, status: "ok", summary: "{}",
                                                                  candidateView: nil, retentionMillis: settings.retentionMillis, $0) }) else {
                return XCTFail("a second result is refused")
            }
            XCTAssertEqual(claim("r1", ["python"])?.word, "gone")
            XCTAssertNotNil(value(redis.send(c, ["LPUSH", ExecutionKeys.processing("r1"), id])))
            XCTAssertEqual(claim("r1", ["python"])?.word, "done")

            guard case .success(let list) = redis.wait({ jobs.sessionJobs(list: ExecutionKeys.session(sessionID), count: 5, $0) }) else {
                return XCTFail("session jobs failed")
            }
            XCTAssertEqual(list.map(\.id), [id])
            XCTAssertEqual(list.first?.fields["state"], "done")
            XCTAssertEqual(list.first?.fields["status"], "ok")
            guard case .success(let fields) = redis.wait({ jobs.testRun(id: id, $0) }) else { return XCTFail("test run read failed") }
            XCTAssertEqual(fields["result"], result)

            // A job of a language the runner lacks is parked, then pulled by one that offers it.
            let other = Executions.jobID()
            let rust = ExecutionRequest(language: "rust", code: "fn main() {}", stdin: "", limits: settings.defaults,
                                        sessionID: nil, userID: nil, userName: nil)
            guard case .success = redis.wait({ jobs.submit(id: other, rust, settings: settings, $0) }) else { return XCTFail("submit") }
            XCTAssertNotNil(value(redis.send(c, ["LREM", ExecutionKeys.queue, "0", other])))
            XCTAssertNotNil(value(redis.send(c, ["LPUSH", ExecutionKeys.processing("r1"), other])))
            let bounced = redis.wait { done in
                jobs.claim(id: other, runner: "r1", languages: ["python"], maxAttempts: 3, retentionMillis: settings.retentionMillis,
                           defaults: settings.defaults, maxima: settings.maxima, done)
            }
            guard case .success(.bounce) = bounced else { return XCTFail("the job should bounce: \(bounced)") }
            guard case .success(let pulled) = redis.wait({ jobs.pullParked(runner: "r3", languages: ["rust"], $0) }) else {
                return XCTFail("pull failed")
            }
            XCTAssertEqual(pulled, other)
            guard case .success(let none) = redis.wait({ jobs.pullParked(runner: "r3", languages: ["rust"], $0) }) else {
                return XCTFail("pull failed")
            }
            XCTAssertNil(none)
            guard case .success(let released) = redis.wait({ jobs.release(runner: "r3", $0) }) else { return XCTFail("release failed") }
            XCTAssertEqual(released, 1, "the held job goes back to the queue")
            XCTAssertEqual(value(redis.send(c, ["LPOS", ExecutionKeys.queue, other]))?.integer != nil, true)
        }
    }

    /// A test run: its cases go with the job, each case's result is kept while it runs, and a job
    /// started too often ends as internal_error.
    func testTestRunScriptsThroughTheJobStore() throws {
        let settings = ExecutionSettings()
        try inBothModes { c in
            let jobs = JobStore(redis: c)
            let id = Executions.testRunID()
            let spec = TestRunSpec(tests: [TestCase(name: "hidden", stdin: "2", expectedStdout: "4", hidden: true),
                                           TestCase(name: "visible", stdin: "1", expectedStdout: "2", hidden: false)], compare: .default)
            let request = ExecutionRequest(language: "python", code: "print(2*int(input()))", stdin: "", limits: settings.defaults,
                                           sessionID: Identifiers.sessionID(), userID: nil, userName: nil, testRun: spec)
            guard case .success = redis.wait({ jobs.submit(id: id, request, settings: settings, $0) }) else { return XCTFail("submit") }
            XCTAssertNotNil(value(redis.send(c, ["LREM", ExecutionKeys.queue, "0", id])))
            XCTAssertNotNil(value(redis.send(c, ["LPUSH", ExecutionKeys.processing("r1"), id])))
            let claimed = redis.wait { done in
                jobs.claim(id: id, runner: "r1", languages: ["python"], maxAttempts: 3, retentionMillis: settings.retentionMillis,
                           defaults: settings.defaults, maxima: settings.maxima, done)
            }
            guard case .success(.run(let job)) = claimed else { return XCTFail("r1 should run the test run: \(claimed)") }
            XCTAssertEqual(job.kind, .testRun)
            XCTAssertEqual(job.tests.map(\.name), ["visible", "hidden"], "visible cases run first")
            XCTAssertEqual(job.compare, .default)
            XCTAssertNil(job.userID)

            let caseResult = #"{"status":"passed"}"#
            guard case .success(true) = redis.wait({ jobs.testCase(job: id, runner: "r1", attempt: 1, index: 0, result: caseResult,
                                                                   full: "{}", candidate: "{}", $0) }) else {
                return XCTFail("the case result should be kept")
            }
            guard case .success(let running) = redis.wait({ jobs.testRun(id: id, $0) }) else { return XCTFail("read failed") }
            XCTAssertEqual(running["case:0"], caseResult)
            XCTAssertEqual(running["state"], "running")
            guard case .success(true) = redis.wait({ jobs.finish(id: id, runner: "r1", result: "{}", status: "passed", summary: "{}",
                                                                 candidateView: #"{"candidate":true}"#,
                                                                 retentionMillis: settings.retentionMillis, $0) }) else {
                return XCTFail("finish should store the result")
            }
            guard case .success(let done) = redis.wait({ jobs.testRun(id: id, $0) }) else { return XCTFail("read failed") }
            XCTAssertNil(done["case:0"], "the cases' progress goes with the result")
            XCTAssertEqual(done["status"], "passed")
            guard case .success(let runs) = redis.wait({ jobs.sessionJobs(list: ExecutionKeys.testRuns(request.sessionID!), count: 5, $0) })
            else { return XCTFail("test runs list failed") }
            XCTAssertEqual(runs.map(\.id), [id])

            // Claimed more often than allowed: it ends as internal_error, with nothing to run.
            let tired = Executions.jobID()
            let plain = ExecutionRequest(language: "python", code: "1", stdin: "", limits: settings.defaults)
            guard case .success = redis.wait({ jobs.submit(id: tired, plain, settings: settings, $0) }) else { return XCTFail("submit") }
            XCTAssertNotNil(value(redis.send(c, ["LREM", ExecutionKeys.queue, "0", tired])))
            XCTAssertNotNil(value(redis.send(c, ["LPUSH", ExecutionKeys.processing("r1"), tired])))
            let failed = redis.wait { done in
                jobs.claim(id: tired, runner: "r1", languages: ["python"], maxAttempts: 0, retentionMillis: settings.retentionMillis,
                           defaults: settings.defaults, maxima: settings.maxima, done)
            }
            guard case .success(.failed) = failed else { return XCTFail("the job should fail: \(failed)") }
            XCTAssertEqual(value(redis.send(c, ["HGET", ExecutionKeys.job(tired), "status"]))?.text, "internal_error")
        }
    }

    /// A full queue answers BUSY <depth>: the job store's `busy`.
    func testAFullQueueIsBusy() throws {
        var settings = ExecutionSettings()
        settings.maxQueuedJobs = 1
        try inBothModes { c in
            _ = redis.send(c, ["DEL", ExecutionKeys.queue])
            let jobs = JobStore(redis: c)
            let request = ExecutionRequest(language: "python", code: "1", stdin: "", limits: settings.defaults,
                                           sessionID: nil, userID: nil, userName: nil)
            guard case .success = redis.wait({ jobs.submit(id: Executions.jobID(), request, settings: settings, $0) }) else {
                return XCTFail("the first job fits")
            }
            let second = redis.wait { jobs.submit(id: Executions.jobID(), request, settings: settings, $0) }
            guard case .failure(.busy(let depth)) = second else { return XCTFail("the second job should be refused: \(second)") }
            XCTAssertEqual(depth, 1)
        }
    }

    /// The session context of a run: the access checks and the question, in one script.
    func testSessionContextScript() throws {
        let settings = SessionSettings()
        try inBothModes(registers: true) { c in
            let id = Identifiers.sessionID()
            let create = Scripts.createArguments(settings: settings, name: "x", code: "", language: "python", maxParticipants: 3,
                                                 hostTokenHash: "host", creator: nil)
            XCTAssertNotNil(value(redis.run(c, Scripts.create, keys: SessionKeys(id).all, arguments: create)))
            let executions = Executions(redis: c, settings: ExecutionSettings())
            guard case .success(let access) = redis.wait({ executions.sessionAccess(id, tokenHash: "host", $0) }) else {
                return XCTFail("the host may run")
            }
            XCTAssertEqual(access.language, "python")
            XCTAssertEqual(access.role, "host")
            guard case .failure(let error) = redis.wait({ executions.sessionAccess(id, tokenHash: "stranger", $0) }) else {
                return XCTFail("a stranger's token is refused")
            }
            XCTAssertEqual(error.kind, .forbidden)
            guard case .failure(let missing) = redis.wait({ executions.sessionAccess("nope", tokenHash: "", $0) }) else {
                return XCTFail("no such session")
            }
            XCTAssertEqual(missing.kind, .notFound)
        }
    }

    // MARK: The error vocabulary

    func testTheErrorVocabulary() {
        let cases: [(String, ScriptError)] = [
            ("NOTFOUND", .notFound("")), ("ERR NOTFOUND", .notFound("")), ("NOTFOUND participant", .notFound("participant")),
            ("GONE ended", .gone(.ended)), ("GONE deleted", .gone(.deleted)), ("GONE expired", .gone(.expired)),
            ("FULL 3", .full("3")), ("FORBIDDEN no", .forbidden("no")), ("UNAUTHORIZED who", .unauthorized("who")),
            ("CONFLICT taken", .conflict("taken")), ("FUTURE 4", .future("4")), ("STALE 9", .stale("9")),
            ("INVALID bad", .invalid("bad")), ("TOOLARGE 10", .tooLarge("10")), ("TOOMANY connections", .tooMany), ("BUSY 7", .busy(7)),
        ]
        for (message, expected) in cases { XCTAssertEqual(ScriptError(.server(message)), expected, message) }
        XCTAssertNil(ScriptError(.server("ERR unknown command")))
        XCTAssertNil(ScriptError(.unavailable("down")))
        XCTAssertEqual(ScriptError.missing(gone: nil), .notFound(""))
        XCTAssertEqual(ScriptError.missing(gone: "deleted"), .gone(.deleted))
        XCTAssertEqual(ScriptError.gone(.ended).interviewError(session: "s").detail, "session s has ended")
        XCTAssertEqual(translate(.server("STALE 3"), session: "s").kind, .stale)
        XCTAssertEqual(translate(.server("BUSY Redis is busy running a script")).kind, .internalError)
        // The Lua side writes the same exclude word as ChannelMessage.
        XCTAssertTrue(RedisScripts.library.contains("local EXCEPT_INTERVIEWERS = '\(ChannelMessage.exceptInterviewers)'"))
    }

    /// No key or channel name is written in Lua: the scripts get them from the key schema.
    func testNoKeyNameIsWrittenInLua() {
        for script in RedisFunctions.scripts {
            XCTAssertFalse(script.source.contains("'ci:"), "\(script.name) writes a key name")
            XCTAssertFalse(script.source.contains("\"ci:"), "\(script.name) writes a key name")
            XCTAssertFalse(script.source.contains("redis.call('TIME')") && !script.source.contains("local function now_ms()"),
                           "\(script.name) reads the time itself")
        }
        XCTAssertEqual(RedisFunctions.library.source.components(separatedBy: "redis.call('TIME')").count, 2, "TIME is read in one place")
    }
}
