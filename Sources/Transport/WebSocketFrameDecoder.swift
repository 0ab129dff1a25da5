/// Reads client frames (RFC 6455) from bytes as they arrive: checks masking, reserved bits,
/// opcodes, control-frame rules and the message size, and reassembles fragmented messages.
/// Pure: no I/O, so it can be fuzzed on its own.
public struct WebSocketFrameDecoder {
    public enum Output: Equatable {
        /// A complete text message, valid UTF-8.
        case text([UInt8])
        case ping([UInt8])
        case pong
        /// The peer's close frame: its code (1005 when it sent none).
        case close(UInt16)
        /// Fail the connection with this close code.
        case failure(UInt16, String)
    }

    public let maxMessageBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var message: [UInt8] = []
    /// Opcode of the fragmented message being assembled, or 0.
    private var messageOpcode: UInt8 = 0
    private var failed = false

    public init(maxMessageBytes: Int) {
        self.maxMessageBytes = maxMessageBytes
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !failed else { return }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The next complete output, or nil until more bytes arrive. After a failure, always nil.
    public mutating func next() -> Output? {
        guard !failed else { return nil }
        while true {
            guard let frame = nextFrame() else {
                compact()
                return nil
            }
            switch frame {
            case .skip:
                continue
            case .output(let output):
                if case .failure = output {
                    failed = true
                    buffer = []
                    start = 0
                }
                return output
            }
        }
    }

    /// A frame either yields an output or is a fragment that completes nothing yet.
    private enum Frame { case output(Output), skip }

    private mutating func nextFrame() -> Frame? {
        let available = buffer.count - start
        guard available >= 2 else { return nil }
        let b0 = buffer[start], b1 = buffer[start + 1]
        let fin = b0 & 0x80 != 0
        let opcode = b0 & 0x0F
        guard b0 & 0x70 == 0 else { return .output(.failure(1002, "reserved bits set without an extension")) }
        guard b1 & 0x80 != 0 else { return .output(.failure(1002, "client frames must be masked")) }
        var length = UInt64(b1 & 0x7F)
        var header = 2
        if length == 126 {
            guard available >= 4 else { return nil }
            length = UInt64(buffer[start + 2]) << 8 | UInt64(buffer[start + 3])
            header = 4
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = 0
            for index in 0..<8 { length = length << 8 | UInt64(buffer[start + 2 + index]) }
            guard length >> 63 == 0 else { return .output(.failure(1002, "invalid frame length")) }
            header = 10
        }
        header += 4
        let isControl = opcode & 0x8 != 0
        if isControl {
            guard fin, length <= 125 else { return .output(.failure(1002, "control frames must be final and at most 125 bytes")) }
        } else if length > UInt64(maxMessageBytes) || UInt64(message.count) + length > UInt64(maxMessageBytes) {
            return .output(.failure(1009, "message larger than \(maxMessageBytes) bytes"))
        }
        guard available >= header + Int(length) else { return nil }
        let maskAt = start + header - 4
        let payloadAt = start + header
        let count = Int(length)
        var payload = [UInt8](repeating: 0, count: count)
        for index in 0..<count { payload[index] = buffer[payloadAt + index] ^ buffer[maskAt + index & 3] }
        start += header + count
        return handle(opcode: opcode, fin: fin, payload: payload)
    }

    private mutating func handle(opcode: UInt8, fin: Bool, payload: [UInt8]) -> Frame {
        switch opcode {
        case WebSocketFrame.text, WebSocketFrame.binary, 0:
            if opcode == 0 {
                guard messageOpcode != 0 else { return .output(.failure(1002, "continuation frame without a message")) }
            } else {
                guard messageOpcode == 0 else { return .output(.failure(1002, "new message before the last one finished")) }
                messageOpcode = opcode
            }
            message += payload
            guard fin else { return .skip }
            let kind = messageOpcode
            messageOpcode = 0
            let complete = message
            message = []
            guard kind == WebSocketFrame.text else { return .output(.failure(1003, "only text messages are accepted")) }
            guard String(validating: complete, as: UTF8.self) != nil else { return .output(.failure(1007, "text message is not valid UTF-8")) }
            return .output(.text(complete))
        case WebSocketFrame.ping:
            return .output(.ping(payload))
        case WebSocketFrame.pong:
            return .output(.pong)
        case WebSocketFrame.close:
            if payload.count == 1 { return .output(.failure(1002, "close frame with a one-byte body")) }
            guard payload.count >= 2 else { return .output(.close(1005)) }
            let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
            guard WebSocketFrame.isValidCloseCode(code) else { return .output(.failure(1002, "invalid close code \(code)")) }
            guard String(validating: payload[2...], as: UTF8.self) != nil else { return .output(.failure(1007, "close reason is not valid UTF-8")) }
            return .output(.close(code))
        default:
            return .output(.failure(1002, "unknown opcode \(opcode)"))
        }
    }

    /// Gives the buffer back when no frame is partial. The connection calls it from its tick (once
    /// a second): an idle connection (most of them, most of the time) then holds no buffer at all,
    /// while a busy one keeps reusing its own between reads instead of allocating one per read.
    public mutating func releaseBuffer() {
        guard buffer.isEmpty, buffer.capacity > 0 else { return }
        buffer = []
        start = 0
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 16 * 1024)
            start = 0
        } else if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
