import CLibUV

/// The one way this codebase holds a libuv handle (libuv's rule: a handle's memory lives until
/// its close callback, and it is closed once):
/// - `init` allocates the handle and runs its libuv init; a failed init frees it at once;
/// - while open, the handle's `data` points at this object, which keeps itself and its `owner`
///   alive, so a callback that arrives late (a cancelled write, a timer) still finds both;
/// - `close()` is idempotent and the only `uv_close`; the close callback frees the memory, runs
///   the optional completion and releases the owner.
/// Callbacks are non-capturing functions that find the owner with `LoopHandle.owner(of:as:)`.
public final class LoopHandle {
    public let raw: UnsafeMutableRawPointer
    /// Strong while the handle is open or closing: cleared in the close callback.
    public private(set) var owner: AnyObject?
    public private(set) var isClosed = false
    private var onClosed: (() -> Void)?

    /// Allocates a `Handle` and runs `initialize` on it (`uv_tcp_init`, `uv_timer_init`, ...).
    /// Nil when that fails (nothing to close then).
    public init?<Handle>(_ type: Handle.Type, owner: AnyObject, _ initialize: (UnsafeMutablePointer<Handle>) -> Int32) {
        let pointer = UnsafeMutablePointer<Handle>.allocate(capacity: 1)
        raw = UnsafeMutableRawPointer(pointer)
        guard initialize(pointer) == 0 else {
            pointer.deallocate()
            return nil
        }
        self.owner = owner
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    public var handle: UnsafeMutablePointer<uv_handle_t> { raw.assumingMemoryBound(to: uv_handle_t.self) }
    public var stream: UnsafeMutablePointer<uv_stream_t> { raw.assumingMemoryBound(to: uv_stream_t.self) }
    public func pointer<Handle>(_ type: Handle.Type) -> UnsafeMutablePointer<Handle> { raw.assumingMemoryBound(to: type) }

    /// Hands the handle to another owner (an HTTP connection's socket to its WebSocket).
    public func transfer(to newOwner: AnyObject) {
        guard !isClosed else { return }
        owner = newOwner
    }

    /// The owner of the handle whose `data` this is (from inside a libuv callback).
    @inline(__always)
    public static func owner<Owner: AnyObject>(of data: UnsafeMutableRawPointer?, as type: Owner.Type) -> Owner {
        unsafeDowncast(Unmanaged<LoopHandle>.fromOpaque(data!).takeUnretainedValue().owner!, to: type)
    }

    /// Keeps the loop from staying alive for this handle alone.
    public func unref() {
        guard !isClosed else { return }
        uv_unref(handle)
    }

    /// Closes the handle once; later calls do nothing. `completion` runs from the close callback,
    /// after every cancelled request of the handle has run its own callback.
    public func close(_ completion: (() -> Void)? = nil) {
        guard !isClosed else { return }
        isClosed = true
        onClosed = completion
        uv_close(handle, loopHandleClosed)
    }

    fileprivate func closed() {
        raw.deallocate()
        let completion = onClosed
        onClosed = nil
        completion?()
        owner = nil
    }
}

private let loopHandleClosed: uv_close_cb = { raw in
    Unmanaged<LoopHandle>.fromOpaque(raw!.pointee.data).takeRetainedValue().closed()
}
