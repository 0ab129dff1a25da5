import Redis

/// The scripts of a session's shared terminal (Lua/terminal_*.lua): standalone, on the session's
/// slot (KEYS SessionKeys.terminal and .terminalInput).
public enum TerminalScripts {
    public static let open = RedisScripts.script("terminal_open", PackageResources.terminal_open_lua)
    public static let input = RedisScripts.script("terminal_input", PackageResources.terminal_input_lua)
    public static let renew = RedisScripts.script("terminal_renew", PackageResources.terminal_renew_lua)
    public static let record = RedisScripts.script("terminal_record", PackageResources.terminal_record_lua)
    public static let all = [open, input, renew, record]
}

/// Why a terminal call was refused.
public enum TerminalRefusal: Error, Sendable, Equatable {
    /// open: the session has a live interactive run already (its job id).
    case busy(String)
    case runFinished, runNotInteractive, notAllowed
    case redis(String)
}

/// A session's live interactive run (`ci:{id}:terminal`: job, starter, open) and its input stream
/// (`ci:{id}:terminal-input`, capped with MAXLEN, expiring): at most one per session. Gateways
/// open it and append what the room types; the runner holding the run reads the stream
/// (XREAD BLOCK, a connection of its own), renews both keys and deletes them when the run ends.
public struct Terminals {
    public let redis: RedisConnection
    /// Entries kept in the stream (an input the runner has not read yet is never older than this).
    public static let streamMaxLength = 1_000
    /// Until a runner starts the run and renews it: how long a queued interactive run holds the session's terminal.
    public static let queuedTTLMillis = 120_000
    /// What a runner renews to, each time its read returns (at least every second).
    public static let liveTTLMillis = 15_000
    /// The terminal log (SessionKeys.terminalLog, the session's timeline and record): at most this
    /// many bytes of input and of output per run, ...
    public static let logBytesPerRun = 65_536
    /// ... and this many in all per session; past either a `terminal-truncated` entry says so.
    public static let logBytesPerSession = 524_288

    public init(redis: RedisConnection) { self.redis = redis }

    public static func keys(_ sessionID: String) -> [String] {
        let keys = SessionKeys(sessionID)
        return [keys.terminal, keys.terminalInput, keys.session, keys.terminalLog]
    }

    private static func refusal(_ error: RedisError) -> TerminalRefusal {
        let text = error.message
        if text.hasPrefix("BUSY ") { return .busy(String(text.dropFirst(5).prefix { $0.isLetter || $0.isNumber || $0 == "_" })) }
        if text.contains("RUN_FINISHED") { return .runFinished }
        if text.contains("RUN_NOT_INTERACTIVE") { return .runNotInteractive }
        if text.contains("NOT_ALLOWED") { return .notAllowed }
        return .redis(text)
    }

    public func open(sessionID: String, job: String, user: String, _ completion: @escaping (Result<Void, TerminalRefusal>) -> Void) {
        redis.run(TerminalScripts.open, keys: Self.keys(sessionID), arguments: [job, user, String(Self.queuedTTLMillis)]) { result in
            completion(result.map { _ in () }.mapError(Self.refusal))
        }
    }

    /// Appends one input entry (kind 'd' text, 'b' base64 bytes, 'w' "cols rows") or sets who may
    /// type (kind 'o', payload "1" or "0").
    public func input(sessionID: String, run: String, user: String, interviewer: Bool, kind: String, payload: String,
                      _ completion: @escaping (Result<Void, TerminalRefusal>) -> Void) {
        let arguments = [run, user, interviewer ? "1" : "0", kind, payload, String(Self.streamMaxLength), String(Self.liveTTLMillis),
                         String(Self.logBytesPerRun), String(Self.logBytesPerSession)]
        redis.run(TerminalScripts.input, keys: Self.keys(sessionID), arguments: arguments) { result in
            completion(result.map { _ in () }.mapError(Self.refusal))
        }
    }

    /// Renews the run's keys (or deletes them, `ending`): false when it is not the live run any more.
    public func renew(sessionID: String, job: String, ending: Bool, _ completion: @escaping (Bool) -> Void) {
        redis.run(TerminalScripts.renew, keys: Self.keys(sessionID), arguments: [job, String(Self.liveTTLMillis), ending ? "1" : "0"]) { result in
            completion((try? result.get())?.integer == 1)
        }
    }

    /// The runner's output of the live interactive run `job` into the terminal log (written at
    /// `at`, ms): false when it was not logged (a cap, or not the live run any more).
    public func record(sessionID: String, job: String, chunk: String, at: Int64, _ completion: @escaping (Bool) -> Void) {
        redis.run(TerminalScripts.record, keys: Self.keys(sessionID),
                  arguments: [job, chunk, String(at), String(Self.logBytesPerRun), String(Self.logBytesPerSession)]) { result in
            completion((try? result.get())?.integer == 1)
        }
    }
}
