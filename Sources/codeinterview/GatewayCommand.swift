import ArgumentParser
import Gateway

struct GatewayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve the HTTP API (and WebSocket) on one event loop; all state lives in Redis.",
        discussion: "Run one gateway per core; with --reuse-port (the default) they can share one port. SIGTERM or SIGINT stops it gracefully: no new connections, requests in flight finish, then it exits 0.")

    @OptionGroup var common: CommonOptions
    @OptionGroup(title: "Code execution") var execution: GatewayExecutionOptions
    @OptionGroup(title: "Protection") var protection: GatewayProtectionOptions
    @OptionGroup(title: "Interview archive") var archive: PostgresOptions

    @Option(help: "Address to listen on.")
    var host: String = environment("HOST") ?? "0.0.0.0"

    @Option(help: "TCP port to listen on.")
    var port: Int = environment("PORT", 8080)

    @Flag(inversion: .prefixedNo, help: "Set SO_REUSEPORT so several gateways on this machine share the port.")
    var reusePort: Bool = environment("REUSE_PORT", true)

    @Option(help: "Base URL of join links, e.g. https://interview.example.com (default: from the request's Host header).")
    var publicURL: String = environment("PUBLIC_URL") ?? ""

    @Option(help: "Comma-separated origins allowed by CORS; '*' allows any; empty allows none.")
    var corsOrigins: String = environment("CORS_ORIGINS") ?? ""

    @Option(help: "Seconds a session lives after it is created.")
    var sessionTTL: Int = environment("SESSION_TTL", 86_400)

    @Option(help: "Participants a session allows when its creator does not say.")
    var maxParticipants: Int = environment("MAX_PARTICIPANTS", 10)

    @Option(help: "The most participants a creator may ask for.")
    var maxParticipantsLimit: Int = environment("MAX_PARTICIPANTS_LIMIT", 50)

    @Option(help: "Largest request header block, in bytes (431 above).")
    var maxHeaderBytes: Int = environment("MAX_HEADER_BYTES", 16_384)

    @Option(help: "Longest request target, in bytes (414 above).")
    var maxURLBytes: Int = environment("MAX_URL_BYTES", 8_192)

    @Option(help: "Largest request body, in bytes (413 above).")
    var maxBodyBytes: Int = environment("MAX_BODY_BYTES", 1_048_576)

    @Option(help: "Largest document (session code), in bytes (413 above).")
    var maxCodeBytes: Int = environment("MAX_CODE_BYTES", 262_144)

    @Option(help: "Largest interviewers' notes (the session's private second document), in bytes (413 above).")
    var maxNotesBytes: Int = environment("MAX_NOTES_BYTES", 65_536)

    @Option(help: "Seconds a client has to send a request's headers (408 after).")
    var headerTimeout: Double = environment("HEADER_TIMEOUT", 10)

    @Option(help: "Seconds an idle keep-alive connection (or a stalled body) stays open.")
    var idleTimeout: Double = environment("IDLE_TIMEOUT", 60)

    @Option(help: "Events kept in a session's history.")
    var historyLimit: Int = environment("HISTORY_LIMIT", 200)

    @Option(help: "Seconds a graceful stop waits for requests in flight.")
    var shutdownGrace: Double = environment("SHUTDOWN_GRACE", 10)

    @Option(help: "Largest WebSocket message in bytes, after reassembly (close 1009 above).")
    var wsMaxMessageBytes: Int = environment("WS_MAX_MESSAGE_BYTES", 1_048_576)

    @Option(help: "Bytes a WebSocket client may leave unread before it is closed as too slow (1008).")
    var wsMaxQueueBytes: Int = environment("WS_MAX_QUEUE_BYTES", 4_194_304)

    @Option(help: "Pings a WebSocket client may send per second (each costs a pong); close 1008 above.")
    var wsMaxPingsPerSecond: Int = environment("WS_MAX_PINGS_PER_SECOND", 50)

    @Option(help: "Seconds between server pings on a WebSocket.")
    var wsPingInterval: Double = environment("WS_PING_INTERVAL", 20)

    @Option(help: "Seconds of silence after which a WebSocket peer is considered dead.")
    var wsDeadPeerTimeout: Double = environment("WS_DEAD_PEER_TIMEOUT", 60)

    @Option(help: "WebSocket connections one session may have across all gateways.")
    var maxSessionConnections: Int = environment("MAX_SESSION_CONNECTIONS", 100)

    @Option(help: "Most committed operations a rejoining client (or a stale operation) catches up over; further behind, it reloads the document.")
    var opLogLimit: Int = environment("OP_LOG_LIMIT", 1000)

    @Option(help: "Bytes of op log kept per session (its history, for catch-up and playback); beyond, the oldest operations are folded into a checkpoint.")
    var opLogBytes: Int = environment("OP_LOG_BYTES", 8 << 20)

    @Option(help: "A new document snapshot after this many operations since the last one (at least one per KiB of text).")
    var snapshotEvery: Int = environment("SNAPSHOT_EVERY", 50)

    @Option(help: "Most questions the question library holds (adding one more answers 409).")
    var maxLibraryQuestions: Int = environment("MAX_LIBRARY_QUESTIONS", 10_000)

    @Option(help: "Folder of the web client served at / (default: the repository's web/, found walking up from the executable).")
    var webRoot: String = environment("WEB_ROOT") ?? ""

    @Option(help: "Folder of CodeMirror 5 (Debian's libjs-codemirror), served under /vendor/codemirror/.")
    var codemirrorRoot: String = environment("CODEMIRROR_ROOT") ?? "/usr/share/javascript/codemirror"

    @Option(help: "Folder of xterm.js 3.8's CommonJS modules (Debian's node-xterm), bundled into /vendor/xterm/xterm.js.")
    var xtermRoot: String = environment("XTERM_ROOT") ?? "/usr/share/nodejs/xterm/lib"

    @Option(help: "Folder of xterm.css (Debian's libjs-xterm), served as /vendor/xterm/xterm.css.")
    var xtermStyleRoot: String = environment("XTERM_STYLE_ROOT") ?? "/usr/share/javascript/xterm"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard maxParticipantsLimit >= 1, maxParticipantsLimit <= 50 else { throw ValidationError("--max-participants-limit must be 1...50") }
        guard (1...maxParticipantsLimit).contains(maxParticipants) else {
            throw ValidationError("--max-participants must be between 1 and --max-participants-limit")
        }
        guard sessionTTL > 0, historyLimit > 0, maxHeaderBytes >= 1024, maxURLBytes >= 64, maxBodyBytes >= 1024, maxCodeBytes >= 1,
              maxNotesBytes >= 1 else {
            throw ValidationError("sizes, --session-ttl and --history-limit must be positive (header limit at least 1024, URL at least 64, body at least 1024)")
        }
        guard headerTimeout > 0, idleTimeout > 0, shutdownGrace >= 0, wsPingInterval > 0, wsDeadPeerTimeout > 0 else {
            throw ValidationError("timeouts must be positive")
        }
        guard wsMaxMessageBytes >= 1024, wsMaxQueueBytes >= 1024, wsMaxPingsPerSecond >= 1, maxSessionConnections >= 1,
              opLogLimit >= 1, opLogBytes >= 4096, snapshotEvery >= 1 else {
            throw ValidationError("WebSocket limits must be at least 1024 bytes; pings, connection and op log limits at least 1 (--op-log-bytes at least 4096)")
        }
        guard maxLibraryQuestions >= 1 else { throw ValidationError("--max-library-questions must be at least 1") }
        guard common.nodeID.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }), !common.nodeID.isEmpty else {
            throw ValidationError("--node-id may contain only letters, digits, '.', '_' and '-'")
        }
    }

    @OptionGroup var webhookOptions: WebhookOptions

    @OptionGroup var webhookWorker: WebhookWorkerOptions

    func run() throws {
        var configuration = GatewayConfiguration()
        configuration.http.host = host
        configuration.http.port = port
        configuration.http.reusePort = reusePort
        configuration.http.maxHeaderBytes = maxHeaderBytes
        configuration.http.maxURLBytes = maxURLBytes
        configuration.http.maxBodyBytes = maxBodyBytes
        configuration.http.headerTimeoutMillis = UInt64(headerTimeout * 1000)
        configuration.http.idleTimeoutMillis = UInt64(idleTimeout * 1000)
        configuration.http.shutdownGraceMillis = UInt64(shutdownGrace * 1000)
        configuration.http.webSocketMaxMessageBytes = wsMaxMessageBytes
        configuration.http.webSocketMaxQueueBytes = wsMaxQueueBytes
        configuration.http.webSocketMaxPingsPerSecond = wsMaxPingsPerSecond
        configuration.http.webSocketPingIntervalMillis = UInt64(wsPingInterval * 1000)
        configuration.http.webSocketDeadPeerMillis = UInt64(wsDeadPeerTimeout * 1000)
        configuration.sessions.maxConnectionsPerSession = maxSessionConnections
        configuration.sessions.opLogLimit = opLogLimit
        configuration.sessions.opLogBytes = opLogBytes
        configuration.sessions.snapshotEveryOps = snapshotEvery
        configuration.redis = try common.redisAddress()
        configuration.nodeID = common.nodeID
        configuration.publicURL = publicURL
        configuration.corsOrigins = corsOrigins.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        configuration.sessions.ttlMillis = Int64(sessionTTL) * 1000
        configuration.sessions.defaultMaxParticipants = maxParticipants
        configuration.sessions.maxParticipantsLimit = maxParticipantsLimit
        configuration.sessions.maxCodeBytes = maxCodeBytes
        configuration.sessions.maxNotesBytes = maxNotesBytes
        configuration.sessions.historyLimit = historyLimit
        configuration.library.maxQuestions = maxLibraryQuestions
        configuration.webRoot = webRoot
        configuration.codeMirrorRoot = codemirrorRoot
        configuration.xtermRoot = xtermRoot
        configuration.xtermStyleRoot = xtermStyleRoot
        configuration.executions = try execution.settings(maxCodeBytes: maxCodeBytes)
        try protection.apply(to: &configuration)
        configuration.postgres = archive.configuration
        configuration.sessions.archiveHoldMillis = archive.archiveHoldMillis
        configuration.webhooks = webhookOptions.settings
        configuration.webhookAllowPrivate = webhookOptions.webhookAllowPrivate
        configuration.webhookWorker = webhookWorker.configuration(webhookOptions)
        let logger = try common.makeLogger("codeinterview.gateway")
        let gateway = try Gateway(configuration: configuration, logger: logger)
        do {
            try gateway.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }
}
