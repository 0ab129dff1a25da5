import CLibUV
import Foundation
import Logging
import Transport

/// Runs this thread's libuv loop until a condition holds: how the Swift suites drive the clients
/// (Redis, PostgreSQL) that live on a loop. A tick timer keeps `UV_RUN_ONCE` returning, so a
/// condition set by something other than a callback is seen too.
public final class LoopPump {
    public let loop = EventLoop()
    public let logger: Logger
    private let tick: LoopTimer

    /// `label` names the test's logger; it logs at debug when the environment has `logVariable`,
    /// else only critical lines.
    public init(label: String, logVariable: String) {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment[logVariable] == nil ? .critical : .debug
        self.logger = logger
        tick = LoopTimer(loop: loop)
        tick.start(after: 5, repeat: 5) {}
    }

    deinit { tick.close() }

    @discardableResult
    public func until(_ timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() >= deadline { return false }
            uv_run(loop.raw, UV_RUN_ONCE)
        }
        return true
    }

    /// Starts an asynchronous call and runs the loop until it completes (nil on timeout).
    public func wait<T>(_ timeout: TimeInterval, _ start: (@escaping (T) -> Void) -> Void) -> T? {
        var result: T?
        start { result = $0 }
        until(timeout) { result != nil }
        return result
    }
}
