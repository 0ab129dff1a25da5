import JSON

/// The room controls of a session (issue 22, part 2): what its interviewers hold back from the
/// candidates. Kept as fields of the session hash (`editor_locked`, `runs_held`,
/// `question_hidden`: "1" on), changed by one script (Stores' control.lua), enforced by the
/// scripts that commit ops, change the code or the language and start runs. Ending the interview
/// is not a field here: it is the session's status `completed`.
public struct RoomControls: Sendable, Equatable {
    /// Candidates' code and language changes are refused (`editor_locked`).
    public var editorLocked = false
    /// Candidates' runs and test runs are refused (`runs_held`).
    public var runsHeld = false
    /// Candidates neither see nor get the question (`question_hidden`).
    public var questionHidden = false

    public static let names = ["editor_locked", "runs_held", "question_hidden"]

    public init(editorLocked: Bool = false, runsHeld: Bool = false, questionHidden: Bool = false) {
        self.editorLocked = editorLocked
        self.runsHeld = runsHeld
        self.questionHidden = questionHidden
    }

    /// From the session hash's fields (absent: off).
    public init(scalars: [String: String]) {
        editorLocked = scalars["editor_locked"] == "1"
        runsHeld = scalars["runs_held"] == "1"
        questionHidden = scalars["question_hidden"] == "1"
    }

    /// From a JSON object with booleans (control.lua's reply, a frame).
    public init(json: JSON) {
        editorLocked = json["editor_locked"]?.boolValue ?? false
        runsHeld = json["runs_held"]?.boolValue ?? false
        questionHidden = json["question_hidden"]?.boolValue ?? false
    }

    public var json: JSON {
        ["editor_locked": .bool(editorLocked), "runs_held": .bool(runsHeld), "question_hidden": .bool(questionHidden)]
    }
}

/// A change of the room controls: nil leaves a control as it is.
public struct ControlChanges: Sendable, Equatable {
    public var editorLocked: Bool?
    public var runsHeld: Bool?
    public var questionHidden: Bool?

    public init(editorLocked: Bool? = nil, runsHeld: Bool? = nil, questionHidden: Bool? = nil) {
        self.editorLocked = editorLocked
        self.runsHeld = runsHeld
        self.questionHidden = questionHidden
    }

    public var isEmpty: Bool { editorLocked == nil && runsHeld == nil && questionHidden == nil }

    /// What a change asks, from a request's JSON object (REST body or WebSocket `data`): the
    /// controls as booleans, and `end: true` (the interview ends; alone). Anything else is refused
    /// with the field it is about, so a typo never passes as "nothing to change".
    /// Answers the changes and whether it asks to end.
    public static func parse(_ json: JSON, extraAllowed: Set<String> = []) throws(InterviewError) -> (changes: ControlChanges, end: Bool) {
        guard let object = json.objectValue else {
            throw InterviewError.invalid("body", "the room controls are a JSON object: {\"editor_locked\": bool, \"runs_held\": bool, "
                                         + "\"question_hidden\": bool} or {\"end\": true}")
        }
        var changes = ControlChanges()
        var end = false
        for (key, value) in object {
            if extraAllowed.contains(key) { continue }
            switch key {
            case "editor_locked", "runs_held", "question_hidden":
                guard let flag = value.boolValue else {
                    throw InterviewError.invalid(key, "\(key) must be true or false, not \(value.typeName)")
                }
                switch key {
                case "editor_locked": changes.editorLocked = flag
                case "runs_held": changes.runsHeld = flag
                default: changes.questionHidden = flag
                }
            case "end":
                guard value.boolValue == true else {
                    throw InterviewError.invalid("end", "end must be true (an ended interview cannot be resumed), not \(value.typeName == "boolean" ? "false" : value.typeName)")
                }
                end = true
            default:
                throw InterviewError.invalid(key, "unknown room control '\(key.prefix(64))'; the controls are editor_locked, runs_held, "
                                             + "question_hidden (booleans) and end (true)")
            }
        }
        if end && !changes.isEmpty {
            throw InterviewError.invalid("end", "send end alone: an ended room is read-only for everyone, whatever its other controls")
        }
        if !end && changes.isEmpty {
            throw InterviewError.invalid("body", "nothing to change: send editor_locked, runs_held or question_hidden (booleans), or end: true")
        }
        return (changes, end)
    }
}
