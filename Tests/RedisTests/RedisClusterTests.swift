import CLibUV
import Foundation
import Logging
@testable import Redis
@testable import TestSupport
import Transport
import XCTest

/// The cluster client against a real 3-primary Redis Cluster (6 redis-server processes), driven
/// on this thread's libuv loop.
final class RedisClusterTests: XCTestCase {
    nonisolated(unsafe) static var cluster: RedisClusterProcesses?
    nonisolated(unsafe) static var startError = ""
    var cluster: RedisClusterProcesses { Self.cluster! }
    let pump = LoopPump(label: "redis-cluster-test", logVariable: "REDIS_TEST_LOG")

    override class func setUp() {
        super.setUp()
        do { cluster = try RedisClusterProcesses() } catch { startError = "\(error)" }
    }

    override class func tearDown() {
        cluster?.stop()
        cluster = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        guard Self.cluster != nil else { throw HarnessError("the Redis Cluster did not start: \(Self.startError)") }
        XCTAssertTrue(cluster.waitUntilHealthy(timeout: 20))
    }

    /// A cluster client from one seed node.
    func connect(seed: UInt16? = nil, scripts: [RedisScript] = []) -> RedisClusterClient {
        let connection = RedisClusterClient(seeds: [RedisEndpoint(host: "127.0.0.1", port: Int(seed ?? cluster.ports[0]))],
                                            loop: pump.loop, logger: pump.logger)
        scripts.forEach(connection.register)
        connection.start()
        XCTAssertTrue(pump.until(10) { connection.isConnected }, "the client should find every primary: \(connection.unavailableReason)")
        return connection
    }

    func send(_ connection: RedisConnection, _ command: [String]) -> Result<RedisValue, RedisError>? {
        pump.wait(10) { done in connection.send(command, done) }
    }

    /// Keys (hash-tagged per "session") until every primary owns some.
    func keysOnEveryShard() throws -> [(key: String, port: UInt16)] {
        var out: [(String, UInt16)] = []
        for index in 0..<30 {
            let key = "ci:{s\(index)}:session"
            out.append((key, try cluster.primary(ofSlot: RedisSlot.of(key))))
        }
        XCTAssertEqual(Set(out.map(\.1)).count, 3, "the keys should spread over the three shards")
        return out
    }

    func testSlotsAreRedisKeySlots() throws {
        let keys = ["ci:{abc}:session", "plain", "{}x", "a{}{b}", "{user1000}.following", "foo{bar}{zap}", "x{", "}{y}",
                    "ci:{jobs}:queue", "ci:{nodes}:gateways", "ci:{questions}:index", "ünïcode{ключ}", ""]
            + (0..<50).map { "k\($0 * 7919)" }
        for key in keys {
            XCTAssertEqual(String(RedisSlot.of(key)), try cluster.cli(cluster.ports[0], "CLUSTER", "KEYSLOT", key), "slot of '\(key)'")
        }
    }

    func testOneSeedFindsEveryPrimaryAndCommandsAndScriptsGoToTheOwner() throws {
        let script = RedisScript(name: "set", source: "return redis.call('SET', KEYS[1], ARGV[1])")
        // The seed is a replica: it still names the primaries.
        let replica = try XCTUnwrap(cluster.ports.first { try !cluster.primaryPorts().contains($0) })
        let connection = connect(seed: replica, scripts: [script])
        XCTAssertEqual(Set(connection.nodes.values.filter(\.isConnected).map(\.endpoint.port)).map(UInt16.init).sorted(),
                       try cluster.primaryPorts().sorted())
        for (index, entry) in try keysOnEveryShard().enumerated() {
            if index % 2 == 0 {
                guard case .success = send(connection, ["SET", entry.key, "v\(index)"]) else { return XCTFail("SET \(entry.key)") }
            } else {
                let result = pump.wait(10) { connection.run(script, keys: [entry.key], arguments: ["v\(index)"], $0) }
                guard case .success = result else { return XCTFail("script on \(entry.key): \(String(describing: result))") }
            }
            // The owning primary has it, asked directly (no redirection: redis-cli without -c).
            XCTAssertEqual(try cluster.cli(entry.port, "GET", entry.key), "v\(index)")
            guard case .success(let value) = send(connection, ["GET", entry.key]) else { return XCTFail("GET \(entry.key)") }
            XCTAssertEqual(value.text, "v\(index)")
        }
        // A pipeline of one slot goes in one round trip to its node.
        let keys = SessionKeysForTest("p1")
        let replies = pump.wait(10) { connection.pipeline([["SET", keys.a, "1"], ["SET", keys.b, "2"], ["MGET", keys.a, keys.b], ["PING"]], $0) }
        guard case .success(let values) = replies else { return XCTFail("pipeline: \(String(describing: replies))") }
        XCTAssertEqual(values[2], .array([.string(Array("1".utf8)), .string(Array("2".utf8))]))
        close(connection)
    }

    func testCrossSlotRequestsAreRefusedBeforeSending() throws {
        let connection = connect()
        let (a, b) = ("ci:{x1}:a", "ci:{x2}:b")
        XCTAssertNotEqual(RedisSlot.of(a), RedisSlot.of(b))
        let pipeline = pump.wait(10) { connection.pipeline([["SET", a, "1"], ["SET", b, "1"]], $0) }
        guard case .failure(let error) = pipeline else { return XCTFail("a cross-slot pipeline must fail") }
        XCTAssertTrue(error.message.hasPrefix("CROSSSLOT"), error.message)
        XCTAssertFalse(error.isUnavailable)
        for command in [["DEL", a, b], ["MGET", a, b], ["NOSUCHCOMMAND", a]] {
            guard case .failure(let error) = send(connection, command) else { return XCTFail("\(command) must fail") }
            XCTAssertTrue(error.message.hasPrefix(command[0] == "NOSUCHCOMMAND" ? "ERR the cluster client" : "CROSSSLOT"), error.message)
        }
        let script = RedisScript(name: "two", source: "return 1")
        guard case .failure(let scriptError) = pump.wait(10, { connection.run(script, keys: [a, b], arguments: [], $0) }) else {
            return XCTFail("a cross-slot script must fail")
        }
        XCTAssertTrue(scriptError.message.hasPrefix("CROSSSLOT"))
        // Nothing was sent: neither key exists on its owner.
        XCTAssertEqual(try cluster.cli(cluster.primary(ofSlot: RedisSlot.of(a)), "EXISTS", a), "0")
        XCTAssertEqual(try cluster.cli(cluster.primary(ofSlot: RedisSlot.of(b)), "EXISTS", b), "0")
        close(connection)
    }

    func testScriptsComeBackAfterScriptFlush() throws {
        let script = RedisScript(name: "incr", source: "return redis.call('INCR', KEYS[1])")
        let connection = connect(scripts: [script])
        let entries = try keysOnEveryShard()
        for entry in entries.prefix(6) {
            guard case .success = pump.wait(10, { connection.run(script, keys: [entry.key + "-n"], arguments: [], $0) }) else { return XCTFail() }
        }
        for port in try cluster.primaryPorts() { try cluster.cli(port, "SCRIPT", "FLUSH") }
        for entry in entries.prefix(6) {
            let result = pump.wait(10) { connection.run(script, keys: [entry.key + "-n"], arguments: [], $0) }
            guard case .success(let value) = result else { return XCTFail("after SCRIPT FLUSH: \(String(describing: result))") }
            XCTAssertEqual(value.integer, 2)
        }
        close(connection)
    }

    /// A slot holding keys moves from one primary to another with CLUSTER SETSLOT and MIGRATE: while
    /// it is half moved the old owner answers ASK for the moved key, afterwards MOVED.
    func testAskDuringAMigrationAndMovedAfterIt() throws {
        let connection = connect()
        let moved = "ci:{migrating}:moved", staying = "ci:{migrating}:staying"
        let slot = RedisSlot.of(moved)
        let source = try cluster.primary(ofSlot: slot)
        let target = try XCTUnwrap(try cluster.primaryPorts().first { $0 != source })
        for key in [moved, staying] { guard case .success = send(connection, ["SET", key, key]) else { return XCTFail() } }
        let (sourceID, targetID) = (try cluster.id(of: source), try cluster.id(of: target))
        try cluster.cli(target, "CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID)
        try cluster.cli(source, "CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID)
        try cluster.cli(source, "MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS", moved)
        // The old owner answers ASK for the migrated key (redis-cli without -c follows nothing).
        XCTAssertTrue(try cluster.cli(source, "GET", moved).hasPrefix("ASK \(slot)"))
        guard case .success(let askValue) = send(connection, ["GET", moved]) else { return XCTFail("GET of the migrated key") }
        XCTAssertEqual(askValue.text, moved)
        guard case .success(let stayValue) = send(connection, ["GET", staying]) else { return XCTFail() }
        XCTAssertEqual(stayValue.text, staying)
        try cluster.cli(source, "MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS", staying)
        try cluster.cli(target, "CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID)
        for port in try cluster.primaryPorts() where port != target { try cluster.cli(port, "CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID) }
        XCTAssertEqual(try cluster.primary(ofSlot: slot), target)
        // The client's map still names the old owner: MOVED, followed, and the map read again.
        guard case .success(let movedValue) = send(connection, ["GET", moved]) else { return XCTFail("GET after the move") }
        XCTAssertEqual(movedValue.text, moved)
        XCTAssertTrue(pump.until(5) { connection.node(forSlot: slot)?.endpoint.port == Int(target) })
        close(connection)
    }

    /// A request over two keys of a slot left half moved (one key migrated, one not) gets TRYAGAIN
    /// every time: retried for about a second, then failed as unavailable, never retried forever;
    /// once the slot has moved it is answered.
    func testTryAgainOnAHalfMovedSlotIsBoundedThenAnswered() throws {
        let connection = connect()
        let moved = "ci:{tryagain}:moved", staying = "ci:{tryagain}:staying"
        let slot = RedisSlot.of(moved)
        let source = try cluster.primary(ofSlot: slot)
        let target = try XCTUnwrap(try cluster.primaryPorts().first { $0 != source })
        for key in [moved, staying] { guard case .success = send(connection, ["SET", key, key]) else { return XCTFail() } }
        let (sourceID, targetID) = (try cluster.id(of: source), try cluster.id(of: target))
        try cluster.cli(target, "CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID)
        try cluster.cli(source, "CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID)
        try cluster.cli(source, "MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS", moved)
        let started = Date()
        guard case .failure(let error)? = send(connection, ["EXISTS", moved, staying]) else {
            return XCTFail("a request over a half-moved slot's split keys should fail (or it never returned)")
        }
        XCTAssertTrue(error.isUnavailable && error.message.contains("TRYAGAIN"), error.message)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        try cluster.cli(source, "MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS", staying)
        try cluster.cli(target, "CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID)
        for port in try cluster.primaryPorts() where port != target { try cluster.cli(port, "CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID) }
        guard case .success(let both) = send(connection, ["EXISTS", moved, staying]) else { return XCTFail("EXISTS after the move") }
        XCTAssertEqual(both.integer, 2)
        close(connection)
    }

    /// Sharded subscriptions on every shard get what is SPUBLISHed, and follow a slot that moves.
    func testShardedSubscriptionsReceiveAndFollowASlotMove() throws {
        let publisher = connect()
        let address = RedisAddress.cluster(seeds: [RedisEndpoint(host: "127.0.0.1", port: Int(cluster.ports[1]))])
        let subscriber = RedisSubscriber(loop: pump.loop, address: address, logger: pump.logger)
        var cues = 0
        subscriber.onStateChange = { up in if up { cues += 1 } }
        subscriber.start()
        XCTAssertTrue(pump.until(10) { subscriber.isConnected })
        let channels = try keysOnEveryShard().prefix(9).map { $0.key.replacingOccurrences(of: ":session", with: ":events") }
        var received: [String: [String]] = [:]
        var ready = 0
        for channel in channels {
            subscriber.listen(channel, ready: { ok in if ok { ready += 1 } }) { payload in
                received[channel, default: []].append(String(decoding: payload, as: UTF8.self))
            }
        }
        XCTAssertTrue(pump.until(10) { ready == channels.count }, "every subscription confirmed")
        for channel in channels { _ = send(publisher, ["SPUBLISH", channel, "one"]) }
        XCTAssertTrue(pump.until(10) { channels.allSatisfy { received[$0] == ["one"] } }, "\(received)")

        // Move the first channel's slot to another primary.
        let channel = channels[0], slot = RedisSlot.of(channel)
        let source = try cluster.primary(ofSlot: slot)
        let target = try XCTUnwrap(try cluster.primaryPorts().first { $0 != source })
        let cuesBefore = cues
        try cluster.moveSlot(slot, to: target)
        XCTAssertTrue(pump.until(10) { cues > cuesBefore }, "the moved subscription is confirmed on the new owner, a catch-up cue")
        XCTAssertEqual(subscriber.channelCount, channels.count)
        // Published through the client (which follows MOVED) and straight on the new owner.
        XCTAssertTrue(pump.until(10) {
            _ = self.send(publisher, ["SPUBLISH", channel, "two"])
            return received[channel]?.contains("two") == true
        })
        XCTAssertEqual(try cluster.cli(target, "SPUBLISH", channel, "three"), "1")
        XCTAssertTrue(pump.until(5) { received[channel]?.last == "three" })
        for other in channels.dropFirst() { _ = send(publisher, ["SPUBLISH", other, "four"]) }
        XCTAssertTrue(pump.until(10) { channels.dropFirst().allSatisfy { received[$0]?.last == "four" } })
        var closed = 0
        subscriber.close { closed += 1 }
        publisher.close { closed += 1 }
        XCTAssertTrue(pump.until(5) { closed == 2 })
    }

    func close(_ connection: RedisConnection) {
        var closed = false
        connection.close { closed = true }
        XCTAssertTrue(pump.until(5) { closed })
    }
}

/// kill -9 of a primary: its replica takes over and commands resume (a cluster of its own).
final class RedisClusterFailoverTests: XCTestCase {
    func testAPrimaryKilledItsReplicaTakesOverAndCommandsResume() throws {
        let cluster = try RedisClusterProcesses(nodeTimeoutMillis: 1_000)
        defer { cluster.stop() }
        let pump = LoopPump(label: "redis-cluster-test", logVariable: "REDIS_TEST_LOG")
        let connection = makeRedisClient(loop: pump.loop, address: .cluster(seeds: [RedisEndpoint(host: "127.0.0.1", port: Int(cluster.ports[0]))]),
                                         logger: pump.logger)
        connection.start()
        XCTAssertTrue(pump.until(10) { connection.isConnected })
        let key = (0..<100).map { "ci:{f\($0)}:session" }.first { (try? cluster.primary(ofSlot: RedisSlot.of($0))) != cluster.ports[0] }!
        let victim = try cluster.primary(ofSlot: RedisSlot.of(key))
        guard case .success = pump.wait(10, { connection.send(["SET", key, "before"], $0) }) else { return XCTFail() }
        _ = try cluster.cli(victim, "WAIT", "1", "2000")
        let killed = Date()
        cluster.kill9(victim)
        var resumed: Date?
        var value: RedisValue?
        XCTAssertTrue(pump.until(30) {
            if case .success(let got)? = pump.wait(2, { connection.send(["GET", key], $0) }) { value = got; resumed = Date(); return true }
            return false
        }, "commands on the killed primary's slots resume once its replica is promoted")
        let seconds = resumed.map { $0.timeIntervalSince(killed) } ?? -1
        print("failover: commands resumed \(String(format: "%.2f", seconds)) s after kill -9 (cluster-node-timeout 1 s)")
        XCTAssertEqual(value?.text, "before", "the replica had the write (WAIT 1)")
        XCTAssertLessThan(seconds, 20, "a generous bound: the node timeout is 1 s, the promotion a few more")
        // The node asked for the map may learn of the promotion a moment after the client did
        // (gossip): wait for it to say so.
        XCTAssertTrue(pump.until(10) { (try? cluster.primary(ofSlot: RedisSlot.of(key))).map { $0 != victim } ?? false },
                      "the cluster names a new primary for the killed one's slots")
        XCTAssertTrue(pump.until(10) { connection.isConnected }, "every primary connected again: \(connection.unavailableReason)")
        var closed = false
        connection.close { closed = true }
        XCTAssertTrue(pump.until(5) { closed })
    }
}

/// Two keys of one slot.
struct SessionKeysForTest {
    let a: String, b: String
    init(_ id: String) { a = "ci:{\(id)}:a"; b = "ci:{\(id)}:b" }
}

