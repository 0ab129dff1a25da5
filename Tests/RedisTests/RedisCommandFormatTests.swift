import Foundation
@testable import Redis
@testable import TestSupport
import XCTest

/// Commands are formatted in Swift (RESP) and handed to hiredis as bytes: the bytes must be what
/// hiredis' own argv formatting wrote, binary-safe, and a real server must read them back.
final class RedisCommandFormatTests: XCTestCase {
    let pump = LoopPump(label: "redis-format-test", logVariable: "REDIS_TEST_LOG")

    func testTheFormIsRESPWithExactLengths() {
        XCTAssertEqual(String(decoding: formatCommand(["PING"]), as: UTF8.self), "*1\r\n$4\r\nPING\r\n")
        XCTAssertEqual(String(decoding: formatCommand(["SET", "k", ""]), as: UTF8.self), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
        // Bytes and strings give the same command; lengths count UTF-8 bytes, not characters.
        let text = ["SET", "clé", "é😀\r\n"]
        XCTAssertEqual(formatCommand(text), formatCommand(text.map { Array($0.utf8) }))
        XCTAssertEqual(String(decoding: formatCommand(text), as: UTF8.self), "*3\r\n$3\r\nSET\r\n$4\r\nclé\r\n$8\r\né😀\r\n\r\n")
        // Counts and lengths of several digits.
        let many = (0..<12).map { String(repeating: "x", count: $0 * 11) }
        let bytes = formatCommand(many)
        XCTAssertTrue(bytes.starts(with: Array("*12\r\n$0\r\n\r\n$11\r\nxxxxxxxxxxx\r\n".utf8)))
        XCTAssertEqual(bytes.count, 5 + many.reduce(0) { $0 + 1 + String($1.count).count + 2 + $1.count + 2 })
        // A string without contiguous UTF-8 storage (bridged or lazily built) takes the copying path.
        let bridged = NSString(string: "bridged é").description
        XCTAssertEqual(formatCommand(["ECHO", bridged]), formatCommand([Array("ECHO".utf8), Array("bridged é".utf8)]))
    }

    func testBinaryArgumentsRoundTripThroughARealServer() throws {
        let server = try RedisServer()
        defer { server.stop() }
        let client = RedisNodeClient(loop: pump.loop, endpoint: RedisEndpoint(host: "127.0.0.1", port: Int(server.port)), logger: pump.logger)
        client.start()
        XCTAssertTrue(pump.until(10) { client.isConnected }, client.unavailableReason)
        let value: [UInt8] = [0, 13, 10, 36, 42, 255] + Array(repeating: 7, count: 100_000)
        var replies: [RedisValue] = []
        client.send(bytes: [Array("SET".utf8), [0, 1, 13, 10], value]) { replies.append((try? $0.get()) ?? .error("failed")) }
        client.send(bytes: [Array("GET".utf8), [0, 1, 13, 10]]) { replies.append((try? $0.get()) ?? .error("failed")) }
        client.send(["SET", "clé", "é😀", "GET"]) { replies.append((try? $0.get()) ?? .error("failed")) }
        client.send(["GET", "clé"]) { replies.append((try? $0.get()) ?? .error("failed")) }
        client.send(["SET", "", ""]) { replies.append((try? $0.get()) ?? .error("failed")) }
        client.send(["STRLEN", ""]) { replies.append((try? $0.get()) ?? .error("failed")) }
        XCTAssertTrue(pump.until(10) { replies.count == 6 })
        XCTAssertEqual(replies, [.status("OK"), .string(value), .null, .string(Array("é😀".utf8)), .status("OK"), .integer(0)])
        var closed = false
        client.close { closed = true }
        XCTAssertTrue(pump.until(5) { closed })
    }
}
