// libFuzzer target for the HTTP request path: http_parser plus our limits and request assembly.
// Built and run by scripts/fuzz (swiftc -sanitize=fuzzer,address), not by SwiftPM.

let limits = HTTPRequestParser.Limits(maxHeaderBytes: 2048, maxURLBytes: 512, maxBodyBytes: 4096)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    // The first byte picks a chunk size, so resuming mid-request is exercised too.
    let chunk = size > 0 ? Int(input[0]) % 64 + 1 : 1
    let parser = HTTPRequestParser(limits: limits)
    var offset = size > 0 ? 1 : 0
    var fed = offset
    var steps = 0
    while offset < size && steps < 10_000 {
        steps += 1
        fed = min(size, max(fed, offset + chunk))
        let consumed = parser.parse(UnsafeRawBufferPointer(rebasing: input[offset..<fed]))
        offset += consumed
        if let failure = parser.failure {
            precondition([400, 408, 413, 414, 431].contains(failure.status), "unexpected failure status \(failure.status)")
            break
        }
        if let request = parser.completed {
            parser.completed = nil
            precondition(request.body.count <= limits.maxBodyBytes, "body over the limit")
            precondition(request.path.utf8.count <= limits.maxURLBytes, "target over the limit")
            precondition(!request.method.isEmpty, "a request without a method")
        } else if consumed == 0 && fed == size {
            break
        }
    }
    return 0
}
