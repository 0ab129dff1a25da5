import Foundation
import XCTest

import JSON

final class JSONTests: XCTestCase {

    // MARK: Helpers

    private func parse(_ text: String, maxDepth: Int = 64, file: StaticString = #filePath, line: UInt = #line) -> JSON? {
        do {
            return try JSON.parse(text, maxDepth: maxDepth)
        } catch {
            XCTFail("unexpected parse error for \(text.debugDescription): \(error)", file: file, line: line)
            return nil
        }
    }

    /// Asserts that parsing fails; optionally checks the offset and a message fragment.
    @discardableResult
    private func assertRejects(
        _ bytes: [UInt8], offset: Int? = nil, message: String? = nil, maxDepth: Int = 64,
        file: StaticString = #filePath, line: UInt = #line
    ) -> JSONError? {
        do {
            let value = try JSON.parse(bytes, maxDepth: maxDepth)
            XCTFail("expected rejection of \(String(decoding: bytes, as: UTF8.self).debugDescription), got \(value)",
                    file: file, line: line)
            return nil
        } catch {
            if let offset { XCTAssertEqual(error.offset, offset, "offset for \(error)", file: file, line: line) }
            if let message {
                XCTAssertTrue(error.message.contains(message), "\(error.message.debugDescription) lacks \(message.debugDescription)",
                              file: file, line: line)
            }
            XCTAssertTrue(error.description.hasSuffix(" at byte \(error.offset)"), file: file, line: line)
            return error
        }
    }

    @discardableResult
    private func assertRejects(
        _ text: String, offset: Int? = nil, message: String? = nil, maxDepth: Int = 64,
        file: StaticString = #filePath, line: UInt = #line
    ) -> JSONError? {
        assertRejects(Array(text.utf8), offset: offset, message: message, maxDepth: maxDepth, file: file, line: line)
    }

    private func roundTrip(_ value: JSON, file: StaticString = #filePath, line: UInt = #line) {
        let bytes = value.bytes
        do {
            let back = try JSON.parse(bytes)
            XCTAssertEqual(back, value, "round trip of \(String(decoding: bytes, as: UTF8.self))", file: file, line: line)
        } catch {
            XCTFail("round trip parse failed: \(error) for \(String(decoding: bytes, as: UTF8.self))", file: file, line: line)
        }
    }

    // MARK: Values

    func testScalars() {
        XCTAssertEqual(parse("null"), .null)
        XCTAssertEqual(parse("true"), .bool(true))
        XCTAssertEqual(parse("false"), .bool(false))
        XCTAssertEqual(parse("0"), .integer(0))
        XCTAssertEqual(parse("-0"), .integer(0))
        XCTAssertEqual(parse("42"), .integer(42))
        XCTAssertEqual(parse("-42"), .integer(-42))
        XCTAssertEqual(parse("\"hi\""), .string("hi"))
        XCTAssertEqual(parse(" \t\r\n 7 \t\r\n"), .integer(7))
    }

    func testNumbers() {
        XCTAssertEqual(parse("1.5"), .double(1.5))
        XCTAssertEqual(parse("-0.25"), .double(-0.25))
        XCTAssertEqual(parse("1e3"), .double(1000))
        XCTAssertEqual(parse("1E3"), .double(1000))
        XCTAssertEqual(parse("1e+3"), .double(1000))
        XCTAssertEqual(parse("25e-2"), .double(0.25))
        XCTAssertEqual(parse("0.1"), .double(0.1))
        XCTAssertEqual(parse("3.0"), .double(3.0))
        XCTAssertEqual(parse("1.7976931348623157e308"), .double(.greatestFiniteMagnitude))
        XCTAssertEqual(parse("5e-324"), .double(.leastNonzeroMagnitude))
        XCTAssertEqual(parse("1e-400"), .double(0))
        XCTAssertEqual(parse("0.30000000000000004"), .double(0.30000000000000004))
        XCTAssertEqual(parse("123456789012345678901234567890"), .double(123456789012345678901234567890.0))
        XCTAssertEqual(parse("9007199254740993"), .integer(9007199254740993))
        XCTAssertEqual(parse("9007199254740993.0"), .double(9007199254740992))  // correctly rounded
        XCTAssertEqual(parse("\(Int.max)"), .integer(.max))
        XCTAssertEqual(parse("\(Int.min)"), .integer(.min))
        XCTAssertEqual(parse("9223372036854775808"), .double(9223372036854775808.0))  // Int.max + 1
        XCTAssertEqual(parse("-9223372036854775809"), .double(-9223372036854775809.0))
        XCTAssertEqual(parse("18446744073709551616"), .double(18446744073709551616.0))
        if case .double(let d) = parse("-0.0") {
            XCTAssertEqual(d, 0)
            XCTAssertEqual(d.sign, .minus)
        } else {
            XCTFail("-0.0 should be a double")
        }
        assertRejects("1e400", offset: 0, message: "number out of range")
        assertRejects("-1e400", offset: 0, message: "number out of range")
    }

    func testEveryValueTypeRoundTrips() {
        let values: [JSON] = [
            .null, .bool(true), .bool(false), .integer(0), .integer(-1), .integer(.max), .integer(.min),
            .double(0.5), .double(-1.25e-7), .double(1.0), .double(-3.0), .double(1e16), .double(1e300),
            .double(.leastNonzeroMagnitude), .double(.greatestFiniteMagnitude), .double(0.1),
            .string(""), .string("plain"), .string("quote \" backslash \\ slash /"),
            .string("ctl \u{0}\u{1}\u{1f}\n\r\t\u{8}\u{c}\u{7f}"),
            .string("héllo wörld ✓ 日本語 😀👩‍👩‍👧"),
            .array([]), .array([1, "two", 3.5, nil, true, [[]], [:]]),
            .object([]), ["a": 1, "b": ["c": [1, 2, ["d": nil]]], "": "empty key"],
        ]
        for value in values {
            roundTrip(value)
            roundTrip([value])
            roundTrip(["k": value])
        }
    }

    func testSerializerOutput() {
        XCTAssertEqual(JSON.null.text, "null")
        XCTAssertEqual(JSON.bool(true).text, "true")
        XCTAssertEqual(JSON.bool(false).text, "false")
        XCTAssertEqual(JSON.integer(0).text, "0")
        XCTAssertEqual(JSON.integer(7).text, "7")
        XCTAssertEqual(JSON.integer(-7).text, "-7")
        XCTAssertEqual(JSON.integer(1234567890).text, "1234567890")
        XCTAssertEqual(JSON.integer(.max).text, "9223372036854775807")
        XCTAssertEqual(JSON.integer(.min).text, "-9223372036854775808")
        XCTAssertEqual(JSON.double(1).text, "1.0")
        XCTAssertEqual(JSON.double(-3).text, "-3.0")
        XCTAssertEqual(JSON.double(0.1).text, "0.1")
        XCTAssertEqual(JSON.double(1.5).text, "1.5")
        XCTAssertEqual(JSON.double(1e16).text, "1e+16")
        XCTAssertEqual(JSON.double(.leastNonzeroMagnitude).text, "5e-324")
        XCTAssertEqual(JSON.double(.nan).text, "null")
        XCTAssertEqual(JSON.double(.infinity).text, "null")
        XCTAssertEqual(JSON.double(-.infinity).text, "null")
        XCTAssertEqual(JSON.array([1, 2.5, "x", nil, false]).text, #"[1,2.5,"x",null,false]"#)
        XCTAssertEqual((["b": 1, "a": [true], "c": [:]] as JSON).text, #"{"b":1,"a":[true],"c":{}}"#)
        XCTAssertEqual(JSON.array([]).text, "[]")
        XCTAssertEqual(JSON.object([]).text, "{}")

        // serialize(into:) appends.
        var buffer: [UInt8] = Array("prefix:".utf8)
        JSON.array([1]).serialize(into: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "prefix:[1]")
    }

    func testSerializerEscaping() {
        XCTAssertEqual(JSON.string("a\"b\\c/d").text, #""a\"b\\c/d""#)
        XCTAssertEqual(JSON.string("\n\r\t\u{8}\u{c}").text, #""\n\r\t\b\f""#)
        XCTAssertEqual(JSON.string("\u{0}\u{1}\u{1f}\u{b}").text, #""\u0000\u0001\u001f\u000b""#)
        XCTAssertEqual(JSON.string("\u{7f} \u{20}").text, "\"\u{7f}  \"")
        // Non-ASCII is written as raw UTF-8.
        XCTAssertEqual(JSON.string("é😀\u{2028}").bytes, [0x22, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0xE2, 0x80, 0xA8, 0x22])
        XCTAssertEqual((["k\"\n": "v"] as JSON).text, #"{"k\"\n":"v"}"#)
        // Every control character round trips.
        var all = ""
        for c in 0..<0x20 { all.unicodeScalars.append(Unicode.Scalar(UInt8(c))) }
        let text = JSON.string(all).text
        XCTAssertFalse(text.utf8.contains { $0 < 0x20 })
        XCTAssertEqual(try JSON.parse(text), .string(all))
        // Foundation agrees with our output.
        let decoded = try? JSONSerialization.jsonObject(with: Data(JSON.string(all).bytes), options: [.fragmentsAllowed])
        XCTAssertEqual(decoded as? String, all)
    }

    // MARK: Strings and Unicode

    func testStringEscapes() {
        XCTAssertEqual(parse(#""\"\\\/\b\f\n\r\t""#), .string("\"\\/\u{8}\u{c}\n\r\t"))
        XCTAssertEqual(parse(#""\u0041\u00e9\u4e2D\u0000""#), .string("Aé中\u{0}"))
        XCTAssertEqual(parse(#""a\nb""#), .string("a\nb"))
        XCTAssertEqual(parse(#""\\""#), .string("\\"))
        XCTAssertEqual(parse(#""prefix \u00e9 middle \n suffix that is long enough""#),
                       .string("prefix é middle \n suffix that is long enough"))
    }

    func testUnicodeAndEmoji() {
        XCTAssertEqual(parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(parse(#""\uD83D\uDE00""#), .string("😀"))
        XCTAssertEqual(parse(#""x\ud83d\ude00y""#), .string("x😀y"))
        XCTAssertEqual(parse(#""\udbff\udfff""#), .string("\u{10FFFF}"))
        XCTAssertEqual(parse("\"😀 raw 👩‍👩‍👧 mixed\""), .string("😀 raw 👩‍👩‍👧 mixed"))
        XCTAssertEqual(parse("\"héllo — 日本語 \u{10FFFF}\""), .string("héllo — 日本語 \u{10FFFF}"))
        XCTAssertEqual(parse("{\"ключ\":\"значение\"}")?["ключ"], .string("значение"))
        XCTAssertEqual(JSON.string("😀").bytes, [0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22])
        // Long ASCII strings (exercise the 8-byte scan), with specials at every offset.
        for n in 0..<40 {
            let prefix = String(repeating: "a", count: n)
            XCTAssertEqual(parse("\"\(prefix)\""), .string(prefix))
            XCTAssertEqual(parse("\"\(prefix)\\n\(prefix)\""), .string("\(prefix)\n\(prefix)"))
            XCTAssertEqual(parse("\"\(prefix)é\(prefix)\""), .string("\(prefix)é\(prefix)"))
            assertRejects("\"\(prefix)\u{1}\(prefix)\"", offset: n + 1, message: "control character 0x01")
            assertRejects("\"\(prefix)", offset: 0, message: "unterminated string")
        }
    }

    // MARK: Objects and arrays

    func testContainers() {
        let value = parse(#" { "a" : [ 1 , 2 , { "b" : null } ] , "c" : { } , "d" : [ ] } "#)
        XCTAssertEqual(value, ["a": [1, 2, ["b": nil]], "c": [:], "d": []])
        XCTAssertEqual(value?["a"]?.arrayValue?.count, 3)
        XCTAssertEqual(value?["a"]?.arrayValue?[2]["b"], .null)
        XCTAssertEqual(value?["c"]?.objectValue?.count, 0)
        XCTAssertNil(value?["missing"])
        XCTAssertEqual(parse("[[[[]]]]"), [[[[]]]])
    }

    func testObjectOrderAndDuplicateKeys() throws {
        let value = try JSON.parse(#"{"z":1,"a":2,"z":3}"#)
        XCTAssertEqual(value.objectValue?.map(\.key), ["z", "a", "z"])
        XCTAssertEqual(value["z"], .integer(3))  // last duplicate wins
        XCTAssertEqual(value["a"], .integer(2))
        XCTAssertEqual(value.text, #"{"z":1,"a":2,"z":3}"#)

        // Order matters for equality.
        XCTAssertNotEqual(JSON.object([(key: "a", value: 1), (key: "b", value: 2)]),
                          JSON.object([(key: "b", value: 2), (key: "a", value: 1)]))
        XCTAssertEqual(JSON.object([(key: "a", value: 1)]), ["a": 1])
        XCTAssertNotEqual(JSON.object([(key: "a", value: 1)]), ["a": 2])
        XCTAssertNotEqual(JSON.object([(key: "a", value: 1)]), ["b": 1])
        XCTAssertNotEqual(JSON.object([(key: "a", value: 1)]), ["a": 1, "b": 1])
    }

    func testSet() {
        var value: JSON = ["a": 1, "b": 2]
        value.set("a", "one")        // replaced in place
        value.set("c", [true])       // appended
        XCTAssertEqual(value.text, #"{"a":"one","b":2,"c":[true]}"#)

        var dup = try! JSON.parse(#"{"k":1,"x":0,"k":2}"#)
        dup.set("k", 3)
        XCTAssertEqual(dup["k"], .integer(3))
        XCTAssertEqual(dup.objectValue?.count, 3)

        var notObject: JSON = [1, 2]
        notObject.set("a", 1)
        XCTAssertEqual(notObject, [1, 2])
        var null = JSON.null
        null.set("a", 1)
        XCTAssertEqual(null, .null)

        // Copies are independent.
        let original: JSON = ["a": 1]
        var copy = original
        copy.set("a", 2)
        XCTAssertEqual(original["a"], .integer(1))
        XCTAssertEqual(copy["a"], .integer(2))
    }

    // MARK: Accessors

    func testAccessors() {
        XCTAssertEqual(JSON.integer(3).intValue, 3)
        XCTAssertEqual(JSON.double(3.0).intValue, 3)
        XCTAssertEqual(JSON.double(-0.0).intValue, 0)
        XCTAssertNil(JSON.double(3.5).intValue)
        XCTAssertNil(JSON.double(1e300).intValue)
        XCTAssertNil(JSON.double(.nan).intValue)
        XCTAssertNil(JSON.string("3").intValue)

        XCTAssertEqual(JSON.integer(3).doubleValue, 3.0)
        XCTAssertEqual(JSON.double(3.5).doubleValue, 3.5)
        XCTAssertNil(JSON.bool(true).doubleValue)

        XCTAssertEqual(JSON.string("s").stringValue, "s")
        XCTAssertNil(JSON.integer(1).stringValue)
        XCTAssertEqual(JSON.bool(false).boolValue, false)
        XCTAssertNil(JSON.integer(0).boolValue)
        XCTAssertEqual(JSON.array([1]).arrayValue, [1])
        XCTAssertNil(JSON.object([]).arrayValue)
        XCTAssertEqual(JSON.object([(key: "a", value: 1)]).objectValue?.first?.key, "a")
        XCTAssertNil(JSON.array([]).objectValue)
        XCTAssertTrue(JSON.null.isNull)
        XCTAssertFalse(JSON.integer(0).isNull)
        XCTAssertNil(JSON.array([1])["0"])
        XCTAssertNil(JSON.string("a")["a"])

        XCTAssertEqual(JSON.null.typeName, "null")
        XCTAssertEqual(JSON.bool(true).typeName, "boolean")
        XCTAssertEqual(JSON.integer(1).typeName, "integer")
        XCTAssertEqual(JSON.double(1).typeName, "number")
        XCTAssertEqual(JSON.string("").typeName, "string")
        XCTAssertEqual(JSON.array([]).typeName, "array")
        XCTAssertEqual(JSON.object([]).typeName, "object")

        XCTAssertEqual(parse("3.0")?.intValue, 3)
        XCTAssertNil(parse("3.5")?.intValue)
    }

    func testLiterals() {
        let n: JSON = nil
        let b: JSON = true
        let i: JSON = 12
        let d: JSON = 1.5
        let s: JSON = "text"
        let a: JSON = [1, "x", nil]
        let o: JSON = ["z": 1, "a": [false], "m": ["n": 2.0]]
        XCTAssertEqual(n, .null)
        XCTAssertEqual(b, .bool(true))
        XCTAssertEqual(i, .integer(12))
        XCTAssertEqual(d, .double(1.5))
        XCTAssertEqual(s, .string("text"))
        XCTAssertEqual(a, .array([.integer(1), .string("x"), .null]))
        XCTAssertEqual(o.objectValue?.map(\.key), ["z", "a", "m"])  // literal order kept
        XCTAssertEqual(o["m"]?["n"], .double(2.0))
        XCTAssertEqual(o.description, #"{"z":1,"a":[false],"m":{"n":2.0}}"#)
        XCTAssertEqual("\(o)", o.text)
        XCTAssertNotEqual(JSON.integer(1), JSON.double(1))
    }

    // MARK: Rejections

    func testRejectsEmptyAndWhitespace() {
        assertRejects("", offset: 0, message: "unexpected end of input")
        assertRejects("   ", offset: 3, message: "unexpected end of input")
        assertRejects([UInt8](), offset: 0, message: "unexpected end of input")
        // Only space, tab, CR, LF count as whitespace.
        assertRejects("\u{0B}1", offset: 0, message: "unexpected byte 0x0b")
        assertRejects("\u{0C}1", offset: 0)
        assertRejects("\u{A0}1", offset: 0)
        assertRejects("[1,\u{0C}2]", offset: 3)
    }

    func testRejectsTrailingGarbage() {
        assertRejects("1 2", offset: 2, message: "trailing characters after the JSON value")
        assertRejects("{}x", offset: 2, message: "trailing characters")
        assertRejects("[] []", offset: 3)
        assertRejects("null,", offset: 4)
        assertRejects("\"a\"\"b\"", offset: 3)
        assertRejects([0x31, 0x00], offset: 1)
    }

    func testRejectsBadNumbers() {
        assertRejects("01", offset: 0, message: "leading zeros")
        assertRejects("-01", offset: 0, message: "leading zeros")
        assertRejects("00", offset: 0)
        assertRejects("-", offset: 1, message: "unexpected end of input")
        assertRejects("-x", offset: 1, message: "expected a digit after '-'")
        assertRejects("- 1", offset: 1)
        assertRejects("1.", offset: 2, message: "unexpected end of input")
        assertRejects("1.e5", offset: 2, message: "decimal point")
        assertRejects("[1.]", offset: 3, message: "decimal point")
        assertRejects(".5", offset: 0, message: "unexpected character '.'")
        assertRejects("+1", offset: 0, message: "unexpected character '+'")
        assertRejects("1e", offset: 2)
        assertRejects("1e+", offset: 3)
        assertRejects("[1e]", offset: 3, message: "exponent")
        assertRejects("1e+-1", offset: 3)
        assertRejects("0x10", offset: 1, message: "trailing")
        assertRejects("1_000", offset: 1)
        assertRejects("NaN", offset: 0, message: "unexpected character 'N'")
        assertRejects("Infinity", offset: 0, message: "unexpected character 'I'")
        assertRejects("-Infinity", offset: 1)
        assertRejects("[nan]", offset: 1, message: "invalid literal")
    }

    func testRejectsBadLiterals() {
        assertRejects("tru", offset: 3, message: "unexpected end of input")
        assertRejects("trux", offset: 0, message: "invalid literal, expected 'true'")
        assertRejects("nul", offset: 3)
        assertRejects("falsy", offset: 0, message: "expected 'false'")
        assertRejects("True", offset: 0, message: "unexpected character 'T'")
        assertRejects("nulll", offset: 4, message: "trailing")
        assertRejects("undefined", offset: 0)
    }

    func testRejectsBadStructure() {
        assertRejects("[1,]", offset: 3, message: "unexpected character ']'")
        assertRejects("[,1]", offset: 1)
        assertRejects("[1 2]", offset: 3, message: "expected ',' or ']' after array element")
        assertRejects("[1", offset: 2, message: "unexpected end of input")
        assertRejects("[", offset: 1, message: "unexpected end of input")
        assertRejects("]", offset: 0)
        assertRejects(#"{"a":1,}"#, offset: 7, message: "expected a string key")
        assertRejects(#"{"a":1 "b":2}"#, offset: 7, message: "expected ',' or '}' after object member")
        assertRejects(#"{"a" 1}"#, offset: 5, message: "expected ':' after object key")
        assertRejects(#"{"a":}"#, offset: 5)
        assertRejects(#"{a:1}"#, offset: 1, message: "expected a string key")
        assertRejects(#"{'a':1}"#, offset: 1)
        assertRejects(#"{1:1}"#, offset: 1)
        assertRejects(#"{"a":1"#, offset: 6, message: "unexpected end of input")
        assertRejects(#"{"a""#, offset: 4)
        assertRejects("{", offset: 1)
        assertRejects(#"{"a":1]"#, offset: 6)
        assertRejects(#"[1}"#, offset: 2)
        assertRejects("/* c */ 1", offset: 0)
    }

    func testRejectsBadStrings() {
        assertRejects(#""abc"#, offset: 0, message: "unterminated string")
        assertRejects(#"["abc"#, offset: 1, message: "unterminated string")
        assertRejects(#""abc\"#, offset: 0, message: "unterminated string")
        assertRejects(#""\q""#, offset: 1, message: #"invalid escape \q"#)
        assertRejects(#""ab\x41""#, offset: 3, message: #"invalid escape \x"#)
        assertRejects(#""\'""#, offset: 1)
        assertRejects(#""\a""#, offset: 1)
        assertRejects(#""\U0041""#, offset: 1)
        assertRejects(#""\u12""#, offset: 1, message: "4 hex digits")
        assertRejects(#""\u12G4""#, offset: 1, message: "4 hex digits")
        assertRejects(#""\u004"#, offset: 0, message: "unterminated string")
        assertRejects("\"a\nb\"", offset: 2, message: "unescaped control character 0x0a")
        assertRejects("\"a\tb\"", offset: 2, message: "unescaped control character 0x09")
        assertRejects("\"\u{0}\"", offset: 1)
        assertRejects("\"\u{1f}\"", offset: 1)
        assertRejects([0x22, 0x5C, 0xC3, 0xA9, 0x22], offset: 1, message: "invalid escape")
        assertRejects("'single'", offset: 0, message: "unexpected character '''")
    }

    func testRejectsLoneSurrogateEscapes() {
        assertRejects(#""\ud83d""#, offset: 1, message: #"unpaired surrogate \ud83d"#)
        assertRejects(#""ab\ud83dx""#, offset: 3, message: "unpaired surrogate")
        assertRejects(#""\ud83d\n""#, offset: 1, message: "unpaired surrogate")
        assertRejects(#""\ud83d\u0041""#, offset: 1, message: "unpaired surrogate")
        assertRejects(#""\ud83d\ud83d""#, offset: 1, message: "unpaired surrogate")
        assertRejects(#""\ude00""#, offset: 1, message: #"unpaired surrogate \ude00"#)
        assertRejects(#""\ude00\ud83d""#, offset: 1)
        assertRejects(#""\udfff""#, offset: 1)
        assertRejects(#""\ud800\u12""#, offset: 7, message: "4 hex digits")
    }

    func testRejectsInvalidUTF8() {
        func string(_ bytes: [UInt8]) -> [UInt8] { [0x22] + bytes + [0x22] }
        // Bytes that never appear in UTF-8.
        assertRejects(string([0xFF]), offset: 1, message: "invalid UTF-8 byte 0xff")
        assertRejects(string([0x61, 0xFE]), offset: 2, message: "invalid UTF-8 byte 0xfe")
        assertRejects(string([0xC0, 0x80]), offset: 1, message: "invalid UTF-8 byte 0xc0")  // overlong NUL
        assertRejects(string([0xC1, 0xBF]), offset: 1, message: "invalid UTF-8 byte 0xc1")
        assertRejects(string([0xF5, 0x80, 0x80, 0x80]), offset: 1, message: "invalid UTF-8 byte 0xf5")
        // Lone continuation byte.
        assertRejects(string([0x80]), offset: 1, message: "invalid UTF-8 byte 0x80")
        assertRejects(string([0x61, 0xBF]), offset: 2)
        // Overlongs.
        assertRejects(string([0xE0, 0x80, 0xAF]), offset: 1, message: "overlong")
        assertRejects(string([0xE0, 0x9F, 0xBF]), offset: 1, message: "overlong")
        assertRejects(string([0xF0, 0x80, 0x80, 0xAF]), offset: 1, message: "overlong")
        assertRejects(string([0xF0, 0x8F, 0xBF, 0xBF]), offset: 1, message: "overlong")
        // Surrogates encoded in UTF-8 (CESU-8 style).
        assertRejects(string([0xED, 0xA0, 0x80]), offset: 1, message: "surrogate")
        assertRejects(string([0xED, 0xBF, 0xBF]), offset: 1, message: "surrogate")
        assertRejects(string([0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]), offset: 1, message: "surrogate")
        // Beyond U+10FFFF.
        assertRejects(string([0xF4, 0x90, 0x80, 0x80]), offset: 1, message: "U+10FFFF")
        // Truncated sequences.
        assertRejects(string([0xC3]), offset: 1, message: "truncated UTF-8 sequence")
        assertRejects(string([0xE2, 0x82]), offset: 1, message: "truncated")
        assertRejects(string([0xF0, 0x9F, 0x98]), offset: 1, message: "truncated")
        assertRejects(string([0xF0, 0x9F, 0x98, 0x41]), offset: 1, message: "truncated")
        assertRejects([0x22, 0xF0, 0x9F], offset: 1, message: "truncated")
        assertRejects(string([0xE2, 0x82, 0xC3, 0xA9]), offset: 3, message: "invalid UTF-8 byte 0xc3")
        // Bad UTF-8 after an escape (slow path) and in keys.
        assertRejects(string([0x5C, 0x6E, 0xFF]), offset: 3, message: "invalid UTF-8")
        assertRejects([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D], offset: 2, message: "invalid UTF-8")
        // Outside strings.
        assertRejects([0xFF], offset: 0, message: "unexpected byte 0xff")
        assertRejects([0xEF, 0xBB, 0xBF, 0x31], offset: 0)  // BOM
        assertRejects([0x31, 0x20, 0xC3, 0xA9], offset: 2)
        // Boundary values that are valid.
        XCTAssertEqual(try JSON.parse(string([0xC2, 0x80])), .string("\u{80}"))
        XCTAssertEqual(try JSON.parse(string([0xDF, 0xBF])), .string("\u{7FF}"))
        XCTAssertEqual(try JSON.parse(string([0xE0, 0xA0, 0x80])), .string("\u{800}"))
        XCTAssertEqual(try JSON.parse(string([0xED, 0x9F, 0xBF])), .string("\u{D7FF}"))
        XCTAssertEqual(try JSON.parse(string([0xEE, 0x80, 0x80])), .string("\u{E000}"))
        XCTAssertEqual(try JSON.parse(string([0xEF, 0xBF, 0xBF])), .string("\u{FFFF}"))
        XCTAssertEqual(try JSON.parse(string([0xF0, 0x90, 0x80, 0x80])), .string("\u{10000}"))
        XCTAssertEqual(try JSON.parse(string([0xF4, 0x8F, 0xBF, 0xBF])), .string("\u{10FFFF}"))
    }

    func testDepthLimit() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        }
        XCTAssertNoThrow(try JSON.parse(nested(64)))
        assertRejects(nested(65), offset: 64, message: "nesting deeper than 64 levels")
        assertRejects(nested(100_000), offset: 64, message: "nesting deeper than 64 levels")
        XCTAssertNoThrow(try JSON.parse(nested(3), maxDepth: 3))
        assertRejects(nested(4), offset: 3, message: "nesting deeper than 3 levels", maxDepth: 3)
        assertRejects(#"{"a":{"b":{"c":{}}}}"#, offset: 15, message: "nesting deeper than 3 levels", maxDepth: 3)
        XCTAssertNoThrow(try JSON.parse(#"{"a":{"b":{"c":1}}}"#, maxDepth: 3))
        // Depth is nesting, not the number of containers.
        XCTAssertNoThrow(try JSON.parse("[[],[],[[]],{}]", maxDepth: 3))
        assertRejects("[]", offset: 0, maxDepth: 0)
        XCTAssertEqual(try JSON.parse("1", maxDepth: 0), .integer(1))
        // Mixed objects and arrays.
        let mixed = String(repeating: #"{"a":["#, count: 32) + String(repeating: "]}", count: 32)
        XCTAssertNoThrow(try JSON.parse(mixed))
        let deeper = "[" + mixed + "]"
        assertRejects(deeper, message: "nesting deeper than 64 levels")
    }

    func testErrorDescription() {
        let error = assertRejects("[1, x]", offset: 4)
        XCTAssertEqual(error?.message, "unexpected character 'x'")
        XCTAssertEqual(error?.description, "unexpected character 'x' at byte 4")
        XCTAssertEqual("\(JSONError(message: "m", offset: 3))", "m at byte 3")
        // Offsets count UTF-8 bytes.
        assertRejects("[\"é\", x]", offset: 7)
    }

    func testParseEntryPointsAgree() throws {
        let text = #"{"a":[1,2.5,"é😀\n",null,true]}"#
        let bytes = Array(text.utf8)
        let fromString = try JSON.parse(text)
        let fromBytes = try JSON.parse(bytes)
        let fromRaw = try bytes.withUnsafeBytes { raw in try JSON.parse(raw) }
        XCTAssertEqual(fromString, fromBytes)
        XCTAssertEqual(fromString, fromRaw)
        XCTAssertEqual(fromString.text, text)
        // A slice of a larger buffer: parses only the bytes given.
        let big = Array("xx[1,2]yy".utf8)
        let slice = try big.withUnsafeBytes { raw in try JSON.parse(UnsafeRawBufferPointer(rebasing: raw[2..<7])) }
        XCTAssertEqual(slice, [1, 2])
        // Substring-backed String.
        let sub = String("  [true]  ".dropFirst())
        XCTAssertEqual(try JSON.parse(sub), [true])
    }

    func testAgreesWithFoundationOnSample() throws {
        let text = #"{"id":"abc","n":12,"f":-1.5e-3,"list":[true,false,null,"\u00e9"],"nested":{"x":[{"y":"\"q\""}]}}"#
        let ours = try JSON.parse(text)
        let reserialized = try JSONSerialization.jsonObject(with: Data(ours.bytes)) as? NSDictionary
        let expected = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary
        XCTAssertEqual(reserialized, expected)
    }

    // MARK: Randomized round trip

    /// SplitMix64: small, deterministic, seedable.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private func randomString(_ rng: inout SeededGenerator) -> String {
        let pools: [ClosedRange<UInt32>] = [
            0x20...0x7E, 0x20...0x7E, 0x20...0x7E,  // mostly ASCII
            0x00...0x1F,                            // control characters
            0x22...0x22, 0x5C...0x5C,               // quote and backslash
            0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x1_0000...0x10_FFFF,
        ]
        var s = String.UnicodeScalarView()
        let length = Int.random(in: 0...(Bool.random(using: &rng) ? 6 : 40), using: &rng)
        for _ in 0..<length {
            let pool = pools.randomElement(using: &rng)!
            s.append(Unicode.Scalar(UInt32.random(in: pool, using: &rng))!)
        }
        return String(s)
    }

    private func randomDouble(_ rng: inout SeededGenerator) -> Double {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            while true {
                let d = Double(bitPattern: rng.next())
                if d.isFinite { return d }
            }
        case 1: return Double(Int.random(in: -1_000_000...1_000_000, using: &rng))  // integral doubles
        case 2: return Double.random(in: -1000...1000, using: &rng)
        default: return Double(Int.random(in: -99999...99999, using: &rng)) / 100
        }
    }

    private func randomJSON(_ rng: inout SeededGenerator, depth: Int) -> JSON {
        let kind = Int.random(in: 0..<(depth > 4 ? 6 : 8), using: &rng)
        switch kind {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2:
            return Bool.random(using: &rng)
                ? .integer(Int(bitPattern: UInt(rng.next())))
                : .integer(Int.random(in: -1000...1000, using: &rng))
        case 3: return .double(randomDouble(&rng))
        case 4, 5: return .string(randomString(&rng))
        case 6:
            let count = Int.random(in: 0...5, using: &rng)
            return .array((0..<count).map { _ in randomJSON(&rng, depth: depth + 1) })
        default:
            let count = Int.random(in: 0...5, using: &rng)
            var members: [(key: String, value: JSON)] = []
            for _ in 0..<count {
                // Occasionally reuse a key to produce duplicates.
                let key = !members.isEmpty && Int.random(in: 0..<8, using: &rng) == 0
                    ? members.randomElement(using: &rng)!.key
                    : randomString(&rng)
                members.append((key: key, value: randomJSON(&rng, depth: depth + 1)))
            }
            return .object(members)
        }
    }

    func testRandomizedRoundTrip() throws {
        var rng = SeededGenerator(state: 0x5EED_1234_ABCD)
        var totalBytes = 0
        for i in 0..<500 {
            let value = randomJSON(&rng, depth: 0)
            let bytes = value.bytes
            totalBytes += bytes.count
            let back: JSON
            do {
                back = try JSON.parse(bytes)
            } catch {
                XCTFail("value \(i): \(error) in \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            XCTAssertEqual(back, value, "value \(i): \(String(decoding: bytes, as: UTF8.self))")
            XCTAssertEqual(back.bytes, bytes, "value \(i) reserialized differently")
            // Foundation must accept everything we write.
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]),
                             "value \(i): \(String(decoding: bytes, as: UTF8.self))")
        }
        XCTAssertGreaterThan(totalBytes, 10_000)
    }

    /// Random byte mutations of valid documents must never crash; anything
    /// accepted must survive a round trip.
    func testRandomMutationsNeverCrash() {
        var rng = SeededGenerator(state: 42)
        for _ in 0..<300 {
            var bytes = randomJSON(&rng, depth: 0).bytes
            guard !bytes.isEmpty else { continue }
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                }
                if bytes.isEmpty { break }
            }
            if let value = try? JSON.parse(bytes) {
                XCTAssertEqual(try? JSON.parse(value.bytes), value)
            }
        }
    }
}
