import Interview
import Stores
import JSON
import XCTest

/// A question's parsing and bounds (every failure names its field), its two views (a candidate's
/// never has a hidden case), and the stored forms read back.
final class QuestionTests: XCTestCase {
    private let valid: JSON = [
        "title": "Sum", "prompt": "Add **two** numbers",
        "starter_code": ["python": "print()\n", "go": "package main\n"],
        "tests": [
            ["name": "small", "stdin": "1 2\n", "expected_stdout": "3\n"],
            ["name": "secret", "stdin": "SECRET-IN", "expected_stdout": "SECRET-OUT", "hidden": true],
        ],
    ]

    private func with(_ key: String, _ value: JSON?) -> JSON {
        var members = valid.objectValue!.filter { $0.key != key }
        if let value { members.append((key: key, value: value)) }
        return .object(members)
    }

    private func failure(_ json: JSON, limits: Question.Limits = Question.Limits()) -> InterviewError? {
        do {
            _ = try Question(json: json, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    func testAValidQuestionKeepsEverythingInOrder() throws {
        let question = try Question(json: valid)
        XCTAssertEqual(question.title, "Sum")
        XCTAssertEqual(question.starterCode.map(\.language), ["python", "go"])
        XCTAssertEqual(question.starterCode(for: "go"), "package main\n")
        XCTAssertNil(question.starterCode(for: "java"))
        XCTAssertEqual(question.tests, [TestCase(name: "small", stdin: "1 2\n", expectedStdout: "3\n", hidden: false),
                                        TestCase(name: "secret", stdin: "SECRET-IN", expectedStdout: "SECRET-OUT", hidden: true)])
        // Only the title is required.
        let bare = try Question(json: ["title": "Just a title"])
        XCTAssertEqual(bare.prompt, "")
        XCTAssertTrue(bare.starterCode.isEmpty && bare.tests.isEmpty)
    }

    func testEveryBadFieldIsNamed() {
        let small = { () -> Question.Limits in
            var limits = Question.Limits()
            limits.tests = 2
            limits.testBytes = 10
            return limits
        }()
        let cases: [(JSON, Question.Limits, InterviewError.Kind, String)] = [
            (.array([]), Question.Limits(), .invalid, ""),
            (with("title", nil), Question.Limits(), .invalid, "title"),
            (with("title", "  "), Question.Limits(), .invalid, "title"),
            (with("title", 3), Question.Limits(), .invalid, "title"),
            (with("title", .string(String(repeating: "t", count: 201))), Question.Limits(), .tooLarge, "title"),
            (with("title", "a\u{0}b"), Question.Limits(), .invalid, "title"),
            (with("prompt", .string(String(repeating: "p", count: 64 * 1024 + 1))), Question.Limits(), .tooLarge, "prompt"),
            (with("starter_code", "x"), Question.Limits(), .invalid, "starter_code"),
            (with("starter_code", ["cobol": "x"]), Question.Limits(), .invalid, "starter_code.cobol"),
            (with("starter_code", .object([(key: "python", value: "a"), (key: "python", value: "b")])), Question.Limits(), .invalid, "starter_code.python"),
            (with("starter_code", ["python": .string(String(repeating: "s", count: 64 * 1024 + 1))]), Question.Limits(), .tooLarge, "starter_code.python"),
            (with("tests", "x"), Question.Limits(), .invalid, "tests"),
            (with("tests", [["name": "a", "expected_stdout": ""], ["name": "b", "expected_stdout": ""], ["name": "c", "expected_stdout": ""]]), small, .tooLarge, "tests"),
            (with("tests", [1]), Question.Limits(), .invalid, "tests[0]"),
            (with("tests", [["expected_stdout": ""]]), Question.Limits(), .invalid, "tests[0].name"),
            (with("tests", [["name": "a", "expected_stdout": ""], ["name": "a", "expected_stdout": ""]]), Question.Limits(), .invalid, "tests[1].name"),
            (with("tests", [["name": .string(String(repeating: "n", count: 101)), "expected_stdout": ""]]), Question.Limits(), .tooLarge, "tests[0].name"),
            (with("tests", [["name": "a", "stdin": false, "expected_stdout": ""]]), Question.Limits(), .invalid, "tests[0].stdin"),
            (with("tests", [["name": "a"]]), Question.Limits(), .invalid, "tests[0].expected_stdout"),
            (with("tests", [["name": "a", "expected_stdout": "", "hidden": "no"]]), Question.Limits(), .invalid, "tests[0].hidden"),
            (with("tests", [["name": "a", "stdin": "12345", "expected_stdout": "12345"], ["name": "b", "expected_stdout": "x"]]), small, .tooLarge, "tests[1]"),
        ]
        for (json, limits, kind, field) in cases {
            guard let error = failure(json, limits: limits) else {
                XCTFail("accepted \(json.text.prefix(120))")
                continue
            }
            XCTAssertEqual(error.kind, kind, "\(field): \(error.detail)")
            XCTAssertEqual(error.field ?? "", field, error.detail)
            XCTAssertFalse(error.detail.isEmpty)
        }
    }

    func testACandidatesViewHasNoHiddenCase() throws {
        let question = SessionQuestion(question: try Question(json: valid), sourceQuestionID: "q_0123456789abcdef01234567", updatedAt: 1234)
        let candidate = question.json(forInterviewer: false)
        XCTAssertFalse(candidate.text.contains("SECRET"), candidate.text)
        XCTAssertEqual(candidate["tests"]?.arrayValue?.count, 1)
        XCTAssertEqual(candidate["hidden_test_count"]?.intValue, 1)
        XCTAssertNil(candidate["source_question_id"])
        XCTAssertEqual(candidate["starter_code"]?["go"]?.stringValue, "package main\n")
        let interviewer = question.json(forInterviewer: true)
        XCTAssertEqual(interviewer["tests"]?.arrayValue?.count, 2)
        XCTAssertEqual(interviewer["hidden_test_count"]?.intValue, 1)
        XCTAssertEqual(interviewer["source_question_id"]?.stringValue, "q_0123456789abcdef01234567")
        // updated_at comes last: the script appends it to the views built without it.
        XCTAssertEqual(interviewer.objectValue?.last?.key, "updated_at")
        var unstamped = question
        unstamped.updatedAt = nil
        let text = unstamped.json(forInterviewer: true).text
        XCTAssertEqual(String(text.dropLast()) + ",\"updated_at\":1234}", interviewer.text)
    }

    func testTheStoredFormsReadBack() throws {
        let session = SessionQuestion(question: try Question(json: valid), sourceQuestionID: nil, updatedAt: 99)
        let read = try XCTUnwrap(SessionQuestion(stored: try JSON.parse(session.json(forInterviewer: true).text)))
        XCTAssertEqual(read.question, session.question)
        XCTAssertEqual(read.updatedAt, 99)
        XCTAssertNil(read.sourceQuestionID)
        XCTAssertNil(SessionQuestion(stored: ["title": 5]))

        // The library's record, as library_save.lua writes it: id and times in front.
        let stored = #"{"id":"q_00112233445566778899aabb","created_at":10,"updated_at":20,"# + String(try Question(json: valid).json.text.dropFirst())
        let library = try XCTUnwrap(LibraryQuestion(stored: try JSON.parse(stored)))
        XCTAssertEqual(library.id, "q_00112233445566778899aabb")
        XCTAssertEqual(library.createdAt, 10)
        XCTAssertEqual(library.updatedAt, 20)
        XCTAssertEqual(library.json["tests"]?.arrayValue?.count, 2)
        XCTAssertEqual(library.json.objectValue?.first?.key, "id")
        XCTAssertEqual(library.question.summary.text,
                       #"{"title":"Sum","languages":["python","go"],"test_count":2,"hidden_test_count":1}"#)
    }

    func testQuestionIDs() {
        let id = LibraryQuestion.newID()
        XCTAssertTrue(LibraryQuestion.isID(id), id)
        XCTAssertNotEqual(id, LibraryQuestion.newID())
        for bad in ["", "q_", "q_0123456789abcdef0123456", "q_0123456789ABCDEF01234567", "j_0123456789abcdef01234567",
                    "q_0123456789abcdef012345678", "q_../../../../../../../etc"] {
            XCTAssertFalse(LibraryQuestion.isID(bad), bad)
        }
    }
}
