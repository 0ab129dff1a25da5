import Foundation
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// A minimal RFC 6455 client for the session endpoint (/ws/sessions/{id}): enough to join and read
/// the server's text frames.
final class WebSocketClient: @unchecked Sendable {
    private let connection: HTTPClient

    init(port: UInt16, sessionID: String, timeout: TimeInterval = 5) throws {
        connection = try HTTPClient(port: port, timeout: timeout)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = "GET /ws/sessions/\(sessionID) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try connection.send(raw: request)
        let status = try connection.readLine()
        guard status.contains(" 101") else { throw HarnessError("WebSocket upgrade refused: \(status)") }
        while try !connection.readLine().isEmpty {}
    }

    func close() { connection.close() }

    /// Sends a masked text frame.
    func send(_ object: [String: Any]) throws {
        let payload = jsonBytes(object)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index % 4]) }
        try connection.send(bytes: frame)
    }

    /// The next text message, parsed (pings and other control frames are skipped).
    func receive(timeout: TimeInterval) throws -> [String: Any] {
        connection.setTimeout(timeout)
        while true {
            let head = try connection.readBytes(2)
            let opcode = head[0] & 0x0F
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                let bytes = try connection.readBytes(2)
                length = Int(bytes[0]) << 8 | Int(bytes[1])
            } else if length == 127 {
                let bytes = try connection.readBytes(8)
                length = bytes.reduce(0) { $0 << 8 | Int($1) }
            }
            let payload = length > 0 ? try connection.readBytes(length) : []
            if opcode == 0x8 { throw HarnessError("the server closed the WebSocket") }
            guard opcode == 0x1 else { continue }
            guard let message = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] else {
                throw HarnessError("not a JSON object: \(String(decoding: payload, as: UTF8.self))")
            }
            return message
        }
    }

    /// Messages until `stop` says so or `timeout` passes (then throws, listing what came).
    func collect(timeout: TimeInterval, until stop: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        var messages: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(timeout)
        while !stop(messages) {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw HarnessError("timed out; received types: \(messages.map { $0["type"] as? String ?? "?" })")
            }
            messages.append(try receive(timeout: left))
        }
        return messages
    }
}
