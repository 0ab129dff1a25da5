import Foundation
import Interview
import JSON
import Stores
import Transport

/// What one connection may type into a terminal: at most `messagesPerSecond` messages and
/// `bytesPerSecond` bytes in any one-second window (the window restarts each second).
struct TerminalBudget {
    static let maxMessageBytes = 4_096
    static let messagesPerSecond = 100
    static let bytesPerSecond = 16_384
    var windowStart: UInt64 = 0
    var messages = 0
    var bytes = 0
    /// When this connection last told the room it was typing (run-typing, at most once a second).
    var typingAnnouncedAt: UInt64 = 0

    mutating func take(_ count: Int, now: UInt64) -> Bool {
        if now >= windowStart + 1_000 { windowStart = now; messages = 0; bytes = 0 }
        guard messages < Self.messagesPerSecond, bytes + count <= Self.bytesPerSecond else { return false }
        messages += 1
        bytes += count
        return true
    }
}

/// The WebSocket messages of a session's shared terminal (docs/protocol.md#terminal): run-input,
/// run-resize, run-signal and run-open, each checked here (shape, size, rate) and then by the
/// terminal_input script (the run is live and interactive, the typist may type), and appended to
/// the run's Redis stream, which the runner holding the run reads in order.
extension Client {
    /// Who is typing: `run-typing` {run_id, user_id, name} to the whole room (this connection
    /// too), at most once a second per connection, on the session's channel.
    private func announceTyping(run: String, participant: Participant) {
        let now = collaboration.loop.now
        guard terminalBudget.typingAnnouncedAt == 0 || now >= terminalBudget.typingAnnouncedAt + 1_000 else { return }
        terminalBudget.typingAnnouncedAt = now
        let frame: JSON = ["type": "run-typing",
                           "data": ["run_id": .string(run), "user_id": .string(participant.id), "name": .string(participant.name)],
                           "timestamp": .integer(Int(EventLoop.unixMillis()))]
        let payload = ChannelMessage(exclude: "", revision: 0, frame: frame.bytes).payload
        collaboration.redis.send(bytes: [Array("SPUBLISH".utf8), Array(Sessions.channel(sessionID).utf8), payload]) { _ in }
    }

    /// `run-open` {run_id, open, user_id, name} to the whole room (this connection too), so every
    /// page knows who may type now.
    private func announceOpen(run: String, open: Bool, participant: Participant) {
        let frame: JSON = ["type": "run-open",
                           "data": ["run_id": .string(run), "open": .bool(open), "user_id": .string(participant.id), "name": .string(participant.name)],
                           "timestamp": .integer(Int(EventLoop.unixMillis()))]
        let payload = ChannelMessage(exclude: "", revision: 0, frame: frame.bytes).payload
        collaboration.redis.send(bytes: [Array("SPUBLISH".utf8), Array(Sessions.channel(sessionID).utf8), payload]) { _ in }
    }

    func terminalMessage(_ type: String, _ data: JSON, participant: Participant) {
        guard let run = data["run_id"]?.stringValue, !run.isEmpty, run.utf8.count <= 64 else {
            return sendError("invalid", "\(type) needs run_id: the id of the session's interactive run (execution-started's job_id)", about: type)
        }
        let kind: String
        let payload: String
        var size = 0
        switch type {
        case "run-input":
            if let text = data["data"]?.stringValue {
                kind = "d"
                payload = text
                size = text.utf8.count
            } else if let encoded = data["data_base64"]?.stringValue {
                guard let bytes = Data(base64Encoded: encoded) else {
                    return sendError("invalid", "run-input's data_base64 is not valid base64", about: type)
                }
                kind = "b"
                payload = encoded
                size = bytes.count
            } else {
                return sendError("invalid", "run-input needs data (text) or data_base64 (bytes)", about: type)
            }
            guard size > 0 else { return sendError("invalid", "run-input's data is empty", about: type) }
            guard size <= TerminalBudget.maxMessageBytes else {
                return sendError("input_too_large", "run-input carries at most \(TerminalBudget.maxMessageBytes) bytes; this one has \(size): send it in pieces",
                                 about: type)
            }
        case "run-resize":
            guard let cols = data["cols"]?.intValue, let rows = data["rows"]?.intValue, (1...1000).contains(cols), (1...1000).contains(rows) else {
                return sendError("invalid", "run-resize needs cols and rows, whole numbers from 1 to 1000", about: type)
            }
            kind = "w"
            payload = "\(cols) \(rows)"
        case "run-signal":
            switch data["signal"]?.stringValue {
            case "interrupt": payload = "\u{03}"
            case "eof": payload = "\u{04}"
            default: return sendError("invalid", "run-signal's signal is \"interrupt\" (Ctrl-C) or \"eof\" (Ctrl-D)", about: type)
            }
            kind = "d"
            size = 1
        default: // run-open
            guard let open = data["open"]?.boolValue else {
                return sendError("invalid", "run-open needs open: true (anyone in the room may type) or false (only who started the run)", about: type)
            }
            kind = "o"
            payload = open ? "1" : "0"
        }
        guard terminalBudget.take(size, now: collaboration.loop.now) else {
            return sendError("rate_limited", "too much terminal input (at most \(TerminalBudget.messagesPerSecond) messages and \(TerminalBudget.bytesPerSecond) bytes a second); slow down",
                             about: type)
        }
        Terminals(redis: collaboration.redis).input(sessionID: sessionID, run: run, user: participant.id,
                                                   interviewer: participant.role == .interviewer, kind: kind, payload: payload) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success:
                if kind == "o" { self.announceOpen(run: run, open: payload == "1", participant: participant) }
                if kind == "d" || kind == "b" { self.announceTyping(run: run, participant: participant) }
            case .failure(.runFinished):
                self.sendError("run_finished", "run \(run) has ended (or the session has no interactive run)", about: type)
            case .failure(.runNotInteractive):
                self.sendError("run_not_interactive", "run \(run) is not the session's live interactive run", about: type)
            case .failure(.notAllowed):
                self.sendError("not_allowed_to_type", kind == "o"
                               ? "only an interviewer or who started the run may open its terminal to everyone"
                               : "only who started run \(run) may type into it, unless an interviewer opens it to everyone (run-open)", about: type)
            case .failure(let other):
                self.sendError("unavailable", "the terminal could not take the input right now (\(other)); retry", about: type)
            }
        }
    }
}
