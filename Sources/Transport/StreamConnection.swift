import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// Bytes accepted for one socket and not yet taken by the kernel. One `uv_write` at a time; what
/// comes meanwhile is appended to one buffer that becomes the next write. So a queue of many
/// small frames (pongs) costs about its bytes, not an allocation and a request per frame, and
/// the bound on it bounds the memory. It moves with the socket from an HTTPConnection to its
/// WebSocketConnection.
///
/// An idle WebSocket holds nothing here: the write request and both buffers are made when
/// something has to wait (most writes are taken whole by `uv_try_write` and never get here), and
/// given back by the connection's once-a-second tick when the queue is empty
/// (`releaseIdleSendQueue`); a busy socket reuses them from write to write meanwhile (given back at
/// every empty queue, a room of 1,000 at full speed allocated and freed them per write).
final class SendQueue {
    /// The write request: allocated when the first write starts; freed only while no write is in
    /// progress (libuv runs a write's callback, with UV_ECANCELED if the socket closed meanwhile,
    /// before the close callback): by the idle tick, after a failed write, or with the queue.
    fileprivate var request: UnsafeMutablePointer<uv_write_t>?
    fileprivate var writing = ByteBuffer()
    fileprivate var waiting = ByteBuffer()
    fileprivate(set) var isWriting = false

    var count: Int { writing.count + waiting.count }

    /// Gives back the request and both buffers; only while no write is in progress (its
    /// callback ran, or it never started).
    fileprivate func release() {
        request?.deallocate()
        request = nil
        isWriting = false
        writing.release()
        waiting.release()
    }

    deinit { release() }
}

/// A malloc'ed byte buffer (no copy-on-write, a stable address while a write uses it).
fileprivate struct ByteBuffer {
    var base: UnsafeMutableRawPointer?
    var count = 0
    var capacity = 0

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if count + bytes.count > capacity {
            let grown = max(count + bytes.count, capacity * 2, 4096)
            guard let bigger = realloc(base, grown) else { fatalError("out of memory") }
            base = bigger
            capacity = grown
        }
        (base! + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    mutating func release() {
        free(base)
        base = nil
        count = 0
        capacity = 0
    }
}

/// Owns one TCP socket (a `LoopHandle`, whose owner is the current connection object: an
/// HTTPConnection, then the WebSocketConnection it upgrades to) and writes to it.
///
/// `write` is the one write path of every byte a connection sends (responses, frames, pongs,
/// close frames), so the send-queue bound is checked here and nowhere else, as Redis checks its
/// output buffer limit where it appends a reply (`networking.c`).
public class StreamConnection {
    let socket: LoopHandle
    let sendQueue: SendQueue
    /// Bytes this connection may have waiting to be sent; a write that would queue more is
    /// refused and `sendQueueOverflowed()` runs instead (the owner closes: the peer reads nothing).
    var sendQueueLimit = Int.max

    init(socket: LoopHandle, sendQueue: SendQueue = SendQueue()) {
        self.socket = socket
        self.sendQueue = sendQueue
    }

    var tcp: UnsafeMutablePointer<uv_tcp_t> { socket.pointer(uv_tcp_t.self) }

    /// Bytes accepted but not yet taken by the kernel (the send queue).
    var queuedBytes: Int { sendQueue.count }

    /// True while a write is in progress (something is queued).
    var isWriting: Bool { sendQueue.isWriting }

    /// False once the owner closed the socket (or handed it over); writes are then dropped.
    var canWrite: Bool { true }

    /// Writes what the socket takes now, queues the rest (copied: callers reuse their buffers).
    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard canWrite, !socket.isClosed, bytes.count > 0 else { return }
        var written = 0
        if !sendQueue.isWriting {
            var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)),
                                  UInt32(bytes.count))
            let result = uv_try_write(socket.stream, &buf, 1)
            if result >= 0 {
                written = Int(result)
            } else if result != UV_EAGAIN.rawValue {
                return writeFailed()
            }
            if written == bytes.count { return }
        }
        let remaining = bytes.count - written
        if remaining > sendQueueLimit - sendQueue.count { return sendQueueOverflowed() }
        sendQueue.waiting.append(UnsafeRawBufferPointer(rebasing: bytes[written...]))
        if !sendQueue.isWriting { startWrite() }
    }

    /// Hands everything waiting to libuv as one write (reusing the request and the buffer of the
    /// write before it while a slow reader keeps the queue busy).
    private func startWrite() {
        swap(&sendQueue.writing, &sendQueue.waiting)
        var buf = uv_buf_init(sendQueue.writing.base!.assumingMemoryBound(to: CChar.self), UInt32(sendQueue.writing.count))
        if sendQueue.request == nil { sendQueue.request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1) }
        sendQueue.isWriting = true
        let status = uv_write(sendQueue.request!, socket.stream, &buf, 1) { request, status in
            // Runs once per write, with UV_ECANCELED when the socket closed meanwhile (before the
            // close callback, so the owner is still there).
            LoopHandle.owner(of: request!.pointee.handle.pointee.data, as: StreamConnection.self).writeCompleted(status)
        }
        if status != 0 {
            // Never started: no callback will come for it.
            sendQueue.release()
            writeFailed()
        }
    }

    private func writeCompleted(_ status: Int32) {
        sendQueue.isWriting = false
        // The kernel has those bytes: the buffer is free, kept for the next write (a large one
        // is given back at once).
        sendQueue.writing.count = 0
        if sendQueue.writing.capacity > 64 * 1024 { sendQueue.writing.release() }
        if status == 0 && sendQueue.waiting.count > 0 && !socket.isClosed {
            startWrite()
        } else if status != 0 || socket.isClosed {
            // Nothing more will be written.
            sendQueue.release()
        }
        writeFinished(status: status)
    }

    /// Gives back the send queue's request and buffers when nothing waits or is being written.
    /// The WebSocket's once-a-second tick calls it: an idle connection then holds none of them.
    func releaseIdleSendQueue() {
        if !sendQueue.isWriting && sendQueue.count == 0 { sendQueue.release() }
    }

    /// A write completed (status 0; `isWriting` tells whether more is queued) or failed
    /// (cancelled on close, reset...).
    func writeFinished(status: Int32) {}

    /// The socket refused a write: the owner closes.
    func writeFailed() {}

    /// A write would have grown the send queue past `sendQueueLimit`: the owner closes.
    func sendQueueOverflowed() {}
}
