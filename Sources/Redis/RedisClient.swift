import Logging
import Transport

/// What callers use of Redis, whatever its topology: commands, pipelines, scripts, health, close.
/// One type per topology implements it (`RedisNodeClient`: one server; `RedisSentinelClient`: the
/// primary Sentinel names, followed through failovers; `RedisClusterClient`: a Redis Cluster, each
/// command routed to its slot's primary); `makeRedisClient` builds the one an address asks for.
///
/// While Redis is unreachable, commands fail at once with `RedisError.unavailable` instead of
/// waiting, so callers can answer 503 right away; the client reconnects by itself.
public protocol RedisClient: AnyObject {
    typealias Completion = (Result<RedisValue, RedisError>) -> Void

    /// Where this client was told Redis is.
    var address: RedisAddress { get }
    /// The Redis it uses: `address`, or with Sentinel the primary it last found.
    var primaryAddress: RedisAddress { get }
    /// Usable now (with Redis Cluster: every slot's primary is connected).
    var isConnected: Bool { get }
    /// Why Redis is unusable right now, for problem details and /health.
    var unavailableReason: String { get }
    var reconnectCount: Int { get }
    /// Round trips of commands (send to reply), for /metrics.
    var latency: LatencyHistogram { get }
    /// A command unanswered for this long drops its connection (Redis hung or the network did).
    var commandTimeoutMillis: UInt64 { get set }
    /// A TCP connect unanswered for this long is given up (a host that is down answers nothing).
    var connectTimeoutMillis: UInt64 { get set }
    /// Called with true on every (re)connect and false on every loss (with Redis Cluster: true once
    /// every primary is connected, false when one is lost).
    var onStateChange: ((Bool) -> Void)? { get set }

    /// Scripts to load on every server on each connect; register before `start()`.
    func register(_ script: RedisScript)
    /// A Functions library to load on every server on each connect: the scripts it holds then run
    /// as its functions (FCALL). Register before `start()`.
    func register(_ library: RedisFunctionLibrary)
    func start()
    func send(bytes arguments: [[UInt8]], _ completion: @escaping Completion)
    /// The same, for text arguments: one server formats them straight into the command's bytes
    /// (no array per argument); the default converts them for `send(bytes:)` (a cluster reads
    /// their keys to route them).
    func send(strings arguments: [String], _ completion: @escaping Completion)
    /// Runs a registered script (see `RedisScripting.run`).
    func run(_ script: RedisScript, keys: [String], arguments: [String], _ completion: @escaping Completion)
    /// Waits for pending replies, then disconnects; no reconnect afterwards. Every call's
    /// completion runs once (a second close too).
    func close(_ completion: @escaping () -> Void)
}

/// The name the stores, the gateway and the runner know the client by.
public typealias RedisConnection = RedisClient

/// The client for `address`'s topology.
public func makeRedisClient(loop: EventLoop, address: RedisAddress, logger: Logger) -> RedisClient {
    switch address {
    case .single(let host, let port):
        return RedisNodeClient(loop: loop, endpoint: RedisEndpoint(host: host, port: port), logger: logger)
    case .sentinel(let sentinels, let master):
        return RedisSentinelClient(loop: loop, sentinels: sentinels, master: master, logger: logger)
    case .cluster(let seeds):
        return RedisClusterClient(seeds: seeds, loop: loop, logger: logger)
    }
}

extension RedisClient {
    public func send(_ arguments: [String], _ completion: @escaping Completion) {
        send(strings: arguments, completion)
    }

    public func send(strings arguments: [String], _ completion: @escaping Completion) {
        send(bytes: arguments.map { Array($0.utf8) }, completion)
    }
}

/// What the topologies share of script handling and reach of the servers, for `RedisScripting`.
protocol RedisTopology: RedisClient {
    var scripting: RedisScripting { get }
    /// Loads the Functions library again on every server this client reaches.
    func reloadLibrary()
}

/// The scripts and the Functions library a client was given, and how a script runs, written once
/// for every topology: each client holds one, each server (`RedisNodeClient`) loads them on connect.
final class RedisScripting {
    private(set) var scripts: [RedisScript] = []
    private(set) var library: RedisFunctionLibrary?
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func register(_ script: RedisScript) { scripts.append(script) }
    func register(_ library: RedisFunctionLibrary) { self.library = library }

    /// On a server that just connected: SCRIPT LOAD of the scripts the library does not hold, so
    /// EVALSHA finds them, and the library.
    func prepare(_ node: RedisNodeClient) {
        for script in scripts where library?.functions[script.name] == nil {
            node.send(["SCRIPT", "LOAD", script.source]) { [logger] result in
                if case .failure(let error) = result { logger.error("loading script \(script.name) failed: \(error)") }
            }
        }
        loadLibrary(on: node)
    }

    /// Loads the library on one server, then deletes the libraries of its family that are not it
    /// and were loaded longer ago than its retention. "Already exists" is success: the same name
    /// is the same code.
    func loadLibrary(on node: RedisNodeClient, _ completion: @escaping (Bool) -> Void = { _ in }) {
        guard let library, !node.libraryLoading else { return completion(false) }
        node.libraryLoading = true
        let now = EventLoop.unixMillis()
        node.send(["FUNCTION", "LOAD", library.code(loadedAt: now)]) { [weak node, logger] result in
            node?.libraryLoading = false
            if case .failure(let error) = result, !error.message.contains("already exists") {
                logger.error("loading the Functions library \(library.name) failed: \(error)")
                return completion(false)
            }
            completion(true)
            if let node { Self.retireLibraries(library, now: now, on: node, logger: logger) }
        }
    }

    private static func retireLibraries(_ library: RedisFunctionLibrary, now: Int64, on node: RedisNodeClient, logger: Logger) {
        node.send(["FUNCTION", "LIST", "WITHCODE"]) { [weak node] result in
            guard case .success(let value) = result else { return }
            for entry in value.array ?? [] {
                let fields = entry.array ?? []
                var name: String?, code: String?
                var index = 0
                while index + 1 < fields.count {
                    switch fields[index].text {
                    case "library_name": name = fields[index + 1].text
                    case "library_code": code = fields[index + 1].text
                    default: break
                    }
                    index += 2
                }
                let marker = RedisFunctionLibrary.loadedAtMarker.dropFirst()
                guard let name, name.hasPrefix(library.family), name != library.name,
                      let line = code?.split(separator: "\n").last(where: { $0.hasPrefix(marker) }) else { continue }
                let loadedAt = Int64(line.dropFirst(marker.count)) ?? 0
                guard now - loadedAt > library.retentionMillis else { continue }
                logger.info("deleting the Functions library \(name), loaded \((now - loadedAt) / 60_000) minutes ago")
                node?.send(["FUNCTION", "DELETE", name]) { _ in }
            }
        }
    }

    /// FCALL of the script's function when the registered library holds it; when the server lacks
    /// the function (restart, FUNCTION FLUSH, an old version retired), the library is loaded again
    /// on every server and this call is retried once as EVALSHA. Otherwise EVALSHA, with an EVAL
    /// fallback when the server lost its script cache (restart, SCRIPT FLUSH).
    func run(_ script: RedisScript, keys: [String], arguments: [String], on client: some RedisTopology,
             _ completion: @escaping RedisClient.Completion) {
        guard let function = library?.functions[script.name] else {
            return evaluate(script, [String(keys.count)] + keys + arguments, on: client, completion)
        }
        // One array, built once: the command, kept by the callback for the rare fallback (the
        // concatenations it replaced retained and released every argument three times per call).
        var command: [String] = []
        command.reserveCapacity(3 + keys.count + arguments.count)
        command.append("FCALL")
        command.append(function)
        command.append(String(keys.count))
        command.append(contentsOf: keys)
        command.append(contentsOf: arguments)
        client.send(command) { [weak client, logger] result in
            if case .failure(let error) = result, !error.isUnavailable,
               error.message.contains("Function not found") || error.message.contains("unknown command"), let client {
                logger.info("function \(function) missing on the server; loading the library again")
                client.reloadLibrary()
                client.scripting.evaluate(script, Array(command.dropFirst(2)), on: client, completion)
                return
            }
            completion(result)
        }
    }

    private func evaluate(_ script: RedisScript, _ tail: [String], on client: some RedisTopology,
                          _ completion: @escaping RedisClient.Completion) {
        client.send(["EVALSHA", script.sha1] + tail) { [weak client, logger] result in
            if case .failure(let error) = result, !error.isUnavailable, error.message.hasPrefix("NOSCRIPT"), let client {
                logger.info("script \(script.name) missing on the server; sending its source")
                client.send(["EVAL", script.source] + tail, completion)
                return
            }
            completion(result)
        }
    }
}
