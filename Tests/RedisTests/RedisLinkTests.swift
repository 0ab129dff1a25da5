import Foundation
import Logging
@testable import Redis
@testable import TestSupport
import Transport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The one hiredis lifecycle (`RedisLink`) under every topology: each socket is close-on-exec (a
/// sandbox the runner spawns must inherit none), and a close, twice or with commands in flight,
/// runs every completion exactly once and leaves nothing behind.
final class RedisLinkTests: XCTestCase {
    let pump = LoopPump(label: "redis-cluster-test", logVariable: "REDIS_TEST_LOG")

    /// The descriptor is an open socket with FD_CLOEXEC set.
    func assertCloseOnExec(_ fd: Int32?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let fd else { return XCTFail("\(what): no socket", file: file, line: line) }
        let flags = fcntl(fd, F_GETFD)
        XCTAssertGreaterThanOrEqual(flags, 0, "\(what): fd \(fd) is open", file: file, line: line)
        XCTAssertNotEqual(flags & FD_CLOEXEC, 0, "\(what): fd \(fd) is close-on-exec", file: file, line: line)
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? ""
        XCTAssertTrue(target.hasPrefix("socket:"), "\(what): fd \(fd) is a socket, not \(target)", file: file, line: line)
    }

    func close(_ client: RedisClient) {
        var closed = false
        client.close { closed = true }
        XCTAssertTrue(pump.until(5) { closed })
    }

    func testASingleServersSocketIsCloseOnExec() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = RedisNodeClient(loop: pump.loop, endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(server.port)), logger: pump.logger)
        client.start()
        XCTAssertTrue(pump.until(10) { client.isConnected }, client.unavailableReason)
        assertCloseOnExec(client.fileDescriptor, "single")
        close(client)
    }

    func testEveryClusterNodesSocketIsCloseOnExec() throws {
        let cluster = try RedisClusterProcesses()
        defer { cluster.stop() }
        XCTAssertTrue(cluster.waitUntilHealthy(timeout: 20))
        let client = RedisClusterClient(seeds: [RedisEndpoint(host: "127.0.0.1", port: Int(cluster.ports[0]))], loop: pump.loop, logger: pump.logger)
        client.start()
        XCTAssertTrue(pump.until(10) { client.isConnected }, client.unavailableReason)
        XCTAssertEqual(client.nodes.count, 3)
        for node in client.nodes.values { assertCloseOnExec(node.fileDescriptor, "cluster node \(node.endpoint)") }
        close(client)
    }

    func testTheSentinelLinkAndThePrimarysSocketAreCloseOnExec() throws {
        let primary = try RedisServer()
        defer { primary.stop() }
        let sentinel = try SentinelProcess(monitoring: primary.port)
        defer { sentinel.stop() }
        let client = RedisSentinelClient(loop: pump.loop, sentinels: [RedisEndpoint(host: "127.0.0.1", port: Int(sentinel.port))],
                                         master: "mymaster", logger: pump.logger)
        client.start()
        XCTAssertTrue(pump.until(10) { client.isConnected && client.sentinelFileDescriptor != nil }, client.unavailableReason)
        XCTAssertEqual(client.primaryAddress.description, "127.0.0.1:\(primary.port)")
        assertCloseOnExec(client.fileDescriptor, "the Sentinel-found primary")
        assertCloseOnExec(client.sentinelFileDescriptor, "the link watching the sentinel")
        guard case .success(let pong)? = pump.wait(5, { client.send(["PING"], $0) }) else { return XCTFail("PING") }
        XCTAssertEqual(pong.text, "PONG")
        close(client)
    }

    /// Commands in flight on a server that does not answer (CLIENT PAUSE), then close twice and
    /// send after close: every completion runs exactly once, the in-flight ones with a failure once
    /// the command timeout gives the server up, and the link, its commands and its socket are gone.
    func testClosingTwiceWithCommandsInFlightCompletesEachOnceAndLeaksNothing() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = RedisNodeClient(loop: pump.loop, endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(server.port)), logger: pump.logger)
        client.commandTimeoutMillis = 300
        client.start()
        XCTAssertTrue(pump.until(10) { client.isConnected }, client.unavailableReason)
        let fd = try XCTUnwrap(client.fileDescriptor)
        weak var link = client.currentLink
        XCTAssertNotNil(link)

        XCTAssertEqual(try server.command(["CLIENT", "PAUSE", "3000", "ALL"]), "+OK")
        final class Witness {}
        weak var firstWitness: Witness?
        var calls = [Int](repeating: 0, count: 20)
        var failures = 0
        for index in 0..<20 {
            let witness = Witness()
            if index == 0 { firstWitness = witness }
            client.send(["SET", "k\(index)", "v"]) { result in
                withExtendedLifetime(witness) {}
                calls[index] += 1
                if case .failure = result { failures += 1 }
            }
        }
        var closes = [0, 0]
        client.close { closes[0] += 1 }
        client.close { closes[1] += 1 }
        var late = 0
        client.send(["PING"]) { result in
            late += 1
            if case .failure(let error) = result { XCTAssertTrue(error.isUnavailable) } else { XCTFail("a send after close is refused") }
        }
        XCTAssertEqual(late, 1, "a send after close fails at once")
        XCTAssertTrue(pump.until(5) { closes == [1, 1] }, "both closes complete: \(closes)")
        XCTAssertEqual(calls, [Int](repeating: 1, count: 20), "every command completed exactly once")
        XCTAssertEqual(failures, 20, "Redis never answered them: each failed")
        // A third close after the end completes at once; nothing runs twice afterwards.
        var third = 0
        client.close { third += 1 }
        XCTAssertEqual(third, 1)
        pump.until(0.3) { false }
        XCTAssertEqual(calls, [Int](repeating: 1, count: 20))
        XCTAssertEqual(closes, [1, 1])
        XCTAssertNil(firstWitness, "the completions (and the commands holding them) were released")
        XCTAssertNil(link, "the link was released")
        XCTAssertNil(client.fileDescriptor)
        XCTAssertEqual(fcntl(fd, F_GETFD), -1, "the socket was closed")
    }

    /// A graceful close waits for the replies due; they succeed, once each.
    func testAGracefulCloseAnswersTheCommandsInFlight() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = makeRedisClient(loop: pump.loop, address: .single(host: "127.0.0.1", port: Int(server.port)), logger: pump.logger)
        client.start()
        XCTAssertTrue(pump.until(10) { client.isConnected }, client.unavailableReason)
        var answers = [Int](repeating: 0, count: 50)
        var successes = 0
        for index in 0..<50 {
            client.send(["INCR", "counter"]) { result in
                answers[index] += 1
                if case .success = result { successes += 1 }
            }
        }
        var closes = 0
        client.close { closes += 1 }
        client.close { closes += 1 }
        XCTAssertTrue(pump.until(5) { closes == 2 })
        XCTAssertEqual(answers, [Int](repeating: 1, count: 50))
        XCTAssertEqual(successes, 50)
        XCTAssertEqual(try server.command(["GET", "counter"]), "$2")
    }

    /// A connect that fails (nothing listens) ends the link once, and releases it.
    func testALinkThatCannotConnectEndsOnceAndIsReleased() throws {
        let port = try Ports.free()
        var ends: [String] = []
        weak var released: RedisLink?
        do {
            let link = RedisLink(loop: pump.loop, endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(port)), logger: pump.logger)
            released = link
            link.onClose = { ends.append($0) }
            link.open()
            assertCloseOnExec(link.fileDescriptor, "a link still connecting")
        }
        XCTAssertTrue(pump.until(5) { !ends.isEmpty })
        pump.until(0.2) { false }
        XCTAssertEqual(ends.count, 1, "\(ends)")
        XCTAssertNil(released)
    }

    /// A link closed while it connects (a host that never answers) ends once, is released, and
    /// closing it again changes nothing.
    func testALinkClosedWhileConnectingEndsOnce() throws {
        let port = try Ports.free()
        var ends = 0
        weak var released: RedisLink?
        do {
            let link = RedisLink(loop: pump.loop, endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(port)), logger: pump.logger)
            released = link
            link.onClose = { _ in ends += 1 }
            link.open()
            link.close()
            link.close()
            link.abort("again")
        }
        XCTAssertTrue(pump.until(5) { ends == 1 })
        pump.until(0.2) { false }
        XCTAssertEqual(ends, 1)
        XCTAssertNil(released)
    }
}

/// A `redis-server --sentinel` monitoring one primary (quorum 1), on a free port.
final class SentinelProcess {
    let port: UInt16
    private let process: ChildProcess

    init(monitoring primaryPort: UInt16) throws {
        port = try Ports.free()
        let directory = try TempDir.make("ci-sentinel")
        let config = "\(directory)/sentinel.conf"
        let text = """
        port \(port)
        bind 127.0.0.1
        dir \(directory)
        sentinel monitor mymaster 127.0.0.1 \(primaryPort) 1
        sentinel down-after-milliseconds mymaster 1000

        """
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        process = try ChildProcess(executable: try RedisServer.executablePath(), arguments: [config, "--sentinel"],
                                   logPath: "\(directory)/sentinel.log")
        guard eventually(timeout: 10, { Ports.accepts(self.port) }) else {
            process.stop()
            throw HarnessError("the sentinel did not start: \(process.logTail())")
        }
    }

    func stop() { process.stop(grace: 5) }
}
