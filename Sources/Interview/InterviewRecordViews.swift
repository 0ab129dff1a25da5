import JSON

/// The record's views, the archived twins of the live ones (pure: the gateway reads a record and
/// answers one of these). What a candidate may not see live (the notes, hidden tests and their
/// data, scorecards, integrity signals) they may not see here either.
extension InterviewRecord {
    /// Extras a candidate never sees.
    public static let interviewerOnlyExtras: Set<String> = ["scorecards", "integrity"]
    /// The extras kind of the integrity signals (Stores' Activity), one entry per signal.
    public static let integrityExtras = "integrity"
    /// The extras kind of the interactive runs' terminal (Stores' Terminals): `terminal-input`,
    /// `terminal-output` and `terminal-truncated` entries at their times. The room shared the
    /// terminal, so candidates see it too.
    public static let terminalExtras = "terminal"

    /// The record for a role: everything for an interviewer (the host, an interviewer's token,
    /// the admin); for a candidate what they saw in the room: no notes, the question without its
    /// hidden tests, test runs as a candidate saw them, no scorecards or integrity extras.
    public func json(forInterviewer interviewer: Bool) -> JSON {
        var out: JSON = ["id": .string(id), "name": name.map(JSON.string) ?? .null, "language": .string(language),
                         "created_at": .integer(Int(createdAt)), "ended_at": .integer(Int(endedAt)),
                         "ending": .string(ending.rawValue), "view": .string(interviewer ? "interviewer" : "candidate"),
                         "participants": .array(participants.map(\.json)),
                         "code": ["text": .string(code.text), "revision": .integer(code.revision)]]
        if interviewer {
            out.set("notes", ["text": .string(notes.text), "revision": .integer(notes.revision)])
        }
        out.set("question", question.map { questionJSON($0, forInterviewer: interviewer) } ?? .null)
        out.set("runs", .array(runs.compactMap { runJSON($0, forInterviewer: interviewer) }))
        out.set("history", .array(interviewer ? history : history.filter(Timeline.candidateSees(history:))))
        let extraKinds = extras.keys.sorted().filter { interviewer || !Self.interviewerOnlyExtras.contains($0) }
        out.set("extras", .object(extraKinds.map { kind in
            // A scorecard's draft is its author's alone: the record shows the submitted ones.
            let entries = extras[kind] ?? []
            return (key: kind, value: JSON.array(kind == "scorecards" ? entries.filter { $0["status"]?.stringValue == "submitted" } : entries))
        }))
        return out
    }

    /// The question as the role saw it; a stored value that is not a question (never written by
    /// this code) is shown whole to interviewers only.
    private func questionJSON(_ stored: JSON, forInterviewer interviewer: Bool) -> JSON {
        guard let question = SessionQuestion(stored: stored) else { return interviewer ? stored : .null }
        return question.json(forInterviewer: interviewer)
    }

    /// A run as its live route shows it (GET /executions/{id}, GET /test-runs/{id} for the role).
    private func runJSON(_ run: Run, forInterviewer interviewer: Bool) -> JSON? {
        switch run.kind {
        case .execution:
            guard let job = ExecutionJob(id: run.id, fields: run.fields) else { return nil }
            var out = job.json
            out.set("kind", .string(run.kind.rawValue))
            return out
        case .testRun:
            guard let job = TestRunJob(id: run.id, fields: run.fields) else { return nil }
            var out = job.json(forInterviewer: interviewer)
            out.set("kind", .string(run.kind.rawValue))
            return out
        }
    }

    // MARK: Timeline

    /// The page of a document's timeline after `after`, exactly as the live
    /// `GET /sessions/{id}/timeline` builds it (Playback.swift): the same ops (at most `limit` + 1
    /// from the page's lower bound: the extra one bounds the last op's events), the same other
    /// events (the history's, then the runs', for the code; none for the notes), the same
    /// checkpoint, the same `document` and `participants` members. A candidate's view
    /// (`forInterviewer` false; never the notes) is the live candidate's too: the history a
    /// candidate saw (`Timeline.candidateSees`), test runs as a candidate saw them, no integrity extras.
    public func timeline(notes: Bool = false, after: Int, limit: Int, forInterviewer interviewer: Bool = true) -> JSON {
        let document = notes ? self.notes : code
        let page: TimelinePage
        if after >= document.revision {
            page = TimelinePage(revision: document.revision, events: [], nextAfterRevision: nil)
        } else {
            let lower = document.checkpoint.flatMap { after < $0.revision ? $0.revision : nil } ?? after
            let ops = Array(document.ops.lazy.filter { $0.revision > lower }.prefix(limit + 1))
            let terminal = (extras[Self.terminalExtras] ?? []).filter { $0["type"]?.stringValue?.hasPrefix("terminal-") == true }
                .compactMap(Timeline.event(history:))
            let others: [JSON]
            if notes {
                others = []
            } else if interviewer {
                others = history.compactMap(Timeline.event(history:)) + runs.compactMap(Self.runEvent)
                    + (extras[Self.integrityExtras] ?? []).filter { $0["type"]?.stringValue == Self.integrityExtras }
                        .compactMap(Timeline.event(history:))
                    + terminal
            } else {
                // The terminal was the whole room's: a candidate saw it too.
                others = history.filter(Timeline.candidateSees(history:)).compactMap(Timeline.event(history:))
                    + runs.compactMap(Self.candidateRunEvent) + terminal
            }
            page = Timeline.page(after: after, limit: limit, head: document.revision, ops: ops, others: others,
                                 checkpoint: document.checkpoint)
        }
        var json = page.json
        json.set("document", .string(notes ? "notes" : "code"))
        json.set("participants", .array(participants.map { person in
            ["id": .string(person.id), "name": .string(person.name), "role": .string(person.role.rawValue),
             "color": .string(person.color), "joined_at": .integer(Int(person.joinedAt))]
        }))
        return json
    }

    /// A run as the live timeline shows it: every job (a test run too) as an execution event,
    /// with the code that ran.
    private static func runEvent(_ run: Run) -> JSON? {
        guard let job = ExecutionJob(id: run.id, fields: run.fields) else { return nil }
        var event = Timeline.event(execution: job)
        if let code = run.fields["code"] { event.set("code", .string(code)) }
        return event
    }

    /// A run as a candidate's timeline shows it (Timeline.candidateEvent), with the code that ran.
    private static func candidateRunEvent(_ run: Run) -> JSON? {
        var fields = run.fields
        fields["kind"] = run.kind.rawValue
        guard let job = ExecutionJob(id: run.id, fields: fields) else { return nil }
        var event = Timeline.candidateEvent(execution: job, fields: fields)
        if let code = run.fields["code"] { event.set("code", .string(code)) }
        return event
    }

    // MARK: Text at a revision

    /// A document's text at `revision`: the checkpoint (or the initial text) replayed with the
    /// ops after it. A revision past the end, or folded into the checkpoint, is invalid input.
    public func text(notes: Bool = false, at revision: Int) throws(InterviewError) -> String {
        let document = notes ? self.notes : code
        guard revision >= 0, revision <= document.revision else {
            throw InterviewError(.invalid, "revision must be from 0 to \(document.revision) (the interview's last), not \(revision)",
                                 field: "revision")
        }
        if revision == document.revision { return document.text }
        var text = document.initialText
        var at = 0
        if let checkpoint = document.checkpoint {
            guard revision >= checkpoint.revision else {
                throw InterviewError(.invalid, "revision \(revision) is no longer kept: the oldest text kept is revision "
                                     + "\(checkpoint.revision) (older history was folded into a checkpoint)", field: "revision")
            }
            text = checkpoint.text
            at = checkpoint.revision
        }
        for op in document.ops where op.revision > at && op.revision <= revision {
            guard op.revision == at + 1 else {
                throw InterviewError(.internalError, "the record's op log skips from revision \(at) to \(op.revision)")
            }
            text = try TextOperation(json: op.ops, maxComponents: .max).apply(text)
            at = op.revision
        }
        guard at == revision else {
            throw InterviewError(.internalError, "the record's op log ends at revision \(at), before \(revision)")
        }
        return text
    }

    /// `GET /interviews/{id}/code?revision=N`, the live answer's shape: the text, the language
    /// then (the last set at or before the revision's time), the revision and when it was made.
    public func codeJSON(at revision: Int) throws(InterviewError) -> JSON {
        let text = try text(at: revision)
        let made = code.ops.first { $0.revision == revision }?.timestamp
            ?? (revision == code.checkpoint?.revision ? code.checkpoint?.timestamp : nil)
            ?? history.first { $0["type"]?.stringValue == "created" }?["at"]?.intValue ?? Int(createdAt)
        var language = history.isEmpty ? self.language : "python"
        for event in history where ["created", "language_changed"].contains(event["type"]?.stringValue ?? "") {
            guard let at = event["at"]?.intValue, at <= made, let value = event["language"]?.stringValue else { continue }
            language = value
        }
        return ["code": .string(text), "language": .string(language), "revision": .integer(revision),
                "updated_at": .integer(made)]
    }
}
