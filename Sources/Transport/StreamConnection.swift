import CLibUV

/// Owns one uv_tcp_t and writes to it. `handle.data` always points at the current owner (an
/// HTTPConnection, then the WebSocketConnection it upgrades to), so write callbacks find it.
public class StreamConnection {
    let tcp: UnsafeMutablePointer<uv_tcp_t>
    var writesInFlight = 0

    init(tcp: UnsafeMutablePointer<uv_tcp_t>) {
        self.tcp = tcp
    }

    /// Bytes libuv still holds for this socket (the send queue).
    var queuedBytes: Int { uv_stream_get_write_queue_size(stream(tcp)) }

    /// False once the owner closed the socket; writes are then dropped.
    var canWrite: Bool { true }

    /// Writes what the socket takes now, queues the rest (copied: callers reuse their buffers).
    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard canWrite, bytes.count > 0 else { return }
        var written = 0
        if writesInFlight == 0 {
            var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)),
                                  UInt32(bytes.count))
            let result = uv_try_write(stream(tcp), &buf, 1)
            if result >= 0 {
                written = Int(result)
            } else if result != UV_EAGAIN.rawValue {
                writeFailed()
                return
            }
            if written == bytes.count { return }
        }
        let remaining = bytes.count - written
        let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
        let copy = UnsafeMutableRawPointer.allocate(byteCount: remaining, alignment: 1)
        copy.copyMemory(from: bytes.baseAddress! + written, byteCount: remaining)
        request.pointee.data = copy
        var buf = uv_buf_init(copy.assumingMemoryBound(to: CChar.self), UInt32(remaining))
        writesInFlight += 1
        let status = uv_write(request, stream(tcp), &buf, 1) { request, status in
            let owner = Unmanaged<StreamConnection>.fromOpaque(request!.pointee.handle.pointee.data).takeUnretainedValue()
            request!.pointee.data.deallocate()
            request!.deallocate()
            owner.writesInFlight -= 1
            owner.writeFinished(status: status)
        }
        if status != 0 {
            writesInFlight -= 1
            copy.deallocate()
            request.deallocate()
            writeFailed()
        }
    }

    /// A queued write completed (status 0) or failed (cancelled on close, reset...).
    func writeFinished(status: Int32) {}

    /// The socket refused a write: the owner closes.
    func writeFailed() {}
}
