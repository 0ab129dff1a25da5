@testable import Gateway
import JSON
import Transport
import XCTest

/// The ack is written byte by byte on the typing path (Client.ackFrame): it must be exactly the
/// frame `send(type:data:)` writes for `{"revision": N}`.
final class AckFrameTests: XCTestCase {
    func testTheAckFrameIsWhatTheJSONSerializerWrites() {
        for (type, revision, timestamp) in [("ack", 0, 0), ("ack", 7, 1_765_000_000_123), ("notes-ack", 1_234_567_890, 9),
                                            ("ack", Int(Int32.max), Int(Int64(1) << 52))] {
            let json: JSON = ["type": .string(type), "data": ["revision": .integer(revision)], "timestamp": .integer(timestamp)]
            XCTAssertEqual(Client.ackFrame(type, revision: revision, timestamp: timestamp), WebSocketFrame.text(json.bytes),
                           "\(type) \(revision) \(timestamp)")
        }
    }
}
