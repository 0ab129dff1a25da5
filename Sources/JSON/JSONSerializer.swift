// Compact RFC 8259 serializer writing straight into a byte buffer.
//
// - Strings: `"` and `\` escaped, control characters as \n \r \t \b \f or
//   \u00XX; everything else (including non-ASCII) written as raw UTF-8.
// - Integers in decimal; doubles with Swift's shortest round-trip
//   `description` ("1.0", "0.1", "1e+16"), so a double stays a double when
//   parsed back; NaN and infinities as `null`.

extension JSON {
    /// Appends the compact serialization of this value to `buffer`.
    public func serialize(into buffer: inout [UInt8]) {
        JSONWriter.write(self, into: &buffer)
    }

    /// The compact serialization as UTF-8 bytes.
    public var bytes: [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(JSONWriter.estimatedSize(self))
        JSONWriter.write(self, into: &buffer)
        return buffer
    }

    /// The compact serialization as a String.
    public var text: String {
        String(decoding: bytes, as: UTF8.self)
    }
}

enum JSONWriter {
    private static let quote: UInt8 = 0x22
    private static let backslash: UInt8 = 0x5C

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 &+ nibble : 0x57 &+ nibble  // 0-9, a-f
    }

    /// A cheap, shallow guess at the output size, for `reserveCapacity`.
    static func estimatedSize(_ value: JSON) -> Int {
        switch value {
        case .null, .bool: return 8
        case .integer, .double: return 24
        case .string(let s): return s.utf8.count + 8
        case .array(let a): return 2 + a.count * 16
        case .object(let o): return 2 + o.count * 32
        }
    }

    static func write(_ value: JSON, into buffer: inout [UInt8]) {
        switch value {
        case .null:
            appendASCII("null", into: &buffer)
        case .bool(let b):
            appendASCII(b ? "true" : "false", into: &buffer)
        case .integer(let i):
            writeInteger(i, into: &buffer)
        case .double(let d):
            writeDouble(d, into: &buffer)
        case .string(let s):
            writeString(s, into: &buffer)
        case .array(let elements):
            buffer.append(0x5B)  // [
            var first = true
            for element in elements {
                if !first { buffer.append(0x2C) }  // ,
                first = false
                write(element, into: &buffer)
            }
            buffer.append(0x5D)  // ]
        case .object(let members):
            buffer.append(0x7B)  // {
            var first = true
            for member in members {
                if !first { buffer.append(0x2C) }  // ,
                first = false
                writeString(member.key, into: &buffer)
                buffer.append(0x3A)  // :
                write(member.value, into: &buffer)
            }
            buffer.append(0x7D)  // }
        }
    }

    @inline(__always)
    private static func appendASCII(_ s: StaticString, into buffer: inout [UInt8]) {
        s.withUTF8Buffer { buffer.append(contentsOf: $0) }
    }

    static func writeInteger(_ value: Int, into buffer: inout [UInt8]) {
        if value >= 0 && value < 10 {
            buffer.append(0x30 &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { tmp in
            var i = tmp.count
            while magnitude > 0 {
                let (q, r) = magnitude.quotientAndRemainder(dividingBy: 10)
                i -= 1
                tmp[i] = 0x30 &+ UInt8(truncatingIfNeeded: r)
                magnitude = q
            }
            if value < 0 {
                i -= 1
                tmp[i] = 0x2D  // -
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: tmp[i...]))
        }
    }

    static func writeDouble(_ value: Double, into buffer: inout [UInt8]) {
        guard value.isFinite else {
            appendASCII("null", into: &buffer)
            return
        }
        // Swift's `description` is the shortest representation that round-trips,
        // always with a "." or an exponent ("1.0", "1e+16", "5e-324"), and every
        // form it produces for finite values is valid JSON. At most ~24 bytes,
        // so usually a small (unallocated) string.
        var text = value.description
        text.withUTF8 { buffer.append(contentsOf: $0) }
    }

    static func writeString(_ string: String, into buffer: inout [UInt8]) {
        buffer.append(quote)
        // A native string's UTF-8 is contiguous: read it in place (withUTF8 needs a mutable copy,
        // a retain and a uniqueness check per string; a session's answer writes about 30).
        if string.utf8.withContiguousStorageIfAvailable({ writeEscaped($0, into: &buffer) }) == nil {
            var string = string
            string.withUTF8 { writeEscaped($0, into: &buffer) }
        }
        buffer.append(quote)
    }

    /// The bytes of a string's contents, escaped as above.
    @inline(__always)
    private static func writeEscaped(_ utf8: UnsafeBufferPointer<UInt8>, into buffer: inout [UInt8]) {
        guard let base = utf8.baseAddress else { return }
        let count = utf8.count
        var runStart = 0
        var i = 0
        while i < count {
            let b = base[i]
            if b >= 0x20 && b != quote && b != backslash {
                i += 1
                continue
            }
            if runStart < i {
                buffer.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: i - runStart))
            }
            switch b {
            case quote: buffer.append(backslash); buffer.append(quote)
            case backslash: buffer.append(backslash); buffer.append(backslash)
            case 0x0A: buffer.append(backslash); buffer.append(0x6E)  // \n
            case 0x0D: buffer.append(backslash); buffer.append(0x72)  // \r
            case 0x09: buffer.append(backslash); buffer.append(0x74)  // \t
            case 0x08: buffer.append(backslash); buffer.append(0x62)  // \b
            case 0x0C: buffer.append(backslash); buffer.append(0x66)  // \f
            default:
                // \u00XX
                buffer.append(backslash)
                buffer.append(0x75)
                buffer.append(0x30)
                buffer.append(0x30)
                buffer.append(hexDigit(b >> 4))
                buffer.append(hexDigit(b & 0x0F))
            }
            i += 1
            runStart = i
        }
        if runStart < count {
            buffer.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: count - runStart))
        }
    }
}
