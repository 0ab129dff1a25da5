import JSON
import XCTest
import Interview

/// The pure domain's text operations, without Redis: apply, compose and transform (ot.js'
/// semantics), on fixed cases and on random concurrent edits.
final class TextOperationTests: XCTestCase {
    func op(_ build: (inout TextOperation) -> Void) -> TextOperation {
        var o = TextOperation()
        build(&o)
        return o
    }

    func testApply() throws {
        let o = op { $0.retain(2); $0.insert("XY"); $0.delete(1); $0.retain(2) }
        XCTAssertEqual(try o.apply("abcde"), "abXYde")
        XCTAssertEqual(o.baseLength, 5)
        XCTAssertEqual(o.targetLength, 6)
        XCTAssertThrowsError(try o.apply("abc"), "a document of another length is refused")
    }

    func testApplyCountsUnicodeScalars() throws {
        let o = op { $0.retain(1); $0.insert("é"); $0.delete(1); $0.retain(1) }
        XCTAssertEqual(try o.apply("a😀b"), "aéb")
    }

    func testComposeIsOneThenTheOther() throws {
        let a = op { $0.retain(3); $0.insert("123") }
        let b = op { $0.delete(1); $0.retain(5); $0.insert("!") }
        let ab = try TextOperation.compose(a, b)
        XCTAssertEqual(try ab.apply("abc"), try b.apply(try a.apply("abc")))
        XCTAssertEqual(try ab.apply("abc"), "bc123!")
        XCTAssertThrowsError(try TextOperation.compose(a, a), "lengths that do not chain are refused")
    }

    func testTransformConverges() throws {
        let a = op { $0.retain(1); $0.insert("A"); $0.retain(2) }
        let b = op { $0.retain(1); $0.insert("B"); $0.delete(1); $0.retain(1) }
        let (a2, b2) = try TextOperation.transform(a, b)
        let left = try b2.apply(try a.apply("xyz"))
        let right = try a2.apply(try b.apply("xyz"))
        XCTAssertEqual(left, right)
        XCTAssertEqual(left, "xABz", "at the same position the first operation's insert goes first")
    }

    func testTransformAndComposeOnRandomEdits() throws {
        var generator = SystemRandomNumberGenerator()
        func randomOp(_ length: Int) -> TextOperation {
            var o = TextOperation()
            var left = length
            while left > 0 {
                let n = Int.random(in: 1...max(1, min(left, 4)), using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: o.retain(n); left -= n
                case 1: o.delete(n); left -= n
                default: o.insert(String(repeating: "é", count: Int.random(in: 1...3, using: &generator)))
                }
            }
            if Bool.random(using: &generator) { o.insert("z") }
            return o
        }
        for _ in 0..<300 {
            let text = String((0..<Int.random(in: 0..<12, using: &generator)).map { _ in "abc😀".randomElement(using: &generator)! })
            let length = text.unicodeScalars.count
            let a = randomOp(length), b = randomOp(length)
            let (a2, b2) = try TextOperation.transform(a, b)
            XCTAssertEqual(try b2.apply(try a.apply(text)), try a2.apply(try b.apply(text)), "transform of \(a) and \(b) on \(text)")
            let ab2 = try TextOperation.compose(a, b2)
            XCTAssertEqual(try ab2.apply(text), try b2.apply(try a.apply(text)), "compose of \(a) and \(b2) on \(text)")
        }
    }

    func testJSONRoundTrip() throws {
        let o = op { $0.retain(2); $0.insert("hi"); $0.delete(3) }
        XCTAssertEqual(try TextOperation(json: o.json), o)
    }
}
