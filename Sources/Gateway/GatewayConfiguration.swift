import Webhooks
import Interview
import Postgres
import Stores
import Redis
import Transport

/// Everything a gateway process can be told; `codeinterview gateway --help` documents each field.
public struct GatewayConfiguration: Sendable {
    public var http = HTTPServerConfiguration()
    public var redis = RedisAddress.single(host: "127.0.0.1", port: 6379)
    public var nodeID = "gateway"
    /// Base of `join_url` (e.g. https://interview.example.com); empty: taken from the Host header.
    public var publicURL = ""
    /// Origins allowed by CORS; "*" allows any.
    public var corsOrigins: [String] = []
    public var sessions = SessionSettings()
    public var protection = ProtectionSettings()
    /// Code execution: limits (defaults and maxima), queue bound, how long POST /execute waits.
    public var executions = ExecutionSettings()
    /// The question library's cap.
    public var library = LibrarySettings()
    public var version = "0.1.0"
    /// The web client's folder (index.html, app.js, ...); empty: the repository's web/, found by
    /// walking up from the executable's folder.
    public var webRoot = ""
    /// Where Debian's libjs-codemirror installs CodeMirror 5, served under /vendor/codemirror/.
    public var codeMirrorRoot = "/usr/share/javascript/codemirror"
    /// Where Debian's node-xterm installs xterm.js 3.8's CommonJS modules: bundled once into one
    /// browser script served as /vendor/xterm/xterm.js (the terminal pane).
    public var xtermRoot = "/usr/share/nodejs/xterm/lib"
    /// Where Debian's libjs-xterm installs xterm.css, served as /vendor/xterm/xterm.css.
    public var xtermStyleRoot = "/usr/share/javascript/xterm"
    /// The interview archive (PostgreSQL), where finished interviews are read (and erased);
    /// nil: the /interviews routes answer 503.
    public var postgres: PostgresConfiguration?
    /// Webhook bounds and schedule (docs/webhooks.md); `webhookAllowPrivate` turns the SSRF rule
    /// off at registration (`--webhook-allow-private`).
    public var webhooks = WebhookSettings()
    public var webhookAllowPrivate = false
    /// The webhook delivery worker this gateway hosts as well as the archivers (off: `--no-webhooks`).
    public var webhookWorker = WebhookWorkerConfiguration()

    public init() {}
}
