import JSON

/// One test case of a question: the program gets `stdin` and must print `expectedStdout`.
/// A hidden case is the interviewers' alone: candidates see its name and its status, never its
/// input, its expected output or what the program printed for it.
public struct TestCase: Sendable, Equatable {
    public var name: String
    public var stdin: String
    public var expectedStdout: String
    public var hidden: Bool

    public init(name: String, stdin: String, expectedStdout: String, hidden: Bool) {
        self.name = name
        self.stdin = stdin
        self.expectedStdout = expectedStdout
        self.hidden = hidden
    }

    /// The whole case (interviewers, the job a runner gets).
    public var json: JSON {
        ["name": .string(name), "stdin": .string(stdin), "expected_stdout": .string(expectedStdout), "hidden": .bool(hidden)]
    }
}

/// A session's question, or one of the deployment's library: a title, a Markdown prompt,
/// starter code per language, and test cases.
public struct Question: Sendable, Equatable {
    public var title: String
    public var prompt: String
    /// Language id -> starter code, in the order given.
    public var starterCode: [(language: String, code: String)]
    public var tests: [TestCase]
    /// What interviewers rate on (Scorecard.swift); empty: the sessions use Rubric.standard.
    public var rubric: [RubricCriterion]

    public init(title: String, prompt: String, starterCode: [(language: String, code: String)], tests: [TestCase],
                rubric: [RubricCriterion] = []) {
        self.title = title
        self.prompt = prompt
        self.starterCode = starterCode
        self.tests = tests
        self.rubric = rubric
    }

    public static func == (lhs: Question, rhs: Question) -> Bool {
        lhs.title == rhs.title && lhs.prompt == rhs.prompt && lhs.tests == rhs.tests && lhs.rubric == rhs.rubric
            && lhs.starterCode.map(\.language) == rhs.starterCode.map(\.language)
            && lhs.starterCode.map(\.code) == rhs.starterCode.map(\.code)
    }

    /// The bounds every question is checked against (the same for a session's and the library's).
    public struct Limits: Sendable {
        public var titleBytes = 200
        public var promptBytes = 64 * 1024
        public var starterCodeBytes = 64 * 1024
        public var tests = 50
        public var testNameBytes = 100
        public var stdinBytes = 64 * 1024
        public var expectedStdoutBytes = 64 * 1024
        /// All tests' stdin and expected output together.
        public var testBytes = 1024 * 1024

        public init() {}
    }

    public func starterCode(for language: String) -> String? {
        starterCode.first { $0.language == language }?.code
    }

    /// The view for `interviewer`s (every test) or for candidates (the visible tests only, and how
    /// many are hidden).
    public func json(forInterviewer interviewer: Bool) -> JSON {
        let visible = interviewer ? tests : tests.filter { !$0.hidden }
        var out: JSON = ["title": .string(title), "prompt": .string(prompt),
                         "starter_code": .object(starterCode.map { (key: $0.language, value: JSON.string($0.code)) }),
                         "tests": .array(visible.map(\.json))]
        out.set("hidden_test_count", .integer(tests.count - tests.filter { !$0.hidden }.count))
        // Only a question with its own rubric carries one (earlier questions' JSON stays as it was).
        if interviewer && !rubric.isEmpty { out.set("rubric", .array(rubric.map(\.json))) }
        return out
    }

    /// The stored form (every test).
    public var json: JSON { json(forInterviewer: true) }

    /// Parses and checks a question body; every failure is a 422 (or 413) naming the field.
    public init(json: JSON, limits: Limits = Limits()) throws(InterviewError) {
        guard json.objectValue != nil else { throw .invalid("", "a question is a JSON object, not \(json.typeName)") }
        func string(_ value: JSON?, _ field: String, maxBytes: Int, required: Bool = true, nonEmpty: Bool = false) throws(InterviewError) -> String {
            guard let value, !value.isNull else {
                if required { throw .invalid(field, "\(field) is required") }
                return ""
            }
            guard let text = value.stringValue else { throw .invalid(field, "\(field) must be a string, not \(value.typeName)") }
            if text.utf8.count > maxBytes {
                throw InterviewError(.tooLarge, "\(field) is \(text.utf8.count) bytes; the limit is \(maxBytes) bytes", field: field)
            }
            if nonEmpty && text.allSatisfy(\.isWhitespace) { throw .invalid(field, "\(field) must not be empty") }
            if text.utf8.contains(0) { throw .invalid(field, "\(field) contains a NUL byte") }
            return text
        }
        title = try string(json["title"], "title", maxBytes: limits.titleBytes, nonEmpty: true)
        prompt = try string(json["prompt"], "prompt", maxBytes: limits.promptBytes, required: false)
        starterCode = []
        if let starter = json["starter_code"], !starter.isNull {
            guard let members = starter.objectValue else {
                throw .invalid("starter_code", "starter_code must be an object of language id -> code, not \(starter.typeName)")
            }
            for (language, code) in members {
                let field = "starter_code.\(language)"
                guard Language.named(language) != nil else {
                    throw .invalid(field, "\(field): '\(language)' is not a language; the languages are \(Language.ids.joined(separator: ", "))")
                }
                guard !starterCode.contains(where: { $0.language == language }) else { throw .invalid(field, "\(field) is given twice") }
                starterCode.append((language, try string(code, field, maxBytes: limits.starterCodeBytes)))
            }
        }
        tests = []
        if let list = json["tests"], !list.isNull {
            guard let items = list.arrayValue else { throw .invalid("tests", "tests must be an array, not \(list.typeName)") }
            guard items.count <= limits.tests else {
                throw InterviewError(.tooLarge, "tests has \(items.count) cases; the limit is \(limits.tests)", field: "tests")
            }
            var bytes = 0
            for (index, item) in items.enumerated() {
                let path = "tests[\(index)]"
                guard item.objectValue != nil else { throw .invalid(path, "\(path) must be an object, not \(item.typeName)") }
                let name = try string(item["name"], "\(path).name", maxBytes: limits.testNameBytes, nonEmpty: true)
                guard !tests.contains(where: { $0.name == name }) else {
                    throw .invalid("\(path).name", "\(path).name '\(name)' is the name of an earlier case; names must be unique")
                }
                let stdin = try string(item["stdin"], "\(path).stdin", maxBytes: limits.stdinBytes, required: false)
                let expected = try string(item["expected_stdout"], "\(path).expected_stdout", maxBytes: limits.expectedStdoutBytes)
                var hidden = false
                if let flag = item["hidden"], !flag.isNull {
                    guard let value = flag.boolValue else { throw .invalid("\(path).hidden", "\(path).hidden must be a boolean, not \(flag.typeName)") }
                    hidden = value
                }
                bytes += stdin.utf8.count + expected.utf8.count
                guard bytes <= limits.testBytes else {
                    throw InterviewError(.tooLarge, "the tests' inputs and outputs pass \(limits.testBytes) bytes at \(path)", field: path)
                }
                tests.append(TestCase(name: name, stdin: stdin, expectedStdout: expected, hidden: hidden))
            }
        }
        rubric = try Rubric.parse(json["rubric"])
    }
}

extension Question {
    /// What the library's list shows of a question (no prompt, no code, no tests).
    public var summary: JSON {
        ["title": .string(title), "languages": .array(starterCode.map { .string($0.language) }),
         "test_count": .integer(tests.count), "hidden_test_count": .integer(tests.filter(\.hidden).count)]
    }
}

/// A session's question as `ci:{id}:question` holds it: the interviewers' view (every test), where
/// it was copied from, and when it was set (Redis' clock, stamped by Lua/question.lua).
public struct SessionQuestion: Sendable {
    public var question: Question
    /// The library question it was copied from (`PUT .../question {"from": id}`).
    public var sourceQuestionID: String?
    /// Nil only before the script stamps it.
    public var updatedAt: Int64?

    public init(question: Question, sourceQuestionID: String?, updatedAt: Int64?) {
        self.question = question
        self.sourceQuestionID = sourceQuestionID
        self.updatedAt = updatedAt
    }

    /// Reads the stored JSON; nil when it is not a question.
    public init?(stored: JSON) {
        guard let question = try? Question(json: stored) else { return nil }
        self.question = question
        sourceQuestionID = stored["source_question_id"]?.stringValue
        updatedAt = stored["updated_at"]?.doubleValue.map { Int64($0) }
    }

    /// The interviewers' view (also what is stored) or the candidates'. `updated_at` comes last:
    /// the script appends it to the views the gateway built, and a read builds the same bytes.
    public func json(forInterviewer interviewer: Bool) -> JSON {
        var out = question.json(forInterviewer: interviewer)
        if interviewer, let sourceQuestionID { out.set("source_question_id", .string(sourceQuestionID)) }
        if let updatedAt { out.set("updated_at", .integer(Int(updatedAt))) }
        return out
    }
}

/// A question of the deployment's library (`ci:{questions}:q:<id>`): the question, its id and times.
public struct LibraryQuestion: Sendable {
    public var id: String
    public var question: Question
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(id: String, question: Question, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.question = question
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Reads the stored JSON; nil when it is not a library question.
    public init?(stored: JSON) {
        guard let id = stored["id"]?.stringValue, let created = stored["created_at"]?.doubleValue,
              let updated = stored["updated_at"]?.doubleValue, let question = try? Question(json: stored) else { return nil }
        self.init(id: id, question: question, createdAt: Int64(created), updatedAt: Int64(updated))
    }

    /// The whole question, hidden tests included (the library is read by admins and interviewers only).
    public var json: JSON {
        var out: JSON = ["id": .string(id)]
        for (key, value) in question.json.objectValue ?? [] { out.set(key, value) }
        out.set("created_at", .integer(Int(createdAt)))
        out.set("updated_at", .integer(Int(updatedAt)))
        return out
    }

    /// An id: "q_" and 24 hex digits (96 random bits).
    public static func newID() -> String { "q_" + Identifiers.hex(Identifiers.randomBytes(12)) }

    public static func isID(_ text: String) -> Bool { Identifiers.isHexID(text, prefix: "q_", digits: 24) }
}
