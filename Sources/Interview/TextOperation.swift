import JSON

/// A text operation in ot.js form: a list of retain(n), insert(text), delete(n) that walks the
/// whole document. Lengths count Unicode scalars (code points), as ShareDB's text-unicode does:
/// a client in JavaScript counts with `Array.from(text).length`, in Python with `len(text)`.
///
/// On the wire it is a JSON array: a positive integer retains, a negative one deletes, a string
/// inserts. A trailing retain may be left out.
public struct TextOperation: Sendable, Equatable {
    public enum Component: Sendable, Equatable {
        case retain(Int)
        case insert(String, scalars: Int)
        case delete(Int)
    }

    public private(set) var components: [Component] = []
    /// Length of the document the operation applies to.
    public private(set) var baseLength = 0
    /// Length of the document it produces.
    public private(set) var targetLength = 0

    public init() {}

    public init(components: [Component]) {
        for component in components {
            switch component {
            case .retain(let n): retain(n)
            case .insert(let text, _): insert(text)
            case .delete(let n): delete(n)
            }
        }
    }

    /// No document is longer than this many characters; larger counts are refused before any
    /// arithmetic, so no input can overflow the lengths.
    public static let maxCount = 1 << 32

    /// Parses the wire form; `maxComponents` bounds the work one message can cause.
    public init(json: JSON, maxComponents: Int = 10_000) throws(InterviewError) {
        guard let items = json.arrayValue else { throw .invalid("ops", "ops must be an array") }
        guard items.count <= maxComponents else { throw .invalid("ops", "ops has more than \(maxComponents) components") }
        for item in items {
            if let text = item.stringValue {
                guard !text.isEmpty else { throw .invalid("ops", "an insert must not be empty") }
                insert(text)
            } else if let n = item.intValue {
                guard n != 0 else { throw .invalid("ops", "0 is neither a retain nor a delete") }
                guard n.magnitude <= UInt(Self.maxCount) else {
                    throw .invalid("ops", "a retain or delete of \(n) characters is longer than any document")
                }
                if n > 0 { retain(n) } else { delete(-n) }
            } else {
                throw .invalid("ops", "each op component must be an integer or a string, not \(item.typeName)")
            }
        }
    }

    public var json: JSON {
        .array(components.map { component in
            switch component {
            case .retain(let n): return .integer(n)
            case .insert(let text, _): return .string(text)
            case .delete(let n): return .integer(-n)
            }
        })
    }

    /// True when it changes nothing.
    public var isNoop: Bool { components.allSatisfy { if case .retain = $0 { return true } else { return false } } }

    public mutating func retain(_ n: Int) {
        guard n > 0 else { return }
        baseLength += n
        targetLength += n
        if case .retain(let last)? = components.last {
            components[components.count - 1] = .retain(last + n)
        } else {
            components.append(.retain(n))
        }
    }

    public mutating func insert(_ text: String) {
        guard !text.isEmpty else { return }
        let count = text.unicodeScalars.count
        targetLength += count
        // Keep inserts before deletes at the same spot, so equal operations look the same.
        switch components.last {
        case .insert(let previous, let scalars)?:
            components[components.count - 1] = .insert(previous + text, scalars: scalars + count)
        case .delete(let n)?:
            if components.count >= 2, case .insert(let previous, let scalars) = components[components.count - 2] {
                components[components.count - 2] = .insert(previous + text, scalars: scalars + count)
            } else {
                components[components.count - 1] = .insert(text, scalars: count)
                components.append(.delete(n))
            }
        default:
            components.append(.insert(text, scalars: count))
        }
    }

    public mutating func delete(_ n: Int) {
        guard n > 0 else { return }
        baseLength += n
        if case .delete(let last)? = components.last {
            components[components.count - 1] = .delete(last + n)
        } else {
            components.append(.delete(n))
        }
    }

    /// The same operation, retaining to `length` when its trailing retain was left out.
    public func padded(to length: Int) -> TextOperation {
        var copy = self
        copy.retain(length - baseLength)
        return copy
    }

    /// The same operation without its trailing retain (the form a commit sends: the script
    /// writes out the document's real tail).
    public var withoutTrailingRetain: TextOperation {
        guard case .retain? = components.last else { return self }
        return TextOperation(components: Array(components.dropLast()))
    }

    /// UTF-8 bytes it inserts.
    public var insertedBytes: Int {
        components.reduce(0) { if case .insert(let text, _) = $1 { return $0 + text.utf8.count } else { return $0 } }
    }

    /// Scalars it deletes.
    public var deletedCount: Int {
        components.reduce(0) { if case .delete(let n) = $1 { return $0 + n } else { return $0 } }
    }

    /// ot.js' compose: the one operation that does `a` then `b` (`b` applies to `a`'s result). A
    /// reader composes a run of logged ops and applies the result once: the text is copied once,
    /// not once per op.
    public static func compose(_ a: TextOperation, _ b: TextOperation) throws(InterviewError) -> TextOperation {
        guard a.targetLength == b.baseLength else {
            throw .invalid("ops", "the second operation spans \(b.baseLength) characters but the first leaves \(a.targetLength)")
        }
        var out = TextOperation()
        var i = 0, j = 0
        var x: Component? = a.components.first
        var y: Component? = b.components.first
        func nextA() { i += 1; x = i < a.components.count ? a.components[i] : nil }
        func nextB() { j += 1; y = j < b.components.count ? b.components[j] : nil }
        func split(_ text: String, _ n: Int) -> (String, String) {
            let scalars = text.unicodeScalars
            let cut = scalars.index(scalars.startIndex, offsetBy: n)
            return (String(scalars[..<cut]), String(scalars[cut...]))
        }
        while x != nil || y != nil {
            if case .delete(let n)? = x {
                out.delete(n)
                nextA()
                continue
            }
            if case .insert(let text, _)? = y {
                out.insert(text)
                nextB()
                continue
            }
            guard let left = x, let right = y else { throw .invalid("ops", "operations of different lengths cannot be composed") }
            switch (left, right) {
            case (.retain(let m), .retain(let n)):
                out.retain(min(m, n))
                if m > n { x = .retain(m - n); nextB() } else if m < n { y = .retain(n - m); nextA() } else { nextA(); nextB() }
            case (.insert(let text, let m), .delete(let n)):
                if m > n { let rest = split(text, n).1; x = .insert(rest, scalars: m - n); nextB() }
                else if m < n { y = .delete(n - m); nextA() } else { nextA(); nextB() }
            case (.insert(let text, let m), .retain(let n)):
                if m > n {
                    let (head, rest) = split(text, n)
                    out.insert(head)
                    x = .insert(rest, scalars: m - n)
                    nextB()
                } else {
                    out.insert(text)
                    if m < n { y = .retain(n - m); nextA() } else { nextA(); nextB() }
                }
            case (.retain(let m), .delete(let n)):
                out.delete(min(m, n))
                if m > n { x = .retain(m - n); nextB() } else if m < n { y = .delete(n - m); nextA() } else { nextA(); nextB() }
            default:
                throw .invalid("ops", "operations cannot be composed")
            }
        }
        return out
    }

    /// Applies the operation to a document of exactly `baseLength` scalars.
    public func apply(_ text: String) throws(InterviewError) -> String {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == baseLength else {
            throw .invalid("ops", "the operation spans \(baseLength) characters but the document has \(scalars.count)")
        }
        var out = String.UnicodeScalarView()
        var index = 0
        for component in components {
            switch component {
            case .retain(let n):
                out.append(contentsOf: scalars[index..<index + n])
                index += n
            case .insert(let inserted, _):
                out.append(contentsOf: inserted.unicodeScalars)
            case .delete(let n):
                index += n
            }
        }
        return String(out)
    }

    /// ot.js' transform: for concurrent `a` and `b` on one document, returns (a', b') with
    /// apply(apply(d, a), b') == apply(apply(d, b), a'). At the same position `a`'s insert goes first.
    public static func transform(_ a: TextOperation, _ b: TextOperation) throws(InterviewError) -> (TextOperation, TextOperation) {
        guard a.baseLength == b.baseLength else {
            throw .invalid("ops", "the operation spans \(a.baseLength) characters but the document had \(b.baseLength)")
        }
        var aPrime = TextOperation()
        var bPrime = TextOperation()
        var i = 0, j = 0
        var x: Component? = i < a.components.count ? a.components[i] : nil
        var y: Component? = j < b.components.count ? b.components[j] : nil
        func nextA() { i += 1; x = i < a.components.count ? a.components[i] : nil }
        func nextB() { j += 1; y = j < b.components.count ? b.components[j] : nil }
        while x != nil || y != nil {
            if case .insert(let text, _)? = x {
                aPrime.insert(text)
                bPrime.retain(text.unicodeScalars.count)
                nextA()
                continue
            }
            if case .insert(let text, _)? = y {
                aPrime.retain(text.unicodeScalars.count)
                bPrime.insert(text)
                nextB()
                continue
            }
            guard let left = x, let right = y else {
                throw .invalid("ops", "operations of different lengths cannot be transformed")
            }
            switch (left, right) {
            case (.retain(let m), .retain(let n)):
                let k = min(m, n)
                aPrime.retain(k)
                bPrime.retain(k)
                if m > n { x = .retain(m - n); nextB() } else if m < n { y = .retain(n - m); nextA() } else { nextA(); nextB() }
            case (.delete(let m), .delete(let n)):
                if m > n { x = .delete(m - n); nextB() } else if m < n { y = .delete(n - m); nextA() } else { nextA(); nextB() }
            case (.delete(let m), .retain(let n)):
                let k = min(m, n)
                aPrime.delete(k)
                if m > n { x = .delete(m - n); nextB() } else if m < n { y = .retain(n - m); nextA() } else { nextA(); nextB() }
            case (.retain(let m), .delete(let n)):
                let k = min(m, n)
                bPrime.delete(k)
                if m > n { x = .retain(m - n); nextB() } else if m < n { y = .delete(n - m); nextA() } else { nextA(); nextB() }
            default:
                throw .invalid("ops", "operations cannot be transformed")
            }
        }
        return (aPrime, bPrime)
    }
}
