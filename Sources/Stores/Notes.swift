import Interview
import JSON
import Redis

/// The interviewers' private notes as read or written whole (GET/PUT /sessions/{id}/notes).
public struct NotesState: Sendable {
    public var text: String
    public var revision: Int
    public var updatedAt: Int64

    public var json: JSON {
        ["text": .string(text), "revision": .integer(revision), "updated_at": .integer(Int(updatedAt))]
    }
}

/// The interviewers' private notes: a second document of the session (Document.notes), edited live
/// over the WebSocket with the same operations as the code (`submit(_:_:...)`) and read or
/// replaced whole here. Only interviewers read or write them; nothing about them goes to the
/// events channel, the history or anything else a candidate can read.
extension Sessions {
    /// Refusals open with this.
    static let notesPurpose = "the notes are for the session's interviewers"

    /// The notes and when they last changed (the session's creation for notes never written).
    public func notes(_ id: String, token: String?, _ completion: @escaping (Result<NotesState, InterviewError>) -> Void) {
        let keys = SessionKeys(id)
        let reads: [RedisRequest] = [.command(["HGET", keys.notes, "updated_at"]),
                                     .script(Scripts.document, keys: keys.all, arguments: Scripts.documentArguments(.notes, base: .snapshot, limit: nil))]
        InterviewerRead.run(redis, session: id, token: token, purpose: Self.notesPurpose, fields: ["created_at"], reads: reads) { result in
            completion(result.flatMap { read in
                Documents.decode(read.replies[1]).map { text in
                    let updated = read.replies[0].integer ?? read.fields["created_at"].flatMap { Int($0) } ?? 0
                    return NotesState(text: text.text, revision: text.revision, updatedAt: Int64(updated))
                }
            })
        }
    }

    /// Replaces the notes as one revision, broadcast to the interviewers as a `notes-op`.
    /// `revision`: the one the caller has (a conflict when the notes moved on), nil for any.
    public func replaceNotes(_ id: String, text: String, revision: Int?, token: String?,
                             _ completion: @escaping (Result<NotesState, InterviewError>) -> Void) {
        let arguments = Scripts.notesPutArguments(settings: settings, text: text, revision: revision, presentedTokenHash: hash(token))
        run(Scripts.notesPut, id, arguments) { result in
            completion(result.flatMap { value in
                guard let reply = value.text, let json = try? JSON.parse(reply), let revision = json["revision"]?.intValue,
                      let updated = json["updated_at"]?.doubleValue else {
                    return .failure(malformed("notes_put"))
                }
                return .success(NotesState(text: text, revision: revision, updatedAt: Int64(updated)))
            })
        }
    }

    public func validNotes(_ text: String, field: String) throws(InterviewError) -> String {
        guard text.utf8.count <= settings.maxNotesBytes else {
            throw InterviewError(.tooLarge, "\(field) is \(text.utf8.count) bytes; the notes may have at most \(settings.maxNotesBytes) bytes",
                                 field: field)
        }
        return text
    }
}
