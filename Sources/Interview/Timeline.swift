import JSON

/// One page of a session's timeline (GET /sessions/{id}/timeline): the committed ops of a
/// revision range, oldest first, with the session's other events (joins, leaves, language
/// changes, saves, runs, the end) placed among them by time.
///
/// Pages are cut by revision, so paging never splits or repeats anything: a page "after N" holds
/// ops N+1...M and every other event whose `revision` (the document's revision when it happened:
/// the newest op at or before its time) is in (N, M]; the first page also holds the events of
/// revision 0 (the creation, the first joins). An event therefore follows the op that made the
/// document it saw. Where the op log's oldest ops were folded into a checkpoint, the first page
/// holds the events before it (their edits are gone, their revision is null), then the
/// checkpoint with the text at its revision, then the ops after it.
public struct TimelinePage: Sendable {
    public var revision: Int
    public var events: [JSON]
    /// The `after_revision` of the next page; nil on the last.
    public var nextAfterRevision: Int?

    public init(revision: Int, events: [JSON], nextAfterRevision: Int?) {
        self.revision = revision
        self.events = events
        self.nextAfterRevision = nextAfterRevision
    }

    public var json: JSON {
        ["revision": .integer(revision), "events": .array(events),
         "next_after_revision": nextAfterRevision.map(JSON.integer) ?? .null]
    }
}

/// A committed op as the op log keeps it.
public struct TimelineOp: Sendable {
    public var revision: Int
    public var ops: JSON
    public var userID: String?
    public var timestamp: Int

    public init(revision: Int, ops: JSON, userID: String?, timestamp: Int) {
        self.revision = revision
        self.ops = ops
        self.userID = userID
        self.timestamp = timestamp
    }

    var json: JSON {
        ["type": "op", "revision": .integer(revision), "ops": ops,
         "user_id": userID.map(JSON.string) ?? .null, "timestamp": .integer(timestamp)]
    }
}

/// The oldest text the op log still rebuilds from, when older ops were folded away.
public struct TimelineCheckpoint: Sendable {
    public var revision: Int
    public var text: String
    public var timestamp: Int
    /// How many ops were folded into it (0 when unknown).
    public var foldedOps: Int
    /// What was folded, as the checkpoint keeps it: ops per author (`authors`), the time span
    /// (`first_at`, `through_at`), why (`reason`).
    public var summary: [(key: String, value: JSON)]

    public init(revision: Int, text: String, timestamp: Int, foldedOps: Int, summary: [(key: String, value: JSON)] = []) {
        self.revision = revision
        self.text = text
        self.timestamp = timestamp
        self.foldedOps = foldedOps
        self.summary = summary
    }

    var json: JSON {
        var out: JSON = ["type": "checkpoint", "revision": .integer(revision), "text": .string(text),
                         "timestamp": .integer(timestamp), "folded_ops": .integer(foldedOps)]
        for (key, value) in summary { out.set(key, value) }
        return out
    }
}

public enum Timeline {
    public static let defaultLimit = 500
    public static let maximumLimit = 5_000

    /// A non-op event as the timeline shows it: history entries keep their fields, with `at`
    /// renamed `timestamp`; runs become `execution` events with their result as stored. The
    /// history's note of a fold is left out: the page's `checkpoint` event says it.
    public static func event(history entry: JSON) -> JSON? {
        guard case .object(var members) = entry, let type = entry["type"]?.stringValue, !type.isEmpty, type != "checkpoint" else { return nil }
        let at = entry["at"]?.intValue ?? entry["timestamp"]?.intValue ?? 0
        members.removeAll { $0.key == "at" || $0.key == "timestamp" || $0.key == "revision" }
        var out = JSON.object(members)
        out.set("timestamp", .integer(at))
        return out
    }

    public static func event(execution job: ExecutionJob) -> JSON {
        var out: JSON = ["type": "execution", "execution_id": .string(job.id), "timestamp": .integer(Int(job.createdAt)),
                         "user_id": job.userID.map(JSON.string) ?? .null, "name": job.userName.map(JSON.string) ?? .null,
                         "language": .string(job.language), "state": .string(job.state.rawValue),
                         "status": job.status.map(JSON.string) ?? .null,
                         "finished_at": job.finishedAt.map { .integer(Int($0)) } ?? .null]
        let result = job.result
        for key in ["stdout", "stderr", "compile_output", "exit_code", "signal", "time_ms", "memory_kb", "truncated"] {
            if let value = result?[key] { out.set(key, value) }
        }
        return out
    }

    /// Whether a history entry is one a candidate saw live (the rule of the record's candidate view
    /// and of a candidate's timeline): nothing about the notes, scorecards or integrity signals.
    public static func candidateSees(history entry: JSON) -> Bool {
        let type = entry["type"]?.stringValue ?? ""
        return !type.hasPrefix("notes") && !type.hasPrefix("scorecard") && !type.hasPrefix("integrity")
    }

    /// A run as a candidate's timeline shows it (`fields` the job's as stored): an execution as
    /// interviewers see it; a test run as the candidate saw it live (GET /test-runs/{id} for a
    /// candidate: a hidden case's name, status, time and memory only), without the raw result.
    public static func candidateEvent(execution job: ExecutionJob, fields: [String: String]) -> JSON {
        var event = event(execution: job)
        guard let run = TestRunJob(id: job.id, fields: fields) else { return event }
        let view = run.json(forInterviewer: false)
        event = .object((event.objectValue ?? []).filter {
            !["stdout", "stderr", "exit_code", "signal", "time_ms", "memory_kb", "truncated"].contains($0.key)
        })
        event.set("kind", .string(JobKind.testRun.rawValue))
        for key in ["compile_output", "passed", "total", "cases"] { event.set(key, view[key] ?? .null) }
        return event
    }

    /// Assembles the page after `after`. `ops` are the log's ops from the page's lower bound on,
    /// oldest first, ONE MORE than `limit` where there are (the extra one is not shown: its time
    /// bounds the events of the page's last op); `others` every other event of the session, in
    /// any order; `checkpoint` where ops before `ops.first` were folded; `head` the current
    /// revision.
    public static func page(after: Int, limit: Int, head: Int, ops allOps: [TimelineOp], others: [JSON],
                            checkpoint: TimelineCheckpoint?) -> TimelinePage {
        guard after < head else { return TimelinePage(revision: head, events: [], nextAfterRevision: nil) }
        let fromCheckpoint = checkpoint.flatMap { after < $0.revision ? $0 : nil }
        let lower = fromCheckpoint?.revision ?? after
        let ops = allOps.filter { $0.revision > lower }.sorted { $0.revision < $1.revision }
        // Events by time; equal times keep the order given (history before runs).
        let timed = others.enumerated()
            .map { (index: $0.offset, time: $0.element["timestamp"]?.intValue ?? 0, event: $0.element) }
            .sorted { $0.time == $1.time ? $0.index < $1.index : $0.time < $1.time }
        var next = 0 // the first event of `timed` not placed or skipped yet
        var events: [JSON] = []
        func take(before time: Int?, revision: JSON, keep: Bool = true) {
            while next < timed.count, time.map({ timed[next].time < $0 }) ?? true {
                if keep {
                    var event = timed[next].event
                    event.set("revision", revision)
                    events.append(event)
                }
                next += 1
            }
        }
        // What came before the page's first op: on the first page the events of revision 0 (or,
        // from a checkpoint, those before it and the checkpoint); on a later page, earlier pages'.
        let firstTime = ops.first?.timestamp
        if let checkpoint = fromCheckpoint {
            take(before: checkpoint.timestamp + 1, revision: .null)
            events.append(checkpoint.json)
            take(before: firstTime, revision: .integer(checkpoint.revision))
        } else {
            take(before: firstTime, revision: .integer(0), keep: after == 0)
        }
        // Ops, each followed by the events up to the next op's time; cut at `limit` events, at an
        // op boundary (at least one op a page, and one revision's events are never split).
        var last = lower
        var index = 0
        var logEnded = false
        while index < ops.count && ops[index].revision <= head {
            let op = ops[index]
            // nil: the log holds nothing after this op (yet), so every later event follows it.
            let following = index + 1 < ops.count ? ops[index + 1].timestamp : nil
            let pending = timed[next...].prefix { entry in following.map { entry.time < $0 } ?? true }.count
            if index > 0 && events.count + 1 + pending > limit { break }
            events.append(op.json)
            take(before: following, revision: .integer(op.revision))
            last = op.revision
            index += 1
            if following == nil { logEnded = true }
        }
        // A log that ends before `head` (ops lost to a crash between commit and log) ends paging too.
        let done = logEnded || last >= head || index == 0
        return TimelinePage(revision: head, events: events, nextAfterRevision: done ? nil : last)
    }
}
