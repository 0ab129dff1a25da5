import CCrypto

/// A Lua script, identified by its SHA-1 so EVALSHA can be sent before SCRIPT LOAD has answered.
/// A script built from a shared prefix and its own body keeps them apart (`body`, `layer`), so a
/// Functions library can hold the prefix once and the body as a function.
public struct RedisScript: Sendable {
    public let name: String
    public let source: String
    public let sha1: String
    /// The script's own part (the whole source when it has no shared prefix).
    public let body: String
    /// Which shared layer the body needs bound before it runs (empty for none); the library's word.
    public let layer: String

    public init(name: String, source: String) {
        self.init(name: name, prefix: "", body: source, layer: "")
    }

    public init(name: String, prefix: String, body: String, layer: String) {
        self.name = name
        self.source = prefix + body
        self.body = body
        self.layer = layer
        sha1 = Self.sha1Hex(source)
    }

    /// The SHA-1 of `text` in lowercase hex.
    public static func sha1Hex(_ text: String) -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        let bytes = Array(text.utf8)
        SHA1(bytes, bytes.count, &digest)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest { out.append(hex[Int(byte >> 4)]); out.append(hex[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A Redis Functions library (Redis 7: FUNCTION LOAD, FCALL) holding scripts as functions, so
/// their shared helpers are defined once at load instead of on every call. Versioned: its name and
/// its functions' names carry a hash of its source, so the libraries of two versions (a rolling
/// upgrade) live side by side and each process calls its own.
public struct RedisFunctionLibrary: Sendable {
    /// `family` + version, e.g. "ci_1a2b3c4d5e6f".
    public let name: String
    /// What every library of this program is named by: older versions are found by it.
    public let family: String
    /// The library's code as FUNCTION LOAD takes it (its first line names it).
    public let source: String
    /// Script name -> the function that runs it.
    public let functions: [String: String]
    /// A library of this family other than this one, loaded longer ago than this, is deleted when a
    /// connection loads this one (a process still using it loads it again on its next call).
    public var retentionMillis: Int64 = 3_600_000

    public init(name: String, family: String, source: String, functions: [String: String]) {
        self.name = name
        self.family = family
        self.source = source
        self.functions = functions
    }

    /// The line the loader appends to the code it loads: when it was loaded (Unix ms), read back
    /// by FUNCTION LIST WITHCODE to retire old versions.
    static let loadedAtMarker = "\n-- loaded_at="

    func code(loadedAt: Int64) -> String { source + Self.loadedAtMarker + String(loadedAt) + "\n" }
}
