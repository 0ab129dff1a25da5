import CLibUV
import Foundation
import Logging
import Redis
import Transport
import XCTest
@testable import Interview
@testable import Stores
@testable import TestSupport

/// A real redis-server and a client on this thread's libuv loop, for the contract tests: every
/// script runs through its Swift builder, as the program runs it.
final class RedisContract {
    let server: RedisServer
    let loop = EventLoop()
    let logger: Logger
    private let tick: LoopTimer
    private var connections: [RedisConnection] = []

    init() throws {
        server = try RedisServer()
        var logger = Logger(label: "redis-contract-test")
        logger.logLevel = ProcessInfo.processInfo.environment["REDIS_TEST_LOG"] == nil ? .critical : .debug
        self.logger = logger
        tick = LoopTimer(loop: loop)
        tick.start(after: 5, repeat: 5) {}
    }

    /// A connection with every script registered; with the Functions library when `functions`.
    func connect(functions: Bool) -> RedisConnection {
        let connection = makeRedisClient(loop: loop, address: .single(host: "127.0.0.1", port: Int(server.port)), logger: logger)
        for script in RedisFunctions.scripts { connection.register(script) }
        if functions { connection.register(RedisFunctions.library) }
        connection.start()
        XCTAssertTrue(until(10) { connection.isConnected }, "the client should connect: \(connection.unavailableReason)")
        connections.append(connection)
        return connection
    }

    /// A Redis Cluster client with every script and the Functions library registered.
    func connect(cluster seeds: [UInt16]) -> RedisConnection {
        let address = RedisAddress.cluster(seeds: seeds.map { RedisEndpoint(host: "127.0.0.1", port: Int($0)) })
        let connection = makeRedisClient(loop: loop, address: address, logger: logger)
        for script in RedisFunctions.scripts { connection.register(script) }
        connection.register(RedisFunctions.library)
        connection.start()
        XCTAssertTrue(until(20) { connection.isConnected }, "the client should find every primary: \(connection.unavailableReason)")
        connections.append(connection)
        return connection
    }

    func close() {
        for connection in connections {
            var closed = false
            connection.close { closed = true }
            until(5) { closed }
        }
        tick.close()
        uv_run(loop.raw, UV_RUN_NOWAIT)
        server.stop()
    }

    @discardableResult
    func until(_ timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() >= deadline { return false }
            uv_run(loop.raw, UV_RUN_ONCE)
        }
        return true
    }

    /// Starts an asynchronous call and runs the loop until it completes.
    func wait<T>(_ start: (@escaping (T) -> Void) -> Void, file: StaticString = #filePath, line: UInt = #line) -> T {
        var result: T?
        start { result = $0 }
        until(20) { result != nil }
        guard let result else { fatalError("no answer within 20 s (\(file):\(line))") }
        return result
    }

    func send(_ connection: RedisConnection, _ command: [String]) -> Result<RedisValue, RedisError> {
        wait { done in connection.send(command, done) }
    }

    func run(_ connection: RedisConnection, _ script: RedisScript, keys: [String], arguments: [String]) -> Result<RedisValue, RedisError> {
        wait { done in connection.run(script, keys: keys, arguments: arguments, done) }
    }

    /// INFO commandstats' usec_per_call and calls of `command` (lowercase), nil when never called.
    func commandStats(_ connection: RedisConnection, _ command: String) -> (calls: Int, usecPerCall: Double)? {
        guard case .success(let value) = send(connection, ["INFO", "commandstats"]), let text = value.text else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(command):") {
            var calls = 0, per = 0.0
            for field in line.split(separator: ":", maxSplits: 1)[1].split(separator: ",") {
                let pair = field.split(separator: "=")
                if pair[0] == "calls" { calls = Int(pair[1]) ?? 0 }
                if pair[0] == "usec_per_call" { per = Double(pair[1]) ?? 0 }
            }
            return (calls, per)
        }
        return nil
    }
}
