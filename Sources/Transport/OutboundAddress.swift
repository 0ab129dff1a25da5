#if canImport(Glibc)
import Glibc
#endif

/// The SSRF rule of outbound requests (webhooks): which addresses are the cluster's own or
/// otherwise never a public endpoint. Applied to a URL's literal host at registration and to every
/// resolved address at registration and again at delivery (DNS may change in between).
public enum OutboundAddress {
    /// Why `bytes` (4 or 16) may not be connected to, or nil for a public address.
    public static func refusal(_ bytes: [UInt8]) -> String? {
        if bytes.count == 4 { return refusalV4(bytes) }
        guard bytes.count == 16 else { return "not an IP address" }
        let zero12 = bytes[0..<12].allSatisfy { $0 == 0 }
        if bytes.allSatisfy({ $0 == 0 }) { return "the unspecified address" }
        if zero12 && bytes[12..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return "loopback" }
        // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64): the IPv4 inside.
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        let nat64 = bytes[0] == 0 && bytes[1] == 0x64 && bytes[2] == 0xFF && bytes[3] == 0x9B && bytes[4..<12].allSatisfy { $0 == 0 }
        if mapped || zero12 || nat64 {
            return refusalV4(Array(bytes[12..<16])).map { "an IPv6 form of an IPv4 address that is \($0)" }
        }
        if bytes[0] == 0x20 && bytes[1] == 0x02 {  // 2002::/16, 6to4: the IPv4 in bytes 2...5
            if let why = refusalV4(Array(bytes[2..<6])) { return "a 6to4 form of an IPv4 address that is \(why)" }
        }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return "link-local (fe80::/10)" }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0xC0 { return "site-local (fec0::/10)" }
        if bytes[0] & 0xFE == 0xFC { return "unique-local (fc00::/7)" }
        if bytes[0] == 0xFF { return "multicast (ff00::/8)" }
        return nil
    }

    static func refusalV4(_ b: [UInt8]) -> String? {
        switch (b[0], b[1]) {
        case (0, _): return "the unspecified network (0.0.0.0/8)"
        case (10, _): return "private (10.0.0.0/8)"
        case (100, 64...127): return "shared address space, CGNAT (100.64.0.0/10)"
        case (127, _): return "loopback (127.0.0.0/8)"
        case (169, 254): return "link-local (169.254.0.0/16, cloud metadata among it)"
        case (172, 16...31): return "private (172.16.0.0/12)"
        case (192, 0) where b[2] == 0: return "IETF protocol assignments (192.0.0.0/24)"
        case (192, 168): return "private (192.168.0.0/16)"
        case (198, 18...19): return "benchmarking (198.18.0.0/15)"
        case (224...239, _): return "multicast (224.0.0.0/4)"
        case (240...255, _): return b == [255, 255, 255, 255] ? "broadcast" : "reserved (240.0.0.0/4)"
        default: return nil
        }
    }

    /// A URL host that is an IP address, in any spelling the system resolver also takes as one
    /// (IPv4 as inet_aton reads it: "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1"; IPv6 in
    /// brackets): its bytes. Nil for a name.
    public static func literal(_ host: String) -> [UInt8]? {
        if host.hasPrefix("[") && host.hasSuffix("]") {
            var v6 = in6_addr()
            let inner = String(host.dropFirst().dropLast())
            guard inet_pton(AF_INET6, inner, &v6) == 1 else { return nil }
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        var v4 = in_addr()
        guard inet_aton(host, &v4) != 0 else { return nil }
        return withUnsafeBytes(of: &v4) { Array($0) }
    }

    /// The text form of 4 or 16 bytes.
    public static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, 64) }
        return String(cString: buffer)
    }
}

/// An outbound http(s) URL, parsed strictly: scheme, host, port, path and query; no userinfo,
/// no fragment, no whitespace or control bytes.
public struct OutboundURL: Sendable, Equatable {
    public var scheme: String
    /// As written (an IPv6 literal keeps its brackets).
    public var host: String
    public var port: Int
    /// Path and query, "/" at least.
    public var target: String

    public static let maxLength = 2048

    /// Parses `text`, or throws a sentence saying what is wrong.
    public init(_ text: String) throws(OutboundURLError) {
        guard text.utf8.count <= Self.maxLength else { throw .init("the url is \(text.utf8.count) bytes, longer than \(Self.maxLength)") }
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 >= 0x80 }) else {
            throw .init("the url may not contain spaces, control or non-ASCII characters (percent-encode them)")
        }
        let lower = text.lowercased()
        if lower.hasPrefix("http://") { scheme = "http" } else if lower.hasPrefix("https://") { scheme = "https" } else {
            throw .init("the url must begin with http:// or https://")
        }
        let rest = text.dropFirst(scheme.count + 3)
        guard !rest.contains("#") else { throw .init("the url may not have a fragment (#...)") }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        target = String(rest[authorityEnd...])
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }
        guard !authority.contains("@") else { throw .init("the url may not carry a user name or password (user@host)") }
        var hostPart = Substring(authority)
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .init("the url's IPv6 host has no closing ]") }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .init("unexpected text after the url's IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { throw .init("the url has no host") }
        host = hostPart.lowercased()
        if host.hasPrefix("[") {
            guard OutboundAddress.literal(host) != nil else { throw .init("the url's host \(host) is not a valid IPv6 address") }
        } else {
            let allowed = host.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F }
            guard allowed, host.utf8.count <= 253 else { throw .init("the url's host \(host) is not a valid host name") }
        }
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value), portText.utf8.count <= 5 else {
                throw .init("the url's port must be a number 1-65535")
            }
            port = value
        } else {
            port = scheme == "https" ? 443 : 80
        }
    }

    /// The Host header's value.
    public var hostHeader: String { (scheme == "http" && port == 80) || (scheme == "https" && port == 443) ? host : "\(host):\(port)" }

    /// The host to resolve (an IPv6 literal without brackets).
    public var resolvableHost: String { host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host }
}

public struct OutboundURLError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
