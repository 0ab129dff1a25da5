import JSON

/// One criterion of a question's rubric: what interviewers rate a candidate on.
public struct RubricCriterion: Sendable, Equatable {
    /// Stable within the question: what a scorecard's ratings are keyed by ([a-z0-9_-], 1–40).
    public var id: String
    public var name: String
    public var description: String

    public init(id: String, name: String, description: String) {
        self.id = id
        self.name = name
        self.description = description
    }

    public var json: JSON { ["id": .string(id), "name": .string(name), "description": .string(description)] }
}

public enum Rubric {
    public static let maxCriteria = 12
    public static let maxIDBytes = 40
    public static let maxNameBytes = 80
    public static let maxDescriptionBytes = 1_000

    /// The rubric of a session whose question has none, or that has no question.
    public static let standard: [RubricCriterion] = [
        RubricCriterion(id: "problem_solving", name: "Problem solving",
                        description: "Understands the problem, asks clarifying questions, finds and refines an approach, reasons about its cost."),
        RubricCriterion(id: "code_quality", name: "Code quality",
                        description: "Writes correct, readable, well-structured code with sensible names, in idiomatic use of the language."),
        RubricCriterion(id: "communication", name: "Communication",
                        description: "Explains their thinking as they go, takes hints and feedback, discusses trade-offs clearly."),
        RubricCriterion(id: "testing", name: "Testing",
                        description: "Checks their work: thinks of edge cases, runs and writes tests, finds and fixes their own bugs."),
    ]

    /// The rating scale, 1 to 4 (no middle, like the recommendation).
    public static let scale: [(value: Int, label: String)] = [(1, "Poor"), (2, "Mixed"), (3, "Good"), (4, "Excellent")]

    public static var scaleJSON: JSON {
        .array(scale.map { ["value": .integer($0.value), "label": .string($0.label)] })
    }

    /// Parses a question's `rubric` field (nil or absent: none).
    public static func parse(_ value: JSON?) throws(InterviewError) -> [RubricCriterion] {
        guard let value, !value.isNull else { return [] }
        guard let items = value.arrayValue else {
            throw .invalid("rubric", "rubric must be an array of {id, name, description}, not \(value.typeName)")
        }
        guard items.count <= maxCriteria else {
            throw InterviewError(.tooLarge, "rubric has \(items.count) criteria; the limit is \(maxCriteria)", field: "rubric")
        }
        var criteria: [RubricCriterion] = []
        for (index, item) in items.enumerated() {
            let path = "rubric[\(index)]"
            guard item.objectValue != nil else { throw .invalid(path, "\(path) must be an object {id, name, description}, not \(item.typeName)") }
            func text(_ name: String, max: Int, required: Bool) throws(InterviewError) -> String {
                let field = "\(path).\(name)"
                guard let raw = item[name], !raw.isNull else {
                    if required { throw .invalid(field, "\(field) is required") }
                    return ""
                }
                guard let string = raw.stringValue else { throw .invalid(field, "\(field) must be a string, not \(raw.typeName)") }
                guard string.utf8.count <= max else {
                    throw InterviewError(.tooLarge, "\(field) is \(string.utf8.count) bytes; the limit is \(max) bytes", field: field)
                }
                if required && string.allSatisfy(\.isWhitespace) { throw .invalid(field, "\(field) must not be empty") }
                if string.utf8.contains(0) { throw .invalid(field, "\(field) contains a NUL byte") }
                return string
            }
            let id = try text("id", max: maxIDBytes, required: true)
            guard id.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 95 || $0 == 45 }) else {
                throw .invalid("\(path).id", "\(path).id '\(id)' may hold only a-z, 0-9, '_' and '-' (e.g. \"problem_solving\")")
            }
            guard !criteria.contains(where: { $0.id == id }) else {
                throw .invalid("\(path).id", "\(path).id '\(id)' is the id of an earlier criterion; ids must be unique")
            }
            criteria.append(RubricCriterion(id: id, name: try text("name", max: maxNameBytes, required: true),
                                            description: try text("description", max: maxDescriptionBytes, required: false)))
        }
        return criteria
    }

    /// The rubric a session's scorecards use: its question's, else the standard one.
    public static func effective(question: JSON?) -> [RubricCriterion] {
        let own = (try? parse(question?["rubric"])) ?? []
        return own.isEmpty ? standard : own
    }
}

/// A scorecard's overall recommendation.
public enum Recommendation: String, Sendable, CaseIterable {
    case strongNo = "strong_no", no, yes, strongYes = "strong_yes"
}

/// What a PUT /sessions/{id}/scorecards/mine asks for, checked against the session's rubric.
/// A PUT replaces the author's scorecard contents whole (absent fields clear them).
public struct ScorecardChange: Sendable {
    public static let maxTextBytes = 10_000

    public var recommendation: Recommendation?
    /// Criterion id → 1...4, in the rubric's order.
    public var ratings: [(id: String, value: Int)]
    public var text: String
    /// Submit now (or keep a submitted one submitted: an amendment).
    public var submit: Bool

    /// Parses and checks a body; every failure is a 422 (413 for the text) naming the field.
    public init(json: JSON, rubric: [RubricCriterion]) throws(InterviewError) {
        guard let members = json.objectValue else { throw .invalid("", "a scorecard is a JSON object, not \(json.typeName)") }
        let known: Set<String> = ["recommendation", "ratings", "text", "submit", "status"]
        if let unknown = members.first(where: { !known.contains($0.key) }) {
            throw .invalid(unknown.key, "'\(unknown.key)' is not a scorecard field; the fields are recommendation, ratings, text, submit, status")
        }
        recommendation = nil
        if let value = json["recommendation"], !value.isNull {
            let choices = Recommendation.allCases.map(\.rawValue).joined(separator: ", ")
            guard let raw = value.stringValue else { throw .invalid("recommendation", "recommendation must be a string (\(choices)), not \(value.typeName)") }
            guard let parsed = Recommendation(rawValue: raw) else {
                throw .invalid("recommendation", "recommendation '\(raw)' is not one of \(choices)")
            }
            recommendation = parsed
        }
        ratings = []
        if let value = json["ratings"], !value.isNull {
            guard let given = value.objectValue else {
                throw .invalid("ratings", "ratings must be an object of criterion id → 1..4, not \(value.typeName)")
            }
            var byID: [String: Int] = [:]
            for (id, rating) in given {
                let field = "ratings.\(id)"
                guard rubric.contains(where: { $0.id == id }) else {
                    throw .invalid(field, "'\(id)' is not a criterion of this session's rubric; the criteria are "
                                   + rubric.map(\.id).joined(separator: ", "))
                }
                guard byID[id] == nil else { throw .invalid(field, "\(field) is given twice") }
                if rating.isNull { continue }
                guard let number = rating.intValue, let double = rating.doubleValue, Double(number) == double else {
                    throw .invalid(field, "\(field) must be an integer from 1 (poor) to 4 (excellent), not \(rating.typeName)")
                }
                guard (1...4).contains(number) else {
                    throw .invalid(field, "\(field) is \(number); a rating is from 1 (poor) to 4 (excellent)")
                }
                byID[id] = number
            }
            ratings = rubric.compactMap { criterion in byID[criterion.id].map { (criterion.id, $0) } }
        }
        text = ""
        if let value = json["text"], !value.isNull {
            guard let string = value.stringValue else { throw .invalid("text", "text must be a string, not \(value.typeName)") }
            guard string.utf8.count <= Self.maxTextBytes else {
                throw InterviewError(.tooLarge, "text is \(string.utf8.count) bytes; a scorecard's text may have at most \(Self.maxTextBytes) bytes",
                                     field: "text")
            }
            if string.utf8.contains(0) { throw .invalid("text", "text contains a NUL byte") }
            text = string
        }
        var submit: Bool?
        if let value = json["submit"], !value.isNull {
            guard let flag = value.boolValue else { throw .invalid("submit", "submit must be a boolean, not \(value.typeName)") }
            submit = flag
        }
        if let value = json["status"], !value.isNull {
            guard let status = value.stringValue, status == "draft" || status == "submitted" else {
                throw .invalid("status", "status must be 'draft' or 'submitted'")
            }
            if let submit, submit != (status == "submitted") {
                throw .invalid("status", "status '\(status)' contradicts submit: \(submit); send one of them")
            }
            submit = status == "submitted"
        }
        self.submit = submit ?? false
        if self.submit && recommendation == nil {
            throw .invalid("recommendation", "submitting a scorecard needs a recommendation (strong_no, no, yes or strong_yes)")
        }
    }

    /// The scorecard this change makes of `previous` (nil: the author's first), as
    /// Lua/scorecard_put.lua makes it in Redis; the archived record's writes use this. Throws a
    /// conflict for a submitted scorecard sent back to draft.
    public func applied(to previous: JSON?, authorID: String, authorName: String, now: Int64) throws(InterviewError) -> JSON {
        var card: JSON = previous ?? ["author_id": .string(authorID), "author_name": .string(authorName), "status": "draft",
                                      "created_at": .integer(Int(now)), "amendments": 0]
        if card["status"]?.stringValue == "submitted" {
            guard submit else {
                throw InterviewError(.conflict, "your scorecard is submitted and cannot return to draft; to amend it, PUT it again "
                                     + "with \"submit\": true (the amendment is recorded)")
            }
            card.set("amendments", .integer((card["amendments"]?.intValue ?? 0) + 1))
            card.set("amended_at", .integer(Int(now)))
        } else if submit {
            card.set("status", "submitted")
            card.set("submitted_at", .integer(Int(now)))
        }
        for (key, value) in contentsJSON.objectValue ?? [] { card.set(key, value) }
        card.set("updated_at", .integer(Int(now)))
        return card
    }

    /// The contents as the script stores them (it adds the author, status and times).
    public var contentsJSON: JSON {
        ["recommendation": recommendation.map { .string($0.rawValue) } ?? .null,
         "ratings": .object(ratings.map { (key: $0.id, value: JSON.integer($0.value)) }),
         "text": .string(text)]
    }
}

/// Who may see which scorecards (GET /sessions/{id}/scorecards). Stored scorecards are JSON
/// objects with author_id, author_name, status (draft|submitted), recommendation, ratings, text,
/// created_at, updated_at, submitted_at, amendments.
public enum ScorecardVisibility {
    /// What a viewer sees: `viewer` is an author id (an interviewer), nil for the admin.
    /// An interviewer sees their own scorecard (draft or not); the others' submitted ones only
    /// once their own is submitted; never anyone's draft. The admin sees every submitted one.
    public static func view(_ cards: [JSON], viewer: String?) -> (visible: [JSON], submitted: [JSON], unlocked: Bool) {
        let sorted = cards.sorted { ($0["created_at"]?.intValue ?? 0, $0["author_id"]?.stringValue ?? "")
            < ($1["created_at"]?.intValue ?? 0, $1["author_id"]?.stringValue ?? "") }
        let submitted = sorted.filter { $0["status"]?.stringValue == "submitted" }
        let who = submitted.map { card -> JSON in
            ["author_id": card["author_id"] ?? .null, "author_name": card["author_name"] ?? .null, "submitted_at": card["submitted_at"] ?? .null]
        }
        guard let viewer else { return (submitted, who, true) }
        let mine = sorted.first { $0["author_id"]?.stringValue == viewer }
        let unlocked = mine?["status"]?.stringValue == "submitted"
        let visible = unlocked ? submitted : (mine.map { [$0] } ?? [])
        return (visible, who, unlocked)
    }
}
