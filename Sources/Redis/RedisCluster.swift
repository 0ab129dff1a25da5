import Logging
import Transport

// Redis Cluster on hiredis 0.14, which knows nothing of it: the slot of a key, which arguments of
// a command are keys, the slot map, and the router that sends each command to the primary owning
// its slot. Modelled on hiredis-cluster (C) and valkey-swift's ValkeyClusterClient: one
// connection per primary, the map read with CLUSTER SHARDS (CLUSTER SLOTS before Redis 7), MOVED
// followed and the map re-read, ASK answered with ASKING and one retry on the importing node.
// Each primary is a `RedisNodeClient` (one hiredis link at a time, as for a single Redis).

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
    enum Positions { case none, first, firstTwo, all, everyOther, scriptKeys, streams }

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
        // XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: the first half after STREAMS.
        table["XREAD"] = .streams
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
        case .streams?:
            guard let at = arguments.firstIndex(where: { String(decoding: $0, as: UTF8.self).uppercased() == "STREAMS" }),
                  (arguments.count - at - 1) % 2 == 0, arguments.count - at - 1 >= 2 else { return .failure(.server("ERR malformed \(name)")) }
            keys = arguments[(at + 1)..<(at + 1 + (arguments.count - at - 1) / 2)]
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
    var primaries: [RedisEndpoint] = []
    /// Per slot, its primary's index in `primaries`; -1 for a slot nobody serves.
    var owners = [Int32](repeating: -1, count: RedisSlot.count)
    /// Every node named (replicas too): where to ask for the map next time.
    var nodes: [RedisEndpoint] = []

    var isComplete: Bool { !owners.contains(-1) }

    init() {}

    private mutating func index(of address: RedisEndpoint) -> Int32 {
        if let found = primaries.firstIndex(of: address) { return Int32(found) }
        primaries.append(address)
        return Int32(primaries.count - 1)
    }

    private mutating func assign(_ start: Int, _ end: Int, to address: RedisEndpoint) {
        guard start >= 0, end < RedisSlot.count, start <= end else { return }
        let owner = index(of: address)
        for slot in start...end { owners[slot] = owner }
    }

    /// CLUSTER SHARDS (Redis 7): per shard {"slots", [start, end, ...], "nodes", [{field, value...}]}.
    /// The shard's primary is its node whose role is master, the one online when there are two
    /// (a failed primary still listed beside the replica that replaced it).
    init?(shards value: RedisValue, asked: RedisEndpoint) {
        guard let shards = value.array else { return nil }
        for shard in shards {
            guard let fields = pairs(shard), let slots = fields["slots"]?.array, let nodes = fields["nodes"]?.array else { return nil }
            var primary: RedisEndpoint?
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
    init?(slots value: RedisValue, asked: RedisEndpoint) {
        guard let ranges = value.array else { return nil }
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].integer, let end = parts[1].integer else { return nil }
            var addresses: [RedisEndpoint] = []
            for node in parts[2...] {
                guard let fields = node.array, fields.count >= 2, let host = fields[0].text, let port = fields[1].integer else { continue }
                addresses.append(RedisEndpoint(host: host.isEmpty || host == "?" ? asked.host : host, port: port))
            }
            guard let primary = addresses.first else { continue }
            nodes += addresses
            assign(start, end, to: primary)
        }
    }

    private static func address(_ node: [String: RedisValue], asked: RedisEndpoint) -> RedisEndpoint? {
        guard let port = node["port"]?.integer, port > 0 else { return nil }
        var host = node["endpoint"]?.text ?? ""
        if host.isEmpty || host == "?" { host = node["ip"]?.text ?? "" }
        return RedisEndpoint(host: host.isEmpty || host == "?" ? asked.host : host, port: port)
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
func redirection(_ message: String) -> (ask: Bool, slot: Int, to: RedisEndpoint)? {
    let words = message.split(separator: " ")
    guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let slot = Int(words[1]),
          (0..<RedisSlot.count).contains(slot) else { return nil }
    guard let address = RedisEndpoint(parsing: String(words[2])) else { return nil }
    return (words[0] == "ASK", slot, address)
}

