import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// The process's one libuv loop. Everything (sockets, Redis, timers, signals, children) runs on it,
/// so nothing here is thread-safe and nothing needs to be.
public final class EventLoop {
    public let raw: UnsafeMutablePointer<uv_loop_t>

    public init() {
        raw = uv_default_loop()
        // A peer that resets mid-write must become an error code, not a fatal signal.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Runs until no handle is left active.
    public func run() {
        uv_run(raw, UV_RUN_DEFAULT)
    }

    /// Milliseconds of the loop's cached clock (monotonic).
    public var now: UInt64 { uv_now(raw) }

    /// Wall-clock Unix milliseconds.
    public static func unixMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Monotonic nanoseconds, for measuring durations.
    public static func hrtime() -> UInt64 { uv_hrtime() }
}

/// Describes a libuv status code for logs and problem details.
public func uvErrorDescription(_ code: Int32) -> String {
    guard let name = uv_err_name(code), let text = uv_strerror(code) else { return "libuv error \(code)" }
    return "\(String(cString: name)): \(String(cString: text))"
}

/// A libuv timer owned by one Swift object. The handle lives until its close callback, and the
/// owner keeps itself alive (retained into `handle.data`) until then: call `close()` when done.
public final class LoopTimer {
    private let handle: UnsafeMutablePointer<uv_timer_t>
    private var callback: (() -> Void)?
    private var closed = false

    public init(loop: EventLoop) {
        handle = .allocate(capacity: 1)
        uv_timer_init(loop.raw, handle)
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Fires `callback` after `milliseconds`, then every `repeat` milliseconds when non-zero.
    public func start(after milliseconds: UInt64, repeat: UInt64 = 0, _ callback: @escaping () -> Void) {
        guard !closed else { return }
        self.callback = callback
        uv_timer_start(handle, { raw in
            let timer = Unmanaged<LoopTimer>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
            timer.callback?()
        }, milliseconds, `repeat`)
    }

    public func stop() {
        guard !closed else { return }
        uv_timer_stop(handle)
    }

    /// Keeps the loop from staying alive for this timer alone.
    public func unref() {
        uv_unref(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self))
    }

    public func close() {
        guard !closed else { return }
        closed = true
        callback = nil
        uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { raw in
            let timer = raw!.pointee.data!
            raw!.deallocate()
            Unmanaged<LoopTimer>.fromOpaque(timer).release()
        }
    }
}

/// Watches POSIX signals on the loop (SIGTERM, SIGINT, ...). Same lifetime rule as `LoopTimer`.
public final class SignalWatcher {
    private var handles: [UnsafeMutablePointer<uv_signal_t>] = []
    private let callback: (Int32) -> Void
    private var closed = false

    public init(loop: EventLoop, signals: [Int32], _ callback: @escaping (Int32) -> Void) {
        self.callback = callback
        for signum in signals {
            let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
            uv_signal_init(loop.raw, handle)
            handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
            uv_signal_start(handle, { raw, signum in
                let watcher = Unmanaged<SignalWatcher>.fromOpaque(raw!.pointee.data).takeUnretainedValue()
                watcher.callback(signum)
            }, signum)
            handles.append(handle)
        }
    }

    public func close() {
        guard !closed else { return }
        closed = true
        for handle in handles {
            uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { raw in
                let watcher = raw!.pointee.data!
                raw!.deallocate()
                Unmanaged<SignalWatcher>.fromOpaque(watcher).release()
            }
        }
        handles.removeAll()
    }
}
