// A small JSON value type.
//
// - `JSON.parse` is a strict RFC 8259 parser that reads straight from a byte
//   buffer (see JSONParser.swift).
// - `serialize(into:)` writes compact RFC 8259 text into a byte buffer
//   (see JSONSerializer.swift).
//
// Objects keep their members in insertion order; duplicate keys are kept as
// parsed, and lookups (`subscript`) return the last one.

/// A JSON value.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    /// A number written without fraction or exponent that fits in `Int`.
    case integer(Int)
    /// Every other number.
    case double(Double)
    case string(String)
    case array([JSON])
    /// Object members in insertion order.
    case object([(key: String, value: JSON)])
}

/// A parse error: a short human-readable message and the byte offset (from the
/// start of the input, counting UTF-8 bytes) where the problem was found.
public struct JSONError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int

    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    /// For example "unexpected character 'x' at byte 12".
    public var description: String { "\(message) at byte \(offset)" }
}

// MARK: - Equatable

extension JSON: Equatable {
    /// Structural equality. Objects compare member by member, in order (so
    /// `{"a":1,"b":2}` != `{"b":2,"a":1}`); `.integer(1)` != `.double(1.0)`.
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null):
            return true
        case let (.bool(a), .bool(b)):
            return a == b
        case let (.integer(a), .integer(b)):
            return a == b
        case let (.double(a), .double(b)):
            return a == b
        case let (.string(a), .string(b)):
            return a == b
        case let (.array(a), .array(b)):
            return a == b
        case let (.object(a), .object(b)):
            guard a.count == b.count else { return false }
            for i in a.indices where a[i].key != b[i].key || a[i].value != b[i].value {
                return false
            }
            return true
        default:
            return false
        }
    }
}

// MARK: - Accessors

extension JSON {
    /// Object member lookup; the last of duplicate keys wins. `nil` for
    /// missing keys and for values that are not objects.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        var i = members.endIndex
        while i > members.startIndex {
            i -= 1
            if members[i].key == key { return members[i].value }
        }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// `.integer`, or a `.double` holding an exactly integral value in `Int` range.
    public var intValue: Int? {
        switch self {
        case .integer(let i): return i
        case .double(let d): return Int(exactly: d)
        default: return nil
        }
    }

    /// `.integer` (converted) or `.double`.
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [(key: String, value: JSON)]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The JSON type name, for error messages: "null", "boolean", "integer",
    /// "number", "string", "array" or "object".
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// On an object: replaces the value of an existing `key` in place (the
    /// last one, if the key is duplicated) or appends a new member.
    /// Does nothing on other values.
    public mutating func set(_ key: String, _ value: JSON) {
        guard case .object(var members) = self else { return }
        self = .null  // drop our reference so `members` is uniquely owned
        var i = members.endIndex
        var found = false
        while i > members.startIndex {
            i -= 1
            if members[i].key == key {
                members[i].value = value
                found = true
                break
            }
        }
        if !found { members.append((key: key, value: value)) }
        self = .object(members)
    }
}

// MARK: - Literals

extension JSON: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension JSON: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSON: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self = .integer(value) }
}

extension JSON: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSON: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSON: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
}

extension JSON: ExpressibleByDictionaryLiteral {
    /// Members in literal order; duplicate keys are kept (lookups return the last).
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var members: [(key: String, value: JSON)] = []
        members.reserveCapacity(elements.count)
        for (k, v) in elements { members.append((key: k, value: v)) }
        self = .object(members)
    }
}

// MARK: - Text

extension JSON: CustomStringConvertible {
    /// The compact serialization, same as `text`.
    public var description: String { text }
}
