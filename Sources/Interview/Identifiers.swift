import CCrypto

/// Unguessable identifiers and secrets. Everything random comes from OpenSSL's CSPRNG.
public enum Identifiers {
    /// A session id: 128 random bits as 22 base64url characters (a link must not be guessable).
    public static func sessionID() -> String { base64url(randomBytes(16)) }

    /// A participant id, unique within its session.
    public static func participantID() -> String { "u_" + hex(randomBytes(8)) }

    /// A bearer secret: 256 random bits.
    public static func token() -> String { base64url(randomBytes(32)) }

    /// What Redis stores instead of a token: its SHA-256, hex. Comparing hashes leaks nothing
    /// useful through timing, since an attacker cannot choose a hash's preimage.
    public static func tokenHash(_ token: String) -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let bytes = Array(token.utf8)
        SHA256(bytes, bytes.count, &digest)
        return hex(digest)
    }

    /// True when `text` has the shape of a session id (so malformed ids never reach Redis).
    public static func isSessionID(_ text: String) -> Bool {
        text.utf8.count == 22 && text.utf8.allSatisfy(isBase64URL)
    }

    public static func isParticipantID(_ text: String) -> Bool { isHexID(text, prefix: "u_", digits: 16) }

    /// True when `text` is `prefix` and `digits` lowercase hex digits (the participant, job and
    /// question ids).
    public static func isHexID(_ text: String, prefix: String, digits: Int) -> Bool {
        text.utf8.count == prefix.utf8.count + digits && text.hasPrefix(prefix) && text.utf8.dropFirst(prefix.utf8.count).allSatisfy {
            ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102)
        }
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else { fatalError("the system random generator failed") }
        return bytes
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || (byte >= 48 && byte <= 57) || byte == 45 || byte == 95
    }
}

/// Participant colors: 50 distinct hues (golden-angle steps), enough for the largest session.
public enum Palette {
    public static let colors: [String] = {
        var colors: [String] = []
        var index = 0
        while colors.count < 50 {
            let hue = (Double(index) * 137.508).truncatingRemainder(dividingBy: 360)
            let lightness = index % 2 == 0 ? 0.45 : 0.58
            let color = hexColor(hue: hue, saturation: 0.7, lightness: lightness)
            if !colors.contains(color) { colors.append(color) }
            index += 1
        }
        return colors
    }()

    static func hexColor(hue: Double, saturation: Double, lightness: Double) -> String {
        let c = (1 - abs(2 * lightness - 1)) * saturation
        let x = c * (1 - abs((hue / 60).truncatingRemainder(dividingBy: 2) - 1))
        let m = lightness - c / 2
        let (r, g, b): (Double, Double, Double)
        switch hue {
        case ..<60: (r, g, b) = (c, x, 0)
        case ..<120: (r, g, b) = (x, c, 0)
        case ..<180: (r, g, b) = (0, c, x)
        case ..<240: (r, g, b) = (0, x, c)
        case ..<300: (r, g, b) = (x, 0, c)
        default: (r, g, b) = (c, 0, x)
        }
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [35]
        for channel in [r, g, b] {
            let value = Int(((channel + m) * 255).rounded())
            out.append(digits[value >> 4])
            out.append(digits[value & 15])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
