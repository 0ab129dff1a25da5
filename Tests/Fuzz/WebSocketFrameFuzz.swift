// libFuzzer target for the WebSocket frame decoder. Built and run by scripts/fuzz.

let maxMessage = 4096

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocketFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let chunk = size > 0 ? Int(input[0]) % 32 + 1 : 1
    var decoder = WebSocketFrameDecoder(maxMessageBytes: maxMessage)
    var offset = size > 0 ? 1 : 0
    while offset < size {
        let end = min(size, offset + chunk)
        decoder.append(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
        offset = end
        while let output = decoder.next() {
            switch output {
            case .text(let message):
                precondition(message.count <= maxMessage, "message over the limit")
                precondition(String(validating: message, as: UTF8.self) != nil, "invalid UTF-8 delivered")
            case .ping(let payload):
                precondition(payload.count <= 125, "control frame over 125 bytes")
            case .close(let code):
                precondition(code == 1005 || (1000...4999).contains(code), "close code \(code)")
            case .failure(let code, _):
                precondition([1002, 1003, 1007, 1009].contains(code), "failure code \(code)")
            case .pong:
                break
            }
        }
    }
    return 0
}
