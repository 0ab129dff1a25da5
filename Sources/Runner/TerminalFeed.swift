import Foundation
import Logging
import Redis
import Stores
import Transport

/// Feeds an interactive run's terminal from the session's input stream (Terminals): XREAD BLOCK
/// on a Redis connection of its own (a blocking read would stall the runner's other commands),
/// from the last entry it consumed, so every entry reaches the program once and in order, whichever
/// gateway appended it. After each read it renews the run's terminal keys; when the run ends the
/// runner deletes them on its main connection, ahead of the result (Runner.endTerminal).
final class TerminalFeed {
    let sessionID: String
    let jobID: String
    private weak var execution: Execution?
    private let connection: RedisConnection
    private let terminals: Terminals
    private let inputKey: String
    private let loop: EventLoop
    private var lastID = "0-0"
    private var reading = false
    private var stopped = false
    private var retry: LoopTimer?

    init(sessionID: String, jobID: String, execution: Execution, address: RedisAddress, loop: EventLoop, logger: Logger) {
        self.sessionID = sessionID
        self.jobID = jobID
        self.execution = execution
        self.loop = loop
        var logger = logger
        logger[metadataKey: "connection"] = "terminal"
        connection = makeRedisClient(loop: loop, address: address, logger: logger)
        connection.register(TerminalScripts.renew)
        terminals = Terminals(redis: connection)
        inputKey = SessionKeys(sessionID).terminalInput
    }

    func start() {
        connection.onStateChange = { [weak self] up in if up { self?.read() } }
        connection.start()
    }

    /// The run ended: the connection goes (after the read in flight, at most a second).
    func stop() {
        guard !stopped else { return }
        stopped = true
        retry?.close()
        retry = nil
        let connection = connection
        connection.close { _ = connection }
    }

    private func read() {
        guard !stopped, !reading, connection.isConnected else { return }
        reading = true
        connection.send(["XREAD", "COUNT", "100", "BLOCK", "1000", "STREAMS", inputKey, lastID]) { [weak self] result in
            guard let self else { return }
            self.reading = false
            guard !self.stopped else { return }
            switch result {
            case .success(let value):
                self.deliver(value)
                self.terminals.renew(sessionID: self.sessionID, job: self.jobID, ending: false) { _ in }
                self.read()
            case .failure:
                // Reconnecting reads again (onStateChange); a refusal is retried shortly.
                let timer = self.retry ?? LoopTimer(loop: self.loop)
                self.retry = timer
                timer.start(after: 200) { [weak self] in self?.read() }
            }
        }
    }

    /// XREAD's reply: [[key, [[id, [field, value, ...]], ...]]] (nil when the block timed out).
    private func deliver(_ value: RedisValue) {
        guard let streams = value.array else { return }
        for stream in streams {
            guard let parts = stream.array, parts.count == 2, let entries = parts[1].array else { continue }
            for entry in entries {
                guard let pair = entry.array, pair.count == 2, let id = pair[0].text, let fields = pair[1].array else { continue }
                lastID = id
                var kind = "", payload: [UInt8] = []
                for index in stride(from: 0, to: fields.count - 1, by: 2) {
                    switch fields[index].text {
                    case "k": kind = fields[index + 1].text ?? ""
                    case "p": payload = fields[index + 1].bytes ?? []
                    default: break
                    }
                }
                switch kind {
                case "d": execution?.terminalInput(UInt8(ascii: "d"), payload)
                case "b":
                    if let bytes = Data(base64Encoded: Data(payload)) { execution?.terminalInput(UInt8(ascii: "d"), Array(bytes)) }
                case "w":
                    let numbers = String(decoding: payload, as: UTF8.self).split(separator: " ").compactMap { Int($0) }
                    guard numbers.count == 2 else { continue }
                    let (cols, rows) = (UInt16(clamping: numbers[0]), UInt16(clamping: numbers[1]))
                    execution?.terminalInput(UInt8(ascii: "w"), [UInt8(cols >> 8), UInt8(cols & 0xff), UInt8(rows >> 8), UInt8(rows & 0xff)])
                default: break
                }
            }
        }
    }
}
