import Interview
// The key schema: every Redis key and channel name the code uses is built here, once. Scripts get
// them (or the prefixes they derive keys from) through KEYS and ARGV; none is written in Lua.

/// The Redis keys of one session, all hash-tagged to one slot (`ci:{id}:...`), so a session's
/// keys and its channels stay together on Redis Cluster. `session_keys` in Lua/lib.lua describes
/// each; every session script takes `all` as KEYS, in this order.
public struct SessionKeys: Sendable {
    public let id: String

    public init(_ id: String) { self.id = id }

    /// A session's key or channel is `prefix + id + suffix(name)`.
    static let prefix = "ci:{"
    static func suffix(_ name: String) -> String { "}:" + name }
    static let eventsName = "events"
    static let privateName = "private"

    private func key(_ name: String) -> String { Self.prefix + id + Self.suffix(name) }

    /// Hash: the session's scalars, the document's revision, length and byte bound.
    public var session: String { key("session") }
    public var participants: String { key("participants") }
    public var tokens: String { key("tokens") }
    public var history: String { key("history") }
    /// Why a session no longer exists; outlives it so clients get 410, not 404.
    public var gone: String { key("gone") }
    /// The previous layout's capped list of op frames (removed when a session is migrated).
    public var legacyOps: String { key("ops") }
    public var presence: String { key("presence") }
    /// List: the op log, one JSON entry per revision (LogEntry).
    public var log: String { key("log") }
    /// Hash: the latest text written, at its revision.
    public var snapshot: String { key("snapshot") }
    /// Hash: the text the log starts after, and the summary of what was folded into it.
    public var checkpoint: String { key("checkpoint") }
    /// The interviewers' private notes: a second document with its own revision and op log,
    /// laid out as the code's is (the state hash, the log, the latest text, the checkpoint).
    public var notes: String { key("notes") }
    public var notesLog: String { key("notes-log") }
    public var notesSnapshot: String { key("notes-snapshot") }
    public var notesCheckpoint: String { key("notes-checkpoint") }
    /// String: the session's question as JSON (hidden tests included; Question strips them).
    public var question: String { key("question") }
    /// List: the integrity signals (Activity), one JSON entry each, oldest first, capped; never
    /// trimmed, so its length counts them (archive_release.lua checks it).
    public var activity: String { key("activity") }
    /// Hash: the session's live interactive run (job, user who started it, open '1' when anyone may
    /// type), and the stream of what the room typed into it (Terminals; both expire on their own).
    public var terminal: String { key("terminal") }
    public var terminalInput: String { key("terminal-input") }
    /// Hash: author id (a participant's, or "host" for the host token) -> the scorecard JSON
    /// (Lua/scorecard_put.lua; Scorecards.swift). The session hash's `scorecards_version` counts
    /// its writes, so the archiver's release can refuse a session whose scorecards moved on.
    public var scorecards: String { key("scorecards") }
    /// List: what went into and came out of the session's interactive runs, one JSON entry each
    /// (`terminal-input`, `terminal-output`, `terminal-truncated`), oldest first, capped per run and
    /// per session (Terminals); kept with the session, in its timeline and its record.
    public var terminalLog: String { key("terminal-log") }
    /// The pub/sub channel of the session's changes (ChannelMessage), for every member.
    public var channel: String { key(Self.eventsName) }
    /// The pub/sub channel of what only interviewers may see (notes ops, hidden test cases).
    public var privateChannel: String { key(Self.privateName) }

    /// KEYS of every session script: its keys, then its two channels (passed so that the scripts
    /// publish on the names built here; they are in the session's slot like its keys).
    public var all: [String] {
        [session, participants, tokens, history, gone, legacyOps, presence, log, snapshot, checkpoint,
         notes, notesLog, notesSnapshot, notesCheckpoint, question, channel, privateChannel, activity, scorecards,
         terminalLog]
    }
}

/// Node liveness keys, shared by the whole cluster (the `{nodes}` slot).
public enum NodeKeys {
    static let base = "ci:{nodes}:"
    public static let gateways = base + "gateways"
    public static let gatewayInfo = base + "gateway-info"
    public static func gatewaySessions(_ instance: String) -> String { base + "gateway-sessions:" + instance }
    public static let runners = base + "runners"
    public static let runnerInfo = base + "runner-info"
    /// ZSET archiver id → heartbeat expiry (Unix ms), and HASH archiver id → info JSON, as runners'.
    public static let archivers = base + "archivers"
    public static let archiverInfo = base + "archiver-info"
}

/// The archive queue, one slot (`{archive}`): which ended (or ending) sessions still have to be
/// written to PostgreSQL before their keys may go. Lua/archive_*.lua take `keys` as KEYS.
///
///   ci:{archive}:due       ZSET  session id → when it is due (Unix ms): its expires_at from
///                                create, now when it ends or is deleted; once claimed, the
///                                claim's lease expiry (an archiver that dies lets it pass and the
///                                next claim takes it: the lease needs no second structure)
///   ci:{archive}:attempts  HASH  session id → failed attempts (backoff: due again after
///                                min(2^n s, 5 min)); the entry goes with the session's
///
/// Both are capped by the sessions themselves (an entry leaves when its session is archived) and
/// carry a TTL refreshed on every write, longer than any session's life plus its hold.
public enum ArchiveKeys {
    static let base = "ci:{archive}:"
    public static let due = base + "due"
    public static let attempts = base + "attempts"

    static let keys = [due, attempts]
}

/// Redis keys of code execution. Every job key shares the `{jobs}` hash tag, so each script below
/// touches one Redis Cluster slot; the per-job and per-runner keys a script derives from its
/// arguments (job hashes, other runners' processing lists) are in that same slot.
///
///   ci:{jobs}:queue                LIST  job ids waiting; gateways LPUSH, runners BLMOVE RIGHT→LEFT
///                                        into their processing list (requeued jobs are RPUSHed:
///                                        they come out next)
///   ci:{jobs}:parked:<language>    LIST  jobs a runner pulled but could not run (it lacks the
///                                        language); runners that offer it take them first
///   ci:{jobs}:processing:<runner>  LIST  jobs a runner holds (pulled, claimed or running)
///   ci:{jobs}:leases               ZSET  runner id → lease expiry (Unix ms); renewed every heartbeat.
///                                        Whoever sees an expired lease first (a runner's heartbeat,
///                                        a gateway's submit) requeues that runner's jobs.
///   ci:{jobs}:job:<id>             HASH  state (queued|running|done), language, code, stdin, limits,
///                                        session_id, user_id, user_name, created_at, started_at,
///                                        finished_at, runner_id, attempts, result, status, summary;
///                                        a test run also kind (test-run), tests (every case, in run
///                                        order), cases ({name, hidden} of each), total, compare,
///                                        and case:<i> (the result of case i, while it runs);
///                                        expires `retention` after submit and again after finish
///   ci:{jobs}:session:<session>    LIST  a session's execution ids, newest first, capped
///   ci:{jobs}:test-runs:<session>  LIST  a session's test run ids, newest first, capped
///   ci:{jobs}:done:<id>            channel: the job's status, published once when its result is written
///   ci:{jobs}:stats                HASH  "language:status" -> count of finished executions (/metrics)
///   ci:{<session>}:events          channel: execution-started / -output / -result frames, and
///                                        test-run-started, test-case-result and test-run-result
///                                        (their candidate view, exclude "~interviewers")
///   ci:{<session>}:private         channel: test-case-result and test-run-result whole, for
///                                        interviewers
public enum ExecutionKeys {
    /// What every job key starts with: the `{jobs}` hash tag.
    static let base = "ci:{jobs}:"
    public static let queue = base + "queue"
    public static let leases = base + "leases"
    /// HASH "language:status" -> executions finished so, for /metrics.
    public static let stats = base + "stats"
    static let jobPrefix = base + "job:"
    static let processingPrefix = base + "processing:"
    static let parkedPrefix = base + "parked:"
    static let sessionPrefix = base + "session:"
    static let testRunsPrefix = base + "test-runs:"
    static let donePrefix = base + "done:"
    public static func job(_ id: String) -> String { jobPrefix + id }
    public static func processing(_ runner: String) -> String { processingPrefix + runner }
    public static func parked(_ language: String) -> String { parkedPrefix + language }
    public static func session(_ id: String) -> String { sessionPrefix + id }
    public static func testRuns(_ id: String) -> String { testRunsPrefix + id }
    public static func done(_ id: String) -> String { donePrefix + id }
    public static func events(_ sessionID: String) -> String { SessionKeys(sessionID).channel }
    public static var runners: String { NodeKeys.runners }
    public static var runnerInfo: String { NodeKeys.runnerInfo }

    /// The first ARGV of every job script (Lua/jobs.lua names them in this order): the prefixes it
    /// derives job keys from, and how it names a session's channels (prefix + id + suffix).
    static let schema: [String] = [jobPrefix, processingPrefix, parkedPrefix, queue, leases, stats, donePrefix, sessionPrefix,
                                   testRunsPrefix, SessionKeys.prefix, SessionKeys.suffix(SessionKeys.eventsName),
                                   SessionKeys.suffix(SessionKeys.privateName)]
}

/// Rate-limit keys: `ci:{rl:<tag>}:<rule>:<subject>`, one per rule and subject, each holding its
/// theoretical arrival time (GCRA, Lua/rate_check.lua). The tag (the client's address, or the
/// session id) is the hash tag, so one check's keys share a slot in Redis Cluster while different
/// addresses spread over the slots (and the shards) instead of all sitting in one.
public enum RateLimitKeys {
    static func key(tag: String, rule: String, subject: String) -> String { "ci:{rl:\(tag)}:\(rule):\(subject)" }
}

/// The deployment's question library, one slot (`{questions}`) and no expiry: it lives as long as
/// Redis keeps its data (the AOF; see the README). Lua/library_*.lua take `keys(id)` as KEYS.
public enum LibraryKeys {
    /// Sorted set: question id by updated_at (the list's order; its size is the cap's count).
    public static let index = "ci:{questions}:index"
    /// Hash: question id -> its summary JSON (what the list shows, without reading whole questions).
    public static let summaries = "ci:{questions}:summaries"
    /// String: the question JSON (LibraryQuestion), hidden tests included.
    public static func question(_ id: String) -> String { "ci:{questions}:q:\(id)" }

    static func keys(_ id: String) -> [String] { [index, summaries, question(id)] }
}

/// A message on one of a session's channels (`channel`, every member's; `privateChannel`, the
/// interviewers'): `"<exclude> <revision>\n<frame>"`: the connection that must not get it (its
/// author, who gets an ack instead; empty for none; on the events channel `exceptInterviewers` for
/// a message only candidates get, the interviewers getting its fuller view on the private one),
/// the revision it carries of the document that channel's ops number (the code on events, the
/// notes on private; 0 for none), and the exact JSON text frame for clients. Lua/prelude.lua's
/// `publish` writes the same form.
public struct ChannelMessage: Sendable {
    /// The exclude of a message on the events channel that only candidates get.
    public static let exceptInterviewers = "~interviewers"

    public var exclude: String
    public var revision: Int
    public var frame: [UInt8]

    public init(exclude: String, revision: Int, frame: [UInt8]) {
        self.exclude = exclude
        self.revision = revision
        self.frame = frame
    }

    /// Decodes a payload; nil when it has no header line.
    public init?(payload: [UInt8]) {
        guard let newline = payload.firstIndex(of: 10) else { return nil }
        let header = payload[..<newline]
        if let space = header.firstIndex(of: 32) {
            exclude = String(decoding: header[..<space], as: UTF8.self)
            revision = Int(String(decoding: header[(space + 1)...], as: UTF8.self)) ?? 0
        } else {
            exclude = String(decoding: header, as: UTF8.self)
            revision = 0
        }
        frame = Array(payload[(newline + 1)...])
    }

    public var payload: [UInt8] { Array("\(exclude) \(revision)\n".utf8) + frame }
}

/// Webhooks, one slot (`{webhooks}`): the deployment's endpoints, the delivery jobs of their
/// events, and each endpoint's recent attempts. Lua/webhook_*.lua take `keys` (plus `log(id)`).
///
///   ci:{webhooks}:endpoints   HASH  endpoint id → JSON (url, events, secret, enabled, counters);
///                                   at most `WebhookSettings.maxEndpoints` fields
///   ci:{webhooks}:due         ZSET  delivery id (`<event id>:<endpoint id>`) → when it is due
///                                   (Unix ms); once claimed, the claim's lease expiry (as the
///                                   archive queue's); at most `WebhookSettings.maxQueued`
///   ci:{webhooks}:jobs        HASH  delivery id → JSON {endpoint, event, type, body}
///   ci:{webhooks}:attempts    HASH  delivery id → attempts started (claims)
///   ci:{webhooks}:stats       HASH  delivered / failed / given_up / dropped counters (/metrics)
///   ci:{webhooks}:log:<id>    LIST  an endpoint's last attempts (JSON), newest first, capped
///
/// The jobs leave when delivered or given up (a day of retries at most); the endpoints are the
/// operator's and live until deleted (no TTL, as the question library).
public enum WebhookKeys {
    static let base = "ci:{webhooks}:"
    public static let endpoints = base + "endpoints"
    public static let due = base + "due"
    public static let jobs = base + "jobs"
    public static let attempts = base + "attempts"
    public static let stats = base + "stats"
    public static func log(_ endpoint: String) -> String { base + "log:" + endpoint }

    static let keys = [endpoints, due, jobs, attempts, stats]
}
