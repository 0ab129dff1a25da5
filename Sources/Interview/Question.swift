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

    public init(title: String, prompt: String, starterCode: [(language: String, code: String)], tests: [TestCase]) {
        self.title = title
        self.prompt = prompt
        self.starterCode = starterCode
        self.tests = tests
    }

    public static func == (lhs: Question, rhs: Question) -> Bool {
        lhs.title == rhs.title && lhs.prompt == rhs.prompt && lhs.tests == rhs.tests
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
    }
}
