import Logging
import Transport

// Redis Cluster on hiredis 0.14, which knows nothing of it: the slot of a key, which arguments of
// a command are keys, the slot map, and the router that sends each command to the primary owning
// its slot. Modelled on hiredis-cluster (C) and valkey-swift's ValkeyClusterClient: one
// connection per primary, the map read with CLUSTER SHARDS (CLUSTER SLOTS before Redis 7), MOVED
// followed and the map re-read, ASK answered with ASKING and one retry on the importing node.

extension RedisAddress {
    /// A Redis Cluster found from seed nodes: any one that answers names the others.
    public init(cluster seeds: [RedisAddress]) {
        self.init(host: "", port: 0)
        cluster = seeds
    }

    /// "host:port,host:port" (a port defaults to 6379); nil when a part is malformed or none is given.
    public init?(parsingCluster list: String) {
        var seeds: [RedisAddress] = []
        for part in list.split(separator: ",") {
            let text = part.filter { $0 != " " }
            guard !text.isEmpty else { continue }
            guard let address = RedisAddress(parsing: text) else { return nil }
            seeds.append(address)
        }
        guard !seeds.isEmpty else { return nil }
        self.init(cluster: seeds)
    }
}

/// The hash slot of a key, as Redis's keyHashSlot: CRC16 (XMODEM) mod 16384 of the key, or of its
/// hash tag, the text between the first `{` and the next `}` when that is not empty.
public enum RedisSlot {
    public static let count = 16384

    public static func of(_ key: String) -> Int { of(bytes: Array(key.utf8)) }

    public static func of(bytes key: [UInt8]) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(key[(open + 1)..<close]) & 0x3FFF)
        }
        return Int(crc16(key[...]) & 0x3FFF)
    }

    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ table[Int(UInt8(crc >> 8) ^ byte)] }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}

/// Which arguments of a command are keys, for the commands this code sends (and the tests').
/// A command missing here is refused in cluster mode: a new one must be added, with its keys.
enum CommandKeys {
    /// Where the keys are: none (any node answers), the first argument, the first two, every
    /// argument, every other (MSET), or counted after the script (EVAL's numkeys).
    enum Positions { case none, first, firstTwo, all, everyOther, scriptKeys }

    static let table: [String: Positions] = {
        var table: [String: Positions] = [:]
        for name in ["PING", "TIME", "INFO", "ROLE", "ECHO", "SCRIPT", "CLUSTER", "ASKING", "READONLY", "DBSIZE",
                     "FLUSHALL", "FLUSHDB", "PUBLISH", "CONFIG", "CLIENT", "MEMORY", "COMMAND", "LASTSAVE", "SLOWLOG"] {
            table[name] = Positions.none
        }
        for name in ["GET", "SET", "SETEX", "PSETEX", "SETNX", "GETDEL", "GETEX", "INCR", "INCRBY", "DECR", "DECRBY",
                     "APPEND", "STRLEN", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "TTL", "PTTL", "PERSIST", "TYPE",
                     "HGET", "HSET", "HSETNX", "HMGET", "HMSET", "HGETALL", "HDEL", "HEXISTS", "HINCRBY", "HKEYS", "HVALS",
                     "HLEN", "LPUSH", "RPUSH", "LPOP", "RPOP", "LLEN", "LRANGE", "LREM", "LTRIM", "LINDEX", "LPOS", "LSET",
                     "SADD", "SREM", "SMEMBERS", "SISMEMBER", "SCARD", "ZADD", "ZREM", "ZRANGE", "ZRANGEBYSCORE", "ZSCORE",
                     "ZCARD", "ZINCRBY", "ZREMRANGEBYSCORE", "XADD", "XRANGE", "XLEN", "SPUBLISH", "OBJECT"] {
            table[name] = .first
        }
        for name in ["BLMOVE", "LMOVE", "RPOPLPUSH", "BRPOPLPUSH", "RENAME"] { table[name] = .firstTwo }
        for name in ["DEL", "UNLINK", "EXISTS", "TOUCH", "MGET"] { table[name] = .all }
        table["MSET"] = .everyOther
        for name in ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL"] { table[name] = .scriptKeys }
        return table
    }()

    /// The one slot of the command's keys (nil for a keyless command), or why it cannot be routed.
    static func slot(of arguments: [[UInt8]]) -> Result<Int?, RedisError> {
        guard let first = arguments.first else { return .failure(.server("ERR empty command")) }
        let name = String(decoding: first, as: UTF8.self).uppercased()
        // OBJECT <subcommand> <key>: the key is the third argument.
        let keys: ArraySlice<[UInt8]>
        switch table[name] {
        case nil:
            return .failure(.server("ERR the cluster client does not know the keys of \(name): add it to CommandKeys"))
        case .none?: return .success(nil)
        case .first?: keys = name == "OBJECT" ? arguments.dropFirst(2).prefix(1) : arguments.dropFirst().prefix(1)
        case .firstTwo?: keys = arguments.dropFirst().prefix(2)
        case .all?: keys = arguments.dropFirst()
        case .everyOther?: keys = ArraySlice(arguments.dropFirst().enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        case .scriptKeys?:
            guard arguments.count >= 3, let count = Int(String(decoding: arguments[2], as: UTF8.self)),
                  count >= 0, arguments.count >= 3 + count else { return .failure(.server("ERR malformed \(name)")) }
            keys = arguments[3..<(3 + count)]
        }
        return slot(of: keys.map(RedisSlot.of(bytes:)), what: name)
    }

    /// The one slot of a request, as a pipeline sees it.
    static func slot(of request: RedisRequest) -> Result<Int?, RedisError> {
        switch request {
        case .command(let command): return slot(of: command.map { Array($0.utf8) })
        case .script(_, let keys, _): return slot(of: keys.map(RedisSlot.of), what: "the script")
        }
    }

    static func slot(of slots: [Int], what: String) -> Result<Int?, RedisError> {
        guard let first = slots.first else { return .success(nil) }
        if let other = slots.first(where: { $0 != first }) {
            return .failure(crossSlot("the keys of \(what) are in slots \(first) and \(other)"))
        }
        return .success(first)
    }

    static func crossSlot(_ why: String) -> RedisError {
        .server("CROSSSLOT refused before sending: \(why); on Redis Cluster one request touches one slot (hash-tag its keys alike)")
    }
}

/// Which primary owns each slot, as CLUSTER SHARDS or CLUSTER SLOTS tell it.
struct SlotMap {
    var primaries: [RedisAddress] = []
    /// Per slot, its primary's index in `primaries`; -1 for a slot nobody serves.
    var owners = [Int32](repeating: -1, count: RedisSlot.count)
    /// Every node named (replicas too): where to ask for the map next time.
    var nodes: [RedisAddress] = []

    var isComplete: Bool { !owners.contains(-1) }

    init() {}

    private mutating func index(of address: RedisAddress) -> Int32 {
        if let found = primaries.firstIndex(where: { $0.description == address.description }) { return Int32(found) }
        primaries.append(address)
        return Int32(primaries.count - 1)
    }

    private mutating func assign(_ start: Int, _ end: Int, to address: RedisAddress) {
        guard start >= 0, end < RedisSlot.count, start <= end else { return }
        let owner = index(of: address)
        for slot in start...end { owners[slot] = owner }
    }

    /// CLUSTER SHARDS (Redis 7): per shard {"slots", [start, end, ...], "nodes", [{field, value...}]}.
    /// The shard's primary is its node whose role is master, the one online when there are two
    /// (a failed primary still listed beside the replica that replaced it).
    init?(shards value: RedisValue, asked: RedisAddress) {
        guard let shards = value.array else { return nil }
        for shard in shards {
            guard let fields = pairs(shard), let slots = fields["slots"]?.array, let nodes = fields["nodes"]?.array else { return nil }
            var primary: RedisAddress?
            for node in nodes {
                guard let node = pairs(node), let address = Self.address(node, asked: asked) else { continue }
                self.nodes.append(address)
                if node["role"]?.text == "master", primary == nil || node["health"]?.text == "online" { primary = address }
            }
            guard let primary, slots.count % 2 == 0 else { continue }
            for pair in stride(from: 0, to: slots.count, by: 2) {
                guard let start = slots[pair].integer, let end = slots[pair + 1].integer else { return nil }
                assign(start, end, to: primary)
            }
        }
    }

    /// CLUSTER SLOTS: [[start, end, [host, port, id...] of the primary, replicas...], ...].
    init?(slots value: RedisValue, asked: RedisAddress) {
        guard let ranges = value.array else { return nil }
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer else { return nil }
            var addresses: [RedisAddress] = []
            for node in parts[2...] {
                guard let fields = node.array, fields.count >= 2, let host = fields[0].text, let port = fields[1].integer else { continue }
                addresses.append(RedisAddress(host: host.isEmpty || host == "?" ? asked.host : host, port: port))
            }
            guard let primary = addresses.first else { continue }
            nodes += addresses
            assign(start, end, to: primary)
        }
    }

    private static func address(_ node: [String: RedisValue], asked: RedisAddress) -> RedisAddress? {
        guard let port = node["port"]?.integer, port > 0 else { return nil }
        var host = node["endpoint"]?.text ?? ""
        if host.isEmpty || host == "?" { host = node["ip"]?.text ?? "" }
        return RedisAddress(host: host.isEmpty || host == "?" ? asked.host : host, port: port)
    }
}

/// A flat [field, value, ...] reply as a dictionary.
private func pairs(_ value: RedisValue) -> [String: RedisValue]? {
    guard let items = value.array, items.count % 2 == 0 else { return nil }
    var out: [String: RedisValue] = [:]
    for index in stride(from: 0, to: items.count, by: 2) {
        guard let name = items[index].text else { return nil }
        out[name] = items[index + 1]
    }
    return out
}

/// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the slot and the node to go to.
func redirection(_ message: String) -> (ask: Bool, slot: Int, to: RedisAddress)? {
    let words = message.split(separator: " ")
    guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let slot = Int(words[1]),
          (0..<RedisSlot.count).contains(slot), var address = RedisAddress(parsing: String(words[2])) else { return nil }
    if address.host.isEmpty { address.host = "127.0.0.1" }
    return (words[0] == "ASK", slot, address)
}

/// The cluster behind one `RedisConnection` (or one `RedisSubscriber`): the slot map, one plain
/// `RedisConnection` per primary (a link), and the routing of each command to its slot's link.
///
/// The map is read at start, again after every MOVED (the link named there is used at once), when
/// a link is lost, and every second while some primary is unreachable, which is how a failover is
/// found: the replica that took over is named primary once the cluster promoted it. Links of nodes
/// no longer primaries are closed. Commands to an unreachable primary fail at once with
/// `unavailable` (as a single Redis down does): callers answer 503 or retry.
final class ClusterRouter {
    let seeds: [RedisAddress]
    private let loop: EventLoop
    private let logger: Logger
    private var map = SlotMap()
    private var mapRead = false
    private(set) var links: [String: RedisConnection] = [:]
    private var scripts: [RedisScript] = []
    private var library: RedisFunctionLibrary?
    private var refreshing = false
    private var refreshAgain = false
    private var watchdog: LoopTimer
    private var retryTimer: LoopTimer
    private var deferred: [() -> Void] = []
    private var started = false
    private var closed = false
    private var up = false
    private var lastError = "the slot map was not read yet"
    private var closedReconnects = 0
    private var closedLatency = LatencyHistogram()

    var commandTimeoutMillis: UInt64 = 5_000 { didSet { links.values.forEach { $0.commandTimeoutMillis = commandTimeoutMillis } } }
    var connectTimeoutMillis: UInt64 = 2_000 { didSet { links.values.forEach { $0.connectTimeoutMillis = connectTimeoutMillis } } }
    var onStateChange: ((Bool) -> Void)?
    /// Pub/sub: makes each link a push-mode connection whose replies come here.
    var onPush: ((RedisConnection, RedisValue) -> Void)?
    /// Each link's (re)connect and loss.
    var onLinkState: ((RedisConnection, Bool) -> Void)?
    /// After every map read that changed a slot's owner.
    var onMapChange: (() -> Void)?

    init(seeds: [RedisAddress], loop: EventLoop, logger: Logger) {
        self.seeds = seeds
        self.loop = loop
        self.logger = logger
        watchdog = LoopTimer(loop: loop)
        retryTimer = LoopTimer(loop: loop)
    }

    /// Every slot has a primary and every primary's link is connected.
    var isConnected: Bool { up }

    var unavailableReason: String {
        if !mapRead { return "Redis Cluster (\(seeds.map(\.description).joined(separator: ","))) is unreachable (\(lastError))" }
        let down = map.primaries.filter { links[$0.description]?.isConnected != true }
        if let first = down.first, let link = links[first.description] { return link.unavailableReason }
        return "Redis Cluster is unavailable (\(lastError))"
    }

    var reconnectCount: Int { links.values.reduce(closedReconnects) { $0 + $1.reconnectCount } }

    var latency: LatencyHistogram {
        links.values.reduce(into: closedLatency) { $0.add($1.latency) }
    }

    func register(_ script: RedisScript) {
        scripts.append(script)
        links.values.forEach { $0.register(script) }
    }

    func register(_ library: RedisFunctionLibrary) {
        self.library = library
        links.values.forEach { $0.register(library) }
    }

    /// Loads the library again on every connected primary.
    func reloadLibrary() {
        links.values.filter(\.isConnected).forEach { $0.loadLibrary() }
    }

    func start() {
        started = true
        watchdog.start(after: 1_000, repeat: 1_000) { [unowned self] in
            if !self.up { self.refresh() }
        }
        watchdog.unref()
        refresh()
    }

    func close(_ completion: @escaping () -> Void) {
        closed = true
        watchdog.close()
        retryTimer.close()
        deferred.removeAll()
        let closing = Array(links.values)
        links.removeAll()
        var remaining = closing.count
        guard remaining > 0 else { return completion() }
        for link in closing {
            // Nothing reaches the owner any more (it may be gone before the links are), and the
            // link lives until its close completes (hiredis' callbacks point at it).
            link.onStateChange = nil
            link.onPush = nil
            link.close {
                withExtendedLifetime(link) {}
                remaining -= 1
                if remaining == 0 { completion() }
            }
        }
    }

    // MARK: Routing

    /// The link of the primary that owns `slot`, if the map names one.
    func link(forSlot slot: Int) -> RedisConnection? {
        let owner = map.owners[slot]
        guard owner >= 0, !closed else { return nil }
        return link(for: map.primaries[Int(owner)])
    }

    /// A connected link for a keyless command.
    private var anyLink: RedisConnection? {
        map.primaries.lazy.compactMap { self.links[$0.description] }.first { $0.isConnected }
    }

    func send(_ arguments: [[UInt8]], _ completion: @escaping RedisConnection.Completion) {
        route(arguments, tries: 0, completion)
    }

    /// `tries`: the TRYAGAIN answers so far, counted across the retries so that a slot left half
    /// migrated fails the command (unavailable) instead of retrying it forever.
    private func route(_ arguments: [[UInt8]], tries: Int, _ completion: @escaping RedisConnection.Completion) {
        switch CommandKeys.slot(of: arguments) {
        case .failure(let error):
            logger.error("refused a Redis command: \(error.message)")
            completion(.failure(error))
        case .success(let slot):
            let target = slot.map(link(forSlot:)) ?? anyLink
            guard let target else { return completion(.failure(.unavailable(unavailableReason))) }
            dispatch(arguments, to: target, asking: false, redirects: 0, tries: tries, completion)
        }
    }

    private func dispatch(_ arguments: [[UInt8]], to link: RedisConnection, asking: Bool, redirects: Int, tries: Int,
                          _ completion: @escaping RedisConnection.Completion) {
        // Redirected to a node whose connection is still opening (a new primary): wait for it a little.
        if redirects > 0, !link.isConnected, redirects < 20 {
            return later { self.dispatch(arguments, to: link, asking: asking, redirects: redirects + 1, tries: tries, completion) }
        }
        if asking { link.send(["ASKING"]) { _ in } }
        link.send(bytes: arguments) { [weak self] result in
            guard let self, !self.closed, case .failure(let error) = result else { return completion(result) }
            if error.isUnavailable {
                self.refresh()
                return completion(result)
            }
            if let (ask, slot, to) = redirection(error.message), redirects < 25 {
                if !ask {
                    self.logger.info("slot \(slot) moved to \(to); reading the slot map again")
                    self.noteMoved(slot, to: to)
                    self.refresh()
                }
                return self.dispatch(arguments, to: self.link(for: to), asking: ask, redirects: redirects + 1, tries: tries,
                                     completion)
            }
            if error.message.hasPrefix("TRYAGAIN") {
                // A multi-key request in a slot being migrated, its keys split for a moment.
                guard tries < 20 else {
                    return completion(.failure(.unavailable("Redis Cluster: \(error.message) (a slot stays half migrated)")))
                }
                return self.later { self.route(arguments, tries: tries + 1, completion) }
            }
            if error.message.hasPrefix("CLUSTERDOWN") {
                self.refresh()
                return completion(.failure(.unavailable("Redis Cluster: \(error.message)")))
            }
            completion(result)
        }
    }

    /// Runs `action` in 50 ms (one timer for every deferred retry).
    private func later(_ action: @escaping () -> Void) {
        deferred.append(action)
        guard deferred.count == 1 else { return }
        retryTimer.start(after: 50) { [unowned self] in
            let actions = self.deferred
            self.deferred.removeAll()
            actions.forEach { $0() }
        }
    }

    /// MOVED says who owns the slot now: use it until the next map read says more.
    func noteMoved(_ slot: Int, to: RedisAddress) {
        if let index = map.primaries.firstIndex(where: { $0.description == to.description }) {
            map.owners[slot] = Int32(index)
        } else {
            map.primaries.append(to)
            map.owners[slot] = Int32(map.primaries.count - 1)
        }
        onMapChange?()
    }

    /// The link to `address`, opened now if there is none.
    /// (Never after `close`: every link opened is closed by it.)
    private func link(for address: RedisAddress) -> RedisConnection {
        if let link = links[address.description] { return link }
        let link = RedisConnection(loop: loop, address: address, logger: logger)
        link.commandTimeoutMillis = commandTimeoutMillis
        link.connectTimeoutMillis = connectTimeoutMillis
        scripts.forEach(link.register)
        if let library { link.register(library) }
        if let onPush { link.onPush = { [unowned link] value in onPush(link, value) } }
        link.onStateChange = { [unowned self, unowned link] connected in
            self.onLinkState?(link, connected)
            if !connected { self.refresh() }
            self.updateState()
        }
        links[address.description] = link
        if started { link.start() }
        return link
    }

    private func updateState() {
        let now = mapRead && map.isComplete && map.primaries.allSatisfy { links[$0.description]?.isConnected == true }
        guard now != up else { return }
        up = now
        logger.info(now ? "Redis Cluster: every primary connected (\(map.primaries.count))" : "Redis Cluster: a primary is unreachable")
        onStateChange?(now)
    }

    // MARK: The slot map

    /// Reads the map from the first node that answers: connected primaries first, then every node
    /// seen, then the seeds. One read at a time; a request during one causes one more after it.
    func refresh() {
        guard started, !closed else { return }
        if refreshing { refreshAgain = true; return }
        refreshing = true
        var candidates: [RedisAddress] = map.primaries.filter { links[$0.description]?.isConnected == true }
        for address in map.primaries + map.nodes + seeds where !candidates.contains(where: { $0.description == address.description }) {
            candidates.append(address)
        }
        ask(candidates, index: 0, errors: [])
    }

    private func ask(_ candidates: [RedisAddress], index: Int, errors: [String]) {
        guard !closed else { return }
        guard index < candidates.count else {
            lastError = "no node answered CLUSTER SHARDS: " + errors.joined(separator: "; ")
            if mapRead { logger.warning("\(lastError)") } else { logger.warning("cannot read the Redis Cluster slot map: \(lastError)") }
            return refreshDone()
        }
        let node = candidates[index]
        query(node, ["CLUSTER", "SHARDS"]) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let value):
                if let map = SlotMap(shards: value, asked: node), map.isComplete { return self.apply(map, from: node) }
                self.ask(candidates, index: index + 1, errors: errors + ["\(node): the map is incomplete"])
            case .failure(let error) where !error.isUnavailable:
                // Before Redis 7: CLUSTER SLOTS.
                self.query(node, ["CLUSTER", "SLOTS"]) { [weak self] result in
                    guard let self else { return }
                    if case .success(let value) = result, let map = SlotMap(slots: value, asked: node), map.isComplete {
                        return self.apply(map, from: node)
                    }
                    self.ask(candidates, index: index + 1, errors: errors + ["\(node): \(error.message)"])
                }
            case .failure(let error):
                self.ask(candidates, index: index + 1, errors: errors + ["\(node): \(error.message)"])
            }
        }
    }

    /// On the node's link when it has one, else on a connection of its own for this one command.
    private func query(_ node: RedisAddress, _ command: [String], _ completion: @escaping RedisConnection.Completion) {
        if onPush == nil, let link = links[node.description], link.isConnected { return link.send(command, completion) }
        SentinelLink.query(loop: loop, address: node, timeoutMillis: connectTimeoutMillis, command: command, completion)
    }

    private func apply(_ fresh: SlotMap, from node: RedisAddress) {
        // A read that was under way when the router closed opens nothing.
        guard !closed else { return }
        let changed = !mapRead || fresh.owners.indices.contains { map.primaries[safe: map.owners[$0]]?.description
            != fresh.primaries[Int(fresh.owners[$0])].description }
        if changed {
            logger.info("Redis Cluster slot map from \(node): primaries \(fresh.primaries.map(\.description).joined(separator: ", "))")
        }
        map = fresh
        mapRead = true
        lastError = ""
        for primary in map.primaries { _ = link(for: primary) }
        for (name, link) in links where !map.primaries.contains(where: { $0.description == name }) {
            // No longer a primary (failed over, or emptied by a reshard): close once its replies are in.
            logger.info("closing the Redis Cluster link to \(name): not a primary any more")
            links[name] = nil
            closedReconnects += link.reconnectCount
            closedLatency.add(link.latency)
            link.onStateChange = nil
            link.onPush = nil
            link.close { withExtendedLifetime(link) {} }
        }
        if changed { onMapChange?() }
        updateState()
        refreshDone()
    }

    private func refreshDone() {
        refreshing = false
        if refreshAgain {
            refreshAgain = false
            refresh()
        }
    }
}

private extension Array where Element == RedisAddress {
    subscript(safe index: Int32) -> RedisAddress? { index >= 0 && Int(index) < count ? self[Int(index)] : nil }
}
