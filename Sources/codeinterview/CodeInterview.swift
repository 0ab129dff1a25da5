import ArgumentParser
import Gateway
import Logging
import Redis
#if canImport(Glibc)
import Glibc
#endif

@main
struct CodeInterview: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codeinterview",
        abstract: "CodeInterview: real-time collaborative coding interviews, clustered on Redis.",
        discussion: "Every option can also be set with an environment variable: CODEINTERVIEW_ and the option's name in capitals with underscores (--max-body-bytes → CODEINTERVIEW_MAX_BODY_BYTES). A flag on the command line wins.",
        subcommands: [GatewayCommand.self, RunnerCommand.self, ArchiverCommand.self])
}

/// Options shared by every process kind.
struct CommonOptions: ParsableArguments {
    @Option(help: "Redis address, host:port.")
    var redis: String = environment("REDIS") ?? "127.0.0.1:6379"

    @Option(help: "Redis Sentinel addresses, host:port,host:port: find the primary through them (and follow a failover) instead of --redis.",
            transform: addressList("--sentinels"))
    var sentinels: String = environment("SENTINELS") ?? ""

    @Option(help: "The name the sentinels monitor the primary under (with --sentinels).")
    var sentinelMaster: String = environment("SENTINEL_MASTER") ?? "codeinterview"

    @Option(help: "Redis Cluster seed nodes, host:port,host:port: route every command to the primary owning its keys' slot (any one seed finds the others) instead of --redis or --sentinels.",
            transform: addressList("--redis-cluster"))
    var redisCluster: String = environment("REDIS_CLUSTER") ?? ""

    @Option(help: "This node's id in the cluster registry and in logs (default: hostname-pid).")
    var nodeID: String = environment("NODE_ID") ?? defaultNodeID()

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = environment("LOG_LEVEL") ?? "info"

    @Option(help: "Log format: text (human) or json (one JSON object per line, for log shippers).")
    var logFormat: String = environment("LOG_FORMAT") ?? "text"

    func redisAddress() throws -> RedisAddress {
        if !redisCluster.isEmpty {
            guard sentinels.isEmpty else { throw ValidationError("--redis-cluster and --sentinels exclude each other: a cluster fails over by itself") }
            guard let address = RedisAddress(parsingCluster: redisCluster) else {
                throw ValidationError("--redis-cluster must be host:port,host:port (e.g. 127.0.0.1:7000), not '\(redisCluster)'")
            }
            return address
        }
        if !sentinels.isEmpty {
            guard let address = RedisAddress(parsingSentinels: sentinels, master: sentinelMaster) else {
                throw ValidationError("--sentinels must be host:port,host:port and --sentinel-master a name, not '\(sentinels)' / '\(sentinelMaster)'")
            }
            return address
        }
        guard let address = RedisAddress(parsing: redis) else {
            throw ValidationError("--redis must be host:port (e.g. 127.0.0.1:6379), not '\(redis)'")
        }
        return address
    }

    func makeLogger(_ label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        switch logFormat {
        case "text": LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        case "json": LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        default: throw ValidationError("--log-format must be text or json")
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        logger[metadataKey: "node"] = .string(nodeID)
        return logger
    }
}

/// The parsing of an option that takes a list of addresses (host:port,host:port): a list given
/// without one address ("", ",", " , ") is refused, where it would read as the option left out
/// (and the node would silently use --redis's default, 127.0.0.1:6379). An empty
/// CODEINTERVIEW_<NAME>, like every empty variable, still means unset.
func addressList(_ option: String) -> @Sendable (String) throws -> String {
    { list in
        guard list.split(separator: ",").contains(where: { $0.contains { !$0.isWhitespace } }) else {
            throw ValidationError("\(option) needs at least one address host:port (e.g. 127.0.0.1:7000); leave the option out to use --redis")
        }
        return list
    }
}

/// Reads CODEINTERVIEW_<NAME> from the environment.
func environment(_ name: String) -> String? {
    guard let value = getenv("CODEINTERVIEW_" + name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}

func environment<T: LosslessStringConvertible>(_ name: String, _ fallback: T) -> T {
    environment(name).flatMap(T.init) ?? fallback
}

func defaultNodeID() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, 255)
    let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return "\(host.isEmpty ? "node" : host)-\(getpid())"
}
