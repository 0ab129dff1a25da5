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
        subcommands: [GatewayCommand.self, RunnerCommand.self])
}

/// Options shared by every process kind.
struct CommonOptions: ParsableArguments {
    @Option(help: "Redis address, host:port.")
    var redis: String = environment("REDIS") ?? "127.0.0.1:6379"

    @Option(help: "This node's id in the cluster registry and in logs (default: hostname-pid).")
    var nodeID: String = environment("NODE_ID") ?? defaultNodeID()

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = environment("LOG_LEVEL") ?? "info"

    func redisAddress() throws -> RedisAddress {
        guard let address = RedisAddress(parsing: redis) else {
            throw ValidationError("--redis must be host:port (e.g. 127.0.0.1:6379), not '\(redis)'")
        }
        return address
    }

    func makeLogger(_ label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: label)
        logger.logLevel = level
        logger[metadataKey: "node"] = .string(nodeID)
        return logger
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
