import Interview
import JSON
import Postgres

/// The record as statement parameters: text, as the pool sends every parameter; bulk parts as
/// one jsonb array each.
enum RecordEncoding {
    static func steps(_ record: InterviewRecord) throws(PostgresError) -> [(PostgresStatement, [String?])] {
        // libpq passes text parameters as C strings, and PostgreSQL's text cannot hold NUL: a
        // NUL would cut the value short silently. Refuse the record before anything is sent.
        var texts: [(String, String?)] = [("id", record.id), ("name", record.name), ("language", record.language),
                                          ("code", record.code.text), ("code initial text", record.code.initialText),
                                          ("notes", record.notes.text), ("notes initial text", record.notes.initialText),
                                          ("code checkpoint", record.code.checkpoint?.text), ("notes checkpoint", record.notes.checkpoint?.text)]
        texts.append(("host token hash", record.hostTokenHash))
        for (what, text) in texts where text?.utf8.contains(0) == true {
            throw PostgresError.invalidRecord("the record of \(record.id) has a NUL byte in its \(what); PostgreSQL text cannot hold one")
        }
        let id = record.id
        let interview: [String?] = [
            id, record.name, record.language, String(record.createdAt), String(record.endedAt),
            record.ending.rawValue, record.hostTokenHash,
            record.code.text, String(record.code.revision), record.code.initialText,
            record.notes.text, String(record.notes.revision), record.notes.initialText,
        ] + checkpoint(record.code.checkpoint) + checkpoint(record.notes.checkpoint) + [
            record.question.map(\.text), record.questionTitle,
        ]
        let people = JSON.array(record.participants.enumerated().map { index, person in
            ["id": .string(person.id), "name": .string(person.name), "role": .string(person.role.rawValue),
             "color": .string(person.color), "joined_at": .integer(Int(person.joinedAt)),
             "left_at": person.leftAt.map { .integer(Int($0)) } ?? .null,
             "token_hash": person.tokenHash.map(JSON.string) ?? .null, "seq": .integer(index)]
        })
        var ops: [JSON] = []
        ops.reserveCapacity(record.code.ops.count + record.notes.ops.count)
        for (document, log) in [("code", record.code.ops), ("notes", record.notes.ops)] {
            for op in log {
                ops.append(["document": .string(document), "revision": .integer(op.revision),
                            "user_id": op.userID.map(JSON.string) ?? .null, "timestamp": .integer(op.timestamp), "ops": op.ops])
            }
        }
        let runs = JSON.array(record.runs.enumerated().map { index, run in
            ["id": .string(run.id), "kind": .string(run.kind.rawValue), "created_at": .integer(Int(run.createdAt)),
             "fields": .object(run.fields.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSON.string($0.value)) }),
             "seq": .integer(index)]
        })
        var extras: [JSON] = []
        for (kind, entries) in record.extras.sorted(by: { $0.key < $1.key }) {
            for (index, entry) in entries.enumerated() {
                extras.append(["kind": .string(kind), "seq": .integer(index), "entry": entry])
            }
        }
        // The interview first: its row count says whether this save stored the record.
        return [
            (RecordStatements.insertInterview, interview),
            (RecordStatements.insertParticipants, [id, people.text]),
            (RecordStatements.insertOps, [id, JSON.array(ops).text]),
            (RecordStatements.insertHistory, [id, JSON.array(record.history).text]),
            (RecordStatements.insertRuns, [id, runs.text]),
            (RecordStatements.insertExtras, [id, JSON.array(extras).text]),
        ]
    }

    /// revision, text, timestamp, folded_ops, summary (as [[key, value], ...]).
    private static func checkpoint(_ checkpoint: TimelineCheckpoint?) -> [String?] {
        guard let checkpoint else { return [nil, nil, nil, nil, nil] }
        let summary = JSON.array(checkpoint.summary.map { JSON.array([.string($0.key), $0.value]) })
        return [String(checkpoint.revision), checkpoint.text, String(checkpoint.timestamp), String(checkpoint.foldedOps), summary.text]
    }
}

/// Rows back into a record. A row that does not decode is a protocol error: the schema's own
/// constraints make that a bug or a hand-edited database, never a client's input.
enum RecordDecoding {
    static func record(_ results: [PostgresResult], includeOps: Bool) throws(PostgresError) -> InterviewRecord? {
        let row = results[0]
        guard !row.rows.isEmpty else { return nil }
        func text(_ column: String) -> String? { row[0, column] }
        func required(_ column: String) throws(PostgresError) -> String {
            guard let value = row[0, column] else { throw .invalidRow("interviews.\(column) is NULL") }
            return value
        }
        func int(_ column: String) throws(PostgresError) -> Int {
            guard let value = Int(try required(column)) else { throw .invalidRow("interviews.\(column) is not an integer") }
            return value
        }
        func checkpoint(_ prefix: String) throws(PostgresError) -> TimelineCheckpoint? {
            guard text("\(prefix)_checkpoint_revision") != nil else { return nil }
            let summary = try json(text("\(prefix)_checkpoint_summary") ?? "[]", "\(prefix)_checkpoint_summary")
            let pairs = (summary.arrayValue ?? []).compactMap { pair -> (key: String, value: JSON)? in
                guard let items = pair.arrayValue, items.count == 2, let key = items[0].stringValue else { return nil }
                return (key: key, value: items[1])
            }
            return TimelineCheckpoint(revision: try int("\(prefix)_checkpoint_revision"), text: text("\(prefix)_checkpoint_text") ?? "",
                                      timestamp: try int("\(prefix)_checkpoint_timestamp"),
                                      foldedOps: try int("\(prefix)_checkpoint_folded_ops"), summary: pairs)
        }
        let id = try required("id")
        guard let ending = InterviewRecord.Ending(rawValue: try required("ending")) else { throw .invalidRow("interviews.ending is unknown") }

        let people = results[1]
        var participants: [InterviewRecord.Person] = []
        for index in people.rows.indices {
            guard let pid = people[index, "id"], let name = people[index, "name"],
                  let role = people[index, "role"].flatMap(Role.init(rawValue:)),
                  let joined = people[index, "joined_at"].flatMap({ Int64($0) }) else {
                throw .invalidRow("interview_participants row \(index) of \(id) does not decode")
            }
            participants.append(InterviewRecord.Person(id: pid, name: name, role: role, color: people[index, "color"] ?? "",
                                                       joinedAt: joined, leftAt: people[index, "left_at"].flatMap { Int64($0) },
                                                       tokenHash: people[index, "token_hash"]))
        }
        var history: [JSON] = []
        for index in results[2].rows.indices { history.append(try json(results[2][index, "entry"], "interview_history.entry")) }
        var runs: [InterviewRecord.Run] = []
        let runRows = results[3]
        for index in runRows.rows.indices {
            guard let rid = runRows[index, "id"], let kind = runRows[index, "kind"].flatMap(JobKind.init(rawValue:)),
                  let created = runRows[index, "created_at"].flatMap({ Int64($0) }) else {
                throw .invalidRow("interview_runs row \(index) of \(id) does not decode")
            }
            var fields: [String: String] = [:]
            for (key, value) in try json(runRows[index, "fields"], "interview_runs.fields").objectValue ?? [] {
                fields[key] = value.stringValue ?? value.text
            }
            runs.append(InterviewRecord.Run(id: rid, kind: kind, createdAt: created, fields: fields))
        }
        var extras: [String: [JSON]] = [:]
        for index in results[4].rows.indices {
            guard let kind = results[4][index, "kind"] else { continue }
            extras[kind, default: []].append(try json(results[4][index, "entry"], "interview_extras.entry"))
        }
        var codeOps: [TimelineOp] = []
        var notesOps: [TimelineOp] = []
        if includeOps, results.count > 5 {
            let ops = results[5]
            codeOps.reserveCapacity(ops.rows.count)
            for index in ops.rows.indices {
                guard let revision = ops[index, "revision"].flatMap({ Int($0) }),
                      let timestamp = ops[index, "timestamp"].flatMap({ Int($0) }) else {
                    throw .invalidRow("interview_ops row \(index) of \(id) does not decode")
                }
                let op = TimelineOp(revision: revision, ops: try json(ops[index, "ops"], "interview_ops.ops"),
                                    userID: ops[index, "user_id"], timestamp: timestamp)
                if ops[index, "document"] == "notes" { notesOps.append(op) } else { codeOps.append(op) }
            }
        }
        let code = InterviewRecord.DocumentRecord(text: try required("code"), revision: try int("code_revision"),
                                                  initialText: try required("code_initial"), checkpoint: try checkpoint("code"), ops: codeOps)
        let notes = InterviewRecord.DocumentRecord(text: try required("notes"), revision: try int("notes_revision"),
                                                   initialText: try required("notes_initial"), checkpoint: try checkpoint("notes"), ops: notesOps)
        let question = try text("question").map { text throws(PostgresError) in try json(text, "interviews.question") }
        return InterviewRecord(id: id, name: text("name"), language: try required("language"),
                               createdAt: Int64(try int("created_at")), endedAt: Int64(try int("ended_at")), ending: ending,
                               hostTokenHash: try required("host_token_hash"), code: code, notes: notes, question: question,
                               participants: participants, history: history, runs: runs, extras: extras)
    }

    static func listItem(_ rows: PostgresResult, _ index: Int) -> JSON {
        let people = (rows[index, "participants"].flatMap { try? JSON.parse($0) }?.arrayValue ?? []).map { item -> JSON in
            let parts = item.arrayValue ?? []
            return ["id": parts.first ?? .null, "name": parts.count > 1 ? parts[1] : .null, "role": parts.count > 2 ? parts[2] : .null]
        }
        func integer(_ column: String) -> JSON { rows[index, column].flatMap { Int($0) }.map(JSON.integer) ?? .null }
        func string(_ column: String) -> JSON { rows[index, column].map(JSON.string) ?? .null }
        return ["id": string("id"), "name": string("name"), "language": string("language"),
                "created_at": integer("created_at"), "ended_at": integer("ended_at"), "ending": string("ending"),
                "question_title": string("question_title"), "participants": .array(people)]
    }

    private static func json(_ text: String?, _ what: String) throws(PostgresError) -> JSON {
        guard let text else { throw .invalidRow("\(what) is NULL") }
        do {
            return try JSON.parse(text, maxDepth: 256)
        } catch {
            throw .invalidRow("\(what) is not JSON: \(error)")
        }
    }
}

extension PostgresError {
    /// A record this build cannot write (refused before anything is sent).
    static func invalidRecord(_ message: String) -> PostgresError {
        PostgresError(.server, sqlState: "22021", message)
    }

    /// A stored row this build cannot read.
    static func invalidRow(_ message: String) -> PostgresError {
        PostgresError(.protocolError, message)
    }
}
