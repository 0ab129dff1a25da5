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

/// A libuv timer owned by one Swift object (through `LoopHandle`): call `close()` when done; a
/// timer that fires after close does nothing.
public final class LoopTimer {
    private var timer: LoopHandle!
    private var callback: (() -> Void)?

    public init(loop: EventLoop) {
        timer = LoopHandle(uv_timer_t.self, owner: self) { uv_timer_init(loop.raw, $0) }
    }

    /// Fires `callback` after `milliseconds`, then every `repeat` milliseconds when non-zero.
    public func start(after milliseconds: UInt64, repeat: UInt64 = 0, _ callback: @escaping () -> Void) {
        guard !timer.isClosed else { return }
        self.callback = callback
        uv_timer_start(timer.pointer(uv_timer_t.self), { raw in
            LoopHandle.owner(of: raw!.pointee.data, as: LoopTimer.self).callback?()
        }, milliseconds, `repeat`)
    }

    public func stop() {
        guard !timer.isClosed else { return }
        uv_timer_stop(timer.pointer(uv_timer_t.self))
    }

    /// Keeps the loop from staying alive for this timer alone.
    public func unref() { timer.unref() }

    public func close() {
        callback = nil
        timer.close()
    }
}

/// Watches POSIX signals on the loop (SIGTERM, SIGINT, ...). Same lifetime rule as `LoopTimer`.
public final class SignalWatcher {
    private var handles: [LoopHandle] = []
    private let callback: (Int32) -> Void

    public init(loop: EventLoop, signals: [Int32], _ callback: @escaping (Int32) -> Void) {
        self.callback = callback
        for signum in signals {
            guard let watch = LoopHandle(uv_signal_t.self, owner: self, { uv_signal_init(loop.raw, $0) }) else { continue }
            uv_signal_start(watch.pointer(uv_signal_t.self), { raw, signum in
                LoopHandle.owner(of: raw!.pointee.data, as: SignalWatcher.self).callback(signum)
            }, signum)
            handles.append(watch)
        }
    }

    public func close() {
        for watch in handles { watch.close() }
        handles.removeAll()
    }
}
