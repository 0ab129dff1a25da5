#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 network ("10.0.0.0/8", "::1", "127.0.0.1"), for trusted-proxy lists.
public struct AddressRange: Sendable, CustomStringConvertible {
    private let network: [UInt8]
    private let prefix: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let bytes = AddressRange.bytes(parts[0]) else { return nil }
        let bits = bytes.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...bits).contains(length) else { return nil }
            prefix = length
        } else {
            prefix = bits
        }
        network = bytes
        description = text
    }

    public func contains(_ address: String) -> Bool {
        guard let bytes = AddressRange.bytes(address), bytes.count == network.count else { return false }
        var remaining = prefix
        for index in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != network[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// The address' bytes (4 or 16), or nil when it is not an IP address.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

extension Array where Element == AddressRange {
    public func contains(address: String) -> Bool { contains { $0.contains(address) } }
}
