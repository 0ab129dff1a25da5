import CCrypto

/// A Lua script, identified by its SHA-1 so EVALSHA can be sent before SCRIPT LOAD has answered.
public struct RedisScript: Sendable {
    public let name: String
    public let source: String
    public let sha1: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        let bytes = Array(source.utf8)
        SHA1(bytes, bytes.count, &digest)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in digest { text.append(hex[Int(byte >> 4)]); text.append(hex[Int(byte & 15)]) }
        sha1 = String(decoding: text, as: UTF8.self)
    }
}
