import Foundation
import XCTest
import Redis
@testable import Interview
@testable import Stores
@testable import TestSupport

/// Redis Cluster runs a script only when all its keys hash to one slot. These tests compute the
/// slot of every key set the code passes to a script, with a CRC16 of their own (independent of
/// the client's, so a shared mistake cannot hide), checked against a real cluster-mode
/// redis-server's CLUSTER KEYSLOT.
final class KeySlotTests: XCTestCase {
    // MARK: The slot function, written from the Redis Cluster specification

    /// CRC16-CCITT (XModem): polynomial 0x1021, initial 0, no reflection.
    static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    /// The key's slot: of the part between the first `{` and the first `}` after it when that part
    /// is not empty, else of the whole key.
    static func slot(_ key: String) -> Int {
        var bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            bytes = Array(bytes[(open + 1)..<close])
        }
        return Int(crc16(bytes) & 0x3FFF)
    }

    func testCRC16IsTheSpecificationsCheckValue() {
        XCTAssertEqual(Self.crc16(Array("123456789".utf8)), 0x31C3)
    }

    // MARK: Every key set each script is given

    static let sessionIDs = (0..<50).map { _ in Identifiers.sessionID() } + ["abc", "a-b_c"]
    static let runnerIDs = ["runner-host-1", "runner-other-17"]
    static let gatewayInstances = ["gw-host-8081#1a2b", "gw-x-9000#ff"]
    static let addresses = (0..<200).map { "10.\($0 / 100).\($0 % 100).7" } + ["127.0.0.1", "::1", "2001:db8::42"]
    static let rules = ["requests", "sessions", "joins", "executions"].map { RateRule(name: $0, count: 10, periodMillis: 60000) }

    /// Script name -> every key set the code passes it (the call sites' own key builders).
    static var keySets: [String: [[String]]] {
        var sets: [String: [[String]]] = [:]
        let session = sessionIDs.map { SessionKeys($0).all }
        for script in Scripts.all where script.source.contains("K_SESSION") || script.name == "document" {
            sets[script.name] = session
        }
        sets[Activity.add.name] = session
        sets[Scripts.availableLanguages.name] = [[NodeKeys.runners, NodeKeys.runnerInfo]]
        let gateway = gatewayInstances.map { Sessions.gatewayKeys($0) }
        sets[Scripts.gatewayHeartbeat.name] = gateway
        sets[Scripts.forgetGateway.name] = gateway
        let library = ["q_1", "two-sum", "x"].map { LibraryKeys.keys($0) }
        sets[Scripts.librarySave.name] = library
        sets[Scripts.libraryDelete.name] = library
        sets[Scripts.libraryList.name] = [[LibraryKeys.index, LibraryKeys.summaries]]

        let jobs = ["j1", "0123456789abcdef"]
        sets[ExecutionScripts.submit.name] = jobs.map { [ExecutionKeys.queue, ExecutionKeys.job($0)] }
        sets[ExecutionScripts.claim.name] = runnerIDs.map { [ExecutionKeys.processing($0)] }
        sets[ExecutionScripts.pullParked.name] = runnerIDs.map { [ExecutionKeys.processing($0)] }
        sets[ExecutionScripts.output.name] = jobs.map { [ExecutionKeys.job($0)] }
        sets[ExecutionScripts.testCase.name] = jobs.map { [ExecutionKeys.job($0)] }
        sets[ExecutionScripts.testRun.name] = jobs.map { [ExecutionKeys.job($0)] }
        sets[ExecutionScripts.finish.name] = jobs.flatMap { job in runnerIDs.map { [ExecutionKeys.job(job), ExecutionKeys.processing($0)] } }
        sets[ExecutionScripts.heartbeat.name] = runnerIDs.map { [ExecutionKeys.leases, ExecutionKeys.processing($0)] }
        sets[ExecutionScripts.release.name] = runnerIDs.map { [ExecutionKeys.leases, ExecutionKeys.processing($0)] }
        sets[ExecutionScripts.registerRunner.name] = [[ExecutionKeys.runners, ExecutionKeys.runnerInfo]]
        sets[ExecutionScripts.deregisterRunner.name] = [[ExecutionKeys.runners, ExecutionKeys.runnerInfo]]
        sets[ExecutionScripts.sessionJobs.name] = sessionIDs.flatMap { [[ExecutionKeys.session($0)], [ExecutionKeys.testRuns($0)]] }
        sets[ExecutionScripts.sessionContext.name] = session
        sets[Executions.slotsScript.name] = [[ExecutionKeys.runners, ExecutionKeys.runnerInfo]]
        // A session's terminal (its live interactive run and its input stream) on the session's slot.
        for script in TerminalScripts.all { sets[script.name] = sessionIDs.map { Terminals.keys($0) } }

        // The archive queue's scripts on its one slot; the archivers' liveness on {nodes}; the
        // release on the session's slot (its runs' keys are deleted by a separate command).
        for script in ArchiveQueue.all { sets[script.name] = [ArchiveKeys.keys] }
        sets[ExecutionScripts.registerRunner.name, default: []].append([NodeKeys.archivers, NodeKeys.archiverInfo])
        sets[ExecutionScripts.deregisterRunner.name, default: []].append([NodeKeys.archivers, NodeKeys.archiverInfo])
        sets[SessionArchive.release.name] = session
        // The session GET's read, on the six of them it reads.
        sets[Scripts.sessionRead.name] = sessionIDs.map { Sessions.readKeys($0) }
        sets[Scorecards.put.name] = session
        // Webhooks: one slot; the delete and the result also take an endpoint's attempt log.
        for script in WebhookOutbox.all { sets[script.name] = [WebhookKeys.keys] }
        let logs = ["wh_0123456789abcdef", "x"].map { WebhookKeys.keys + [WebhookKeys.log($0)] }
        sets[WebhookOutbox.delete.name] = logs
        sets[WebhookOutbox.result.name] = logs

        // As Protection.admit calls it: every rule of a request for the client's address, tagged by
        // it; the per-session execution limit tagged by the session id.
        sets[RateLimiter.script.name] = addresses.map { address in RateLimiter.keys(rules.map { ($0, address) }, tag: address) }
            + sessionIDs.map { RateLimiter.keys([(RateRule(name: "session_executions", count: 5, periodMillis: 60000), $0)], tag: $0) }
        return sets
    }

    func testEveryScriptIsCovered() {
        let scripts = RedisFunctions.scripts
        let missing = Set(scripts.map(\.name)).subtracting(Self.keySets.keys)
        XCTAssertEqual(missing, [], "scripts whose key sets this test does not check: add them to keySets")
    }

    func testEveryKeySetOfEveryScriptIsOneSlot() {
        for (script, sets) in Self.keySets.sorted(by: { $0.key < $1.key }) {
            XCTAssertFalse(sets.isEmpty, script)
            for keys in sets {
                XCTAssertFalse(keys.isEmpty, script)
                let slots = Set(keys.map(Self.slot))
                XCTAssertEqual(slots.count, 1, "\(script): keys \(keys) span slots \(slots.sorted())")
            }
        }
    }

    /// A session's channels (SPUBLISH/SSUBSCRIBE use the slot of the channel name) live with its keys.
    func testASessionsChannelsAreInItsSlot() {
        for id in Self.sessionIDs {
            let keys = SessionKeys(id)
            XCTAssertEqual(Self.slot(keys.channel), Self.slot(keys.session), id)
            XCTAssertEqual(Self.slot(keys.privateChannel), Self.slot(keys.session), id)
            XCTAssertEqual(Self.slot(ExecutionKeys.events(id)), Self.slot(keys.session), id)
        }
    }

    /// The cluster-wide keys are in slots of their own, and rate limits are not one hot slot: each
    /// address has its own, so 200 addresses land on every one of three equal shards.
    func testRateLimitsSpreadByAddressAndClusterWideKeysHaveTheirOwnSlots() {
        let slots = Self.addresses.map { Self.slot(RateLimiter.keys([(Self.rules[0], $0)], tag: $0)[0]) }
        XCTAssertGreaterThan(Set(slots).count, 190, "rate-limit keys of different addresses share slots")
        let shards = Set(slots.map { $0 * 3 / 16384 })
        XCTAssertEqual(shards, [0, 1, 2], "rate-limit keys do not reach every shard of three")
        let wide = [NodeKeys.gateways, ExecutionKeys.queue, LibraryKeys.index, ArchiveKeys.due].map(Self.slot)
        XCTAssertEqual(Set(wide).count, 4, "{nodes}, {jobs}, {questions} and {archive} share a slot")
    }

    // MARK: Against a real server

    /// The slot function above agrees with CLUSTER KEYSLOT of a cluster-mode redis-server, on
    /// every kind of key the code builds and on the hash-tag edge cases.
    func testSlotsAgreeWithTheServersClusterKeyslot() throws {
        let server = try RedisServer(arguments: ["--cluster-enabled", "yes", "--cluster-port", String(try Ports.free())])
        defer { server.stop() }
        var sample = ["", "a", "{", "}", "{}", "{}a", "a{}", "{a}", "a{b}c", "a{b}{c}", "{{a}}", "{}{a}", "a{b", "x}y{z}",
                      "foo{bar}{zap}", "{user1000}.following", "ünïcødé{ß}", "ci:{rl:2001:db8::42}:requests:2001:db8::42"]
        for sets in Self.keySets.values { sample += sets.prefix(3).flatMap { $0 } }
        for key in Set(sample) {
            let reply = try server.command(["CLUSTER", "KEYSLOT", key])
            XCTAssertEqual(reply, ":\(Self.slot(key))", "slot of \(key.debugDescription)")
        }
    }
}
