// Strict RFC 8259 parser reading straight from a byte buffer.
//
// - Whitespace is only space, tab, CR and LF; exactly one value, nothing after it.
// - Numbers follow the RFC grammar exactly (no leading zeros, "+", ".5", "1.",
//   NaN or Infinity). Integers that fit in `Int` become `.integer`, every
//   other number `.double`; numbers too large for a Double are rejected.
// - Strings must be valid UTF-8 (no overlongs, no encoded surrogates, nothing
//   past U+10FFFF, no truncated sequences), contain no raw control characters,
//   and use only the RFC escapes; a \u high surrogate must be followed by a \u
//   low surrogate and a low surrogate may not stand alone.
// - Containers may nest at most `maxDepth` levels.
//
// Strings without escapes are validated in place and turned into a String
// with a single `String(decoding:as:)` over the input slice; strings with
// escapes are assembled in a reused scratch buffer.

extension JSON {
    /// Parses one JSON value from UTF-8 bytes.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONError) -> JSON {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw JSONError(message: "unexpected end of input", offset: 0)
        }
        var parser = JSONParser(
            base: base.assumingMemoryBound(to: UInt8.self), count: bytes.count, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// Parses one JSON value from UTF-8 bytes.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) -> JSON {
        var result: Result<JSON, JSONError> = .success(.null)
        bytes.withUnsafeBytes { raw in
            do throws(JSONError) {
                result = .success(try parse(raw, maxDepth: maxDepth))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses one JSON value from a string (offsets in errors count UTF-8 bytes).
    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSON {
        var text = text
        var result: Result<JSON, JSONError> = .success(.null)
        text.withUTF8 { utf8 in
            do throws(JSONError) {
                result = .success(try parse(UnsafeRawBufferPointer(utf8), maxDepth: maxDepth))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }
}

// Byte constants.
private let quote: UInt8 = 0x22       // "
private let backslash: UInt8 = 0x5C   // \
private let slash: UInt8 = 0x2F       // /
private let comma: UInt8 = 0x2C       // ,
private let colon: UInt8 = 0x3A       // :
private let minus: UInt8 = 0x2D       // -
private let plus: UInt8 = 0x2B        // +
private let dot: UInt8 = 0x2E         // .
private let zero: UInt8 = 0x30        // 0
private let openBracket: UInt8 = 0x5B   // [
private let closeBracket: UInt8 = 0x5D  // ]
private let openBrace: UInt8 = 0x7B     // {
private let closeBrace: UInt8 = 0x7D    // }

/// Exact powers of ten representable as Double (10^0 ... 10^22).
private let exactPowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]

/// Two lowercase hex digits, e.g. "0x1f".
private func hexByte(_ b: UInt8) -> String {
    let digits = String(b, radix: 16)
    return b < 0x10 ? "0x0" + digits : "0x" + digits
}

/// Four lowercase hex digits, e.g. "d83d".
private func hex4(_ v: UInt32) -> String {
    let digits = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

struct JSONParser {
    let base: UnsafePointer<UInt8>
    let end: Int
    let maxDepth: Int
    var pos = 0
    var depth = 0
    /// Offset of the opening quote of the string being parsed.
    var stringStart = 0
    /// Reused buffer for strings with escapes.
    var scratch: [UInt8] = []

    init(base: UnsafePointer<UInt8>, count: Int, maxDepth: Int) {
        self.base = base
        self.end = count
        self.maxDepth = maxDepth
    }

    // MARK: Errors

    @inline(never)
    func fail(_ message: String, at offset: Int) -> JSONError {
        JSONError(message: message, offset: offset)
    }

    /// The error for an unexpected byte at `offset` (or end of input).
    @inline(never)
    func unexpected(at offset: Int) -> JSONError {
        guard offset < end else { return fail("unexpected end of input", at: offset) }
        let b = base[offset]
        if b > 0x20 && b < 0x7F {
            return fail("unexpected character '\(Character(Unicode.Scalar(b)))'", at: offset)
        }
        return fail("unexpected byte \(hexByte(b))", at: offset)
    }

    // MARK: Structure

    mutating func parseDocument() throws(JSONError) -> JSON {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if pos < end {
            throw fail("trailing characters after the JSON value", at: pos)
        }
        return value
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < end {
            let b = base[pos]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 {
                pos += 1
            } else {
                return
            }
        }
    }

    /// Parses a value starting at `pos` (whitespace already skipped).
    mutating func parseValue() throws(JSONError) -> JSON {
        guard pos < end else { throw fail("unexpected end of input", at: pos) }
        switch base[pos] {
        case quote:
            return .string(try parseString())
        case openBrace:
            return try parseObject()
        case openBracket:
            return try parseArray()
        case minus, zero...0x39:
            return try parseNumber()
        case 0x74:  // t
            try parseLiteral("true")
            return .bool(true)
        case 0x66:  // f
            try parseLiteral("false")
            return .bool(false)
        case 0x6E:  // n
            try parseLiteral("null")
            return .null
        default:
            throw unexpected(at: pos)
        }
    }

    mutating func parseLiteral(_ literal: StaticString) throws(JSONError) {
        let start = pos
        let count = literal.utf8CodeUnitCount
        let expected = literal.utf8Start
        for i in 0..<count {
            guard start + i < end else { throw fail("unexpected end of input", at: start + i) }
            if base[start + i] != expected[i] {
                throw fail("invalid literal, expected '\(literal)'", at: start)
            }
        }
        pos = start + count
    }

    @inline(__always)
    mutating func enterContainer() throws(JSONError) {
        depth += 1
        if depth > maxDepth {
            throw fail("nesting deeper than \(maxDepth) levels", at: pos)
        }
    }

    mutating func parseArray() throws(JSONError) -> JSON {
        try enterContainer()
        pos += 1  // [
        skipWhitespace()
        var elements: [JSON] = []
        if pos < end && base[pos] == closeBracket {
            pos += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of input", at: pos) }
            let b = base[pos]
            pos += 1
            if b == comma { continue }
            if b == closeBracket { break }
            throw fail("expected ',' or ']' after array element", at: pos - 1)
        }
        depth -= 1
        return .array(elements)
    }

    mutating func parseObject() throws(JSONError) -> JSON {
        try enterContainer()
        pos += 1  // {
        skipWhitespace()
        var members: [(key: String, value: JSON)] = []
        if pos < end && base[pos] == closeBrace {
            pos += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of input", at: pos) }
            guard base[pos] == quote else {
                throw fail("expected a string key in object", at: pos)
            }
            let key = try parseString()
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of input", at: pos) }
            guard base[pos] == colon else {
                throw fail("expected ':' after object key", at: pos)
            }
            pos += 1
            skipWhitespace()
            let value = try parseValue()
            members.append((key: key, value: value))
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of input", at: pos) }
            let b = base[pos]
            pos += 1
            if b == comma { continue }
            if b == closeBrace { break }
            throw fail("expected ',' or '}' after object member", at: pos - 1)
        }
        depth -= 1
        return .object(members)
    }

    // MARK: Strings

    /// True if any of the 8 bytes is '"', '\', a control character or non-ASCII.
    @inline(__always)
    static func needsAttention(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- ones &* 0x20) & ~w & high       // some byte < 0x20
        let q = w ^ (ones &* UInt64(quote))
        let hasQuote = (q &- ones) & ~q & high              // some byte == '"'
        let s = w ^ (ones &* UInt64(backslash))
        let hasBackslash = (s &- ones) & ~s & high          // some byte == '\'
        return (w & high) | control | hasQuote | hasBackslash != 0
    }

    /// Parses a string starting at the opening quote at `pos`.
    mutating func parseString() throws(JSONError) -> String {
        stringStart = pos
        pos += 1
        var runStart = pos
        var escaped = false
        while true {
            // Skip plain ASCII eight bytes at a time.
            while end - pos >= 8 {
                let w = UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self)
                if JSONParser.needsAttention(w) { break }
                pos += 8
            }
            guard pos < end else { throw fail("unterminated string", at: stringStart) }
            let b = base[pos]
            if b == quote {
                let run = UnsafeBufferPointer(start: base + runStart, count: pos - runStart)
                pos += 1
                if !escaped {
                    return String(decoding: run, as: UTF8.self)
                }
                scratch.append(contentsOf: run)
                return String(decoding: scratch, as: UTF8.self)
            } else if b == backslash {
                if !escaped {
                    scratch.removeAll(keepingCapacity: true)
                    escaped = true
                }
                scratch.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: pos - runStart))
                try parseEscape()
                runStart = pos
            } else if b < 0x20 {
                throw fail("unescaped control character \(hexByte(b)) in string", at: pos)
            } else if b < 0x80 {
                pos += 1
            } else {
                try validateUTF8Sequence()
            }
        }
    }

    /// Validates one multi-byte UTF-8 sequence whose lead byte is at `pos`
    /// (RFC 3629 table) and moves past it.
    mutating func validateUTF8Sequence() throws(JSONError) {
        let start = pos
        let lead = base[pos]
        let continuationCount: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: continuationCount = 1
        case 0xE0: continuationCount = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: continuationCount = 2
        case 0xED: continuationCount = 2; high = 0x9F
        case 0xF0: continuationCount = 3; low = 0x90
        case 0xF1...0xF3: continuationCount = 3
        case 0xF4: continuationCount = 3; high = 0x8F
        default: throw fail("invalid UTF-8 byte \(hexByte(lead))", at: start)
        }
        for i in 1...continuationCount {
            let at = start + i
            guard at < end else { throw fail("truncated UTF-8 sequence", at: start) }
            let c = base[at]
            guard c >= 0x80 && c <= 0xBF else {
                if c < 0x80 { throw fail("truncated UTF-8 sequence", at: start) }
                throw fail("invalid UTF-8 byte \(hexByte(c))", at: at)
            }
            if i == 1 && (c < low || c > high) {
                switch lead {
                case 0xED: throw fail("invalid UTF-8 (encoded surrogate)", at: start)
                case 0xF4: throw fail("invalid UTF-8 (code point above U+10FFFF)", at: start)
                default: throw fail("invalid UTF-8 (overlong encoding)", at: start)
                }
            }
        }
        pos = start + 1 + continuationCount
    }

    /// Decodes the escape at `pos` (a backslash) into `scratch`.
    mutating func parseEscape() throws(JSONError) {
        let escapeStart = pos
        pos += 1
        guard pos < end else { throw fail("unterminated string", at: stringStart) }
        let c = base[pos]
        pos += 1
        switch c {
        case quote: scratch.append(quote)
        case backslash: scratch.append(backslash)
        case slash: scratch.append(slash)
        case 0x62: scratch.append(0x08)  // \b
        case 0x66: scratch.append(0x0C)  // \f
        case 0x6E: scratch.append(0x0A)  // \n
        case 0x72: scratch.append(0x0D)  // \r
        case 0x74: scratch.append(0x09)  // \t
        case 0x75:  // \u
            var scalar = try parseHex4(escapeStart: escapeStart)
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                let lowStart = pos
                guard end - pos >= 2, base[pos] == backslash, base[pos + 1] == 0x75 else {
                    throw fail("unpaired surrogate \\u\(hex4(scalar))", at: escapeStart)
                }
                pos += 2
                let low = try parseHex4(escapeStart: lowStart)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw fail("unpaired surrogate \\u\(hex4(scalar))", at: escapeStart)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw fail("unpaired surrogate \\u\(hex4(scalar))", at: escapeStart)
            }
            appendUTF8(scalar)
        default:
            if c > 0x20 && c < 0x7F {
                throw fail("invalid escape \\\(Character(Unicode.Scalar(c)))", at: escapeStart)
            }
            throw fail("invalid escape: '\\' followed by byte \(hexByte(c))", at: escapeStart)
        }
    }

    /// Reads the four hex digits of a \u escape at `pos`.
    mutating func parseHex4(escapeStart: Int) throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard pos < end else { throw fail("unterminated string", at: stringStart) }
            let c = base[pos]
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c &- 0x30
            case 0x41...0x46: digit = c &- 0x41 &+ 10
            case 0x61...0x66: digit = c &- 0x61 &+ 10
            default: throw fail("invalid \\u escape, expected 4 hex digits", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
            pos += 1
        }
        return value
    }

    @inline(__always)
    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(truncatingIfNeeded: scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        }
    }

    // MARK: Numbers

    @inline(__always)
    func digit(at offset: Int) -> UInt8? {
        guard offset < end else { return nil }
        let d = base[offset] &- zero
        return d < 10 ? d : nil
    }

    /// Parses a number at `pos` (which holds '-' or a digit).
    mutating func parseNumber() throws(JSONError) -> JSON {
        let start = pos
        let negative = base[pos] == minus
        if negative { pos += 1 }

        // Significant digits accumulate in `mantissa` while they fit; the
        // rest only set `truncated` (and the slow path takes over).
        let mantissaLimit = (UInt64.max - 9) / 10
        var mantissa: UInt64 = 0
        var truncated = false

        // Integer part.
        guard let first = digit(at: pos) else {
            if pos >= end { throw fail("unexpected end of input", at: pos) }
            throw fail("expected a digit after '-'", at: pos)
        }
        pos += 1
        if first == 0 {
            if digit(at: pos) != nil {
                throw fail("leading zeros are not allowed in numbers", at: start)
            }
        } else {
            mantissa = UInt64(first)
            while let d = digit(at: pos) {
                if mantissa <= mantissaLimit {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                } else {
                    truncated = true
                }
                pos += 1
            }
        }

        var isInteger = true
        var fractionDigits = 0
        if pos < end && base[pos] == dot {
            isInteger = false
            pos += 1
            guard digit(at: pos) != nil else {
                if pos >= end { throw fail("unexpected end of input", at: pos) }
                throw fail("expected a digit after the decimal point", at: pos)
            }
            while let d = digit(at: pos) {
                if mantissa <= mantissaLimit {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    fractionDigits += 1
                } else {
                    truncated = true
                }
                pos += 1
            }
        }

        var exponent = 0
        if pos < end && (base[pos] | 0x20) == 0x65 {  // e or E
            isInteger = false
            pos += 1
            var exponentNegative = false
            if pos < end && (base[pos] == plus || base[pos] == minus) {
                exponentNegative = base[pos] == minus
                pos += 1
            }
            guard digit(at: pos) != nil else {
                if pos >= end { throw fail("unexpected end of input", at: pos) }
                throw fail("expected a digit in the exponent", at: pos)
            }
            while let d = digit(at: pos) {
                if exponent < 1_000_000 { exponent = exponent * 10 + Int(d) }
                pos += 1
            }
            if exponentNegative { exponent = -exponent }
        }

        if isInteger && !truncated {
            if negative {
                if mantissa <= UInt64(Int.max) {
                    return .integer(-Int(mantissa))
                } else if mantissa == UInt64(Int.max) + 1 {
                    return .integer(Int.min)
                }
            } else if mantissa <= UInt64(Int.max) {
                return .integer(Int(mantissa))
            }
        }

        // Exact fast path (Clinger): the mantissa and 10^|e| are both exact
        // doubles, so one multiplication or division rounds correctly.
        let e10 = exponent - fractionDigits
        if !truncated && mantissa <= 1 << 53 && e10 >= -22 && e10 <= 22 {
            var d = Double(mantissa)
            if e10 < 0 {
                d /= exactPowersOfTen[-e10]
            } else {
                d *= exactPowersOfTen[e10]
            }
            return .double(negative ? -d : d)
        }

        // Slow path: the standard library's correctly rounded conversion.
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw fail("number out of range", at: start)
        }
        return .double(d)
    }
}
