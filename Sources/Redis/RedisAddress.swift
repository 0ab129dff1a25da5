/// One Redis server's host and port: a single Redis, a sentinel, a cluster node.
public struct RedisEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// "host:port", "host", or "redis://host:port[/]"; a missing port is `defaultPort`.
    public init?(parsing text: String, defaultPort: Int = 6379) {
        var rest = Substring(text)
        if rest.hasPrefix("redis://") { rest = rest.dropFirst("redis://".count) }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { return nil }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else { return nil }
            host = String(rest[..<colon])
            self.port = port
        } else {
            host = String(rest)
            port = defaultPort
        }
        guard !host.isEmpty else { return nil }
    }

    /// "host:port,host:port" (blanks and empty parts ignored); nil when a part is malformed or none is given.
    static func list(parsing text: String, defaultPort: Int) -> [RedisEndpoint]? {
        var endpoints: [RedisEndpoint] = []
        for part in text.split(separator: ",") {
            let trimmed = part.filter { $0 != " " }
            guard !trimmed.isEmpty else { continue }
            guard let endpoint = RedisEndpoint(parsing: trimmed, defaultPort: defaultPort) else { return nil }
            endpoints.append(endpoint)
        }
        return endpoints.isEmpty ? nil : endpoints
    }

    public var description: String { "\(host):\(port)" }
}

/// Where Redis is, one case per topology; `makeRedisClient` builds the client that fits.
public enum RedisAddress: Sendable, CustomStringConvertible {
    /// One Redis server.
    case single(host: String, port: Int)
    /// The primary named `master` by these sentinels (`sentinel monitor NAME ...` in their
    /// configuration), found again on every (re)connect and followed through failovers.
    case sentinel(sentinels: [RedisEndpoint], master: String)
    /// A Redis Cluster found from seed nodes: any one that answers names the others.
    case cluster(seeds: [RedisEndpoint])

    /// One server: "host:port", "host", or "redis://host:port[/]".
    public init?(parsing text: String) {
        guard let endpoint = RedisEndpoint(parsing: text) else { return nil }
        self = .single(host: endpoint.host, port: endpoint.port)
    }

    /// Cluster seeds, "host:port,host:port" (a port defaults to 6379); nil when a part is
    /// malformed or none is given.
    public init?(parsingCluster list: String) {
        guard let seeds = RedisEndpoint.list(parsing: list, defaultPort: 6379) else { return nil }
        self = .cluster(seeds: seeds)
    }

    /// Sentinels, "host:port,host:port" (a sentinel's port defaults to 26379), and the name they
    /// monitor the primary under; nil when a part is malformed or the list or the name is empty.
    public init?(parsingSentinels list: String, master: String) {
        guard !master.isEmpty, let sentinels = RedisEndpoint.list(parsing: list, defaultPort: 26379) else { return nil }
        self = .sentinel(sentinels: sentinels, master: master)
    }

    public var description: String {
        switch self {
        case .single(let host, let port): return "\(host):\(port)"
        case .sentinel(let sentinels, let master):
            return "primary '\(master)' via sentinels \(sentinels.map(\.description).joined(separator: ","))"
        case .cluster(let seeds): return "cluster via \(seeds.map(\.description).joined(separator: ","))"
        }
    }
}
