import Interview
import Stores
import JSON
import Redis
import Transport

/// GET /api/v1/cluster (admin token): the node registry, the job queue and Redis itself, the
/// same report as `cluster/status --json` (which reads Redis directly, so it works with no
/// gateway up). Read-only; a pipelined round of commands per slot.
final class ClusterController: Controller {
    private let redis: RedisConnection
    private let instanceID: String

    init(redis: RedisConnection, instanceID: String) {
        self.redis = redis
        self.instanceID = instanceID
    }

    var routes: [Route] {
        [Route("cluster", .get(auth: .admin("operator routes"), rate: .requests, clusterStatus))]
    }

    func clusterStatus(_ context: RequestContext) {
        // Two pipelines, one per slot ({nodes}, then {jobs}), so it works on Redis Cluster too;
        // the replies are joined in the order ClusterReport reads them.
        let nodes: [[String]] = [
            ["TIME"],
            ["ZRANGE", NodeKeys.gateways, "0", "-1", "WITHSCORES"],
            ["HGETALL", NodeKeys.gatewayInfo],
            ["ZRANGE", ExecutionKeys.runners, "0", "-1", "WITHSCORES"],
            ["HGETALL", ExecutionKeys.runnerInfo],
        ]
        let jobs: [[String]] = [["LLEN", ExecutionKeys.queue]] + Language.ids.map { ["LLEN", ExecutionKeys.parked($0)] }
        redis.pipeline(nodes + [["INFO"]]) { [self] first in
            redis.pipeline(jobs) { [self] second in
                switch (first, second) {
                case (.failure(let error), _), (_, .failure(let error)): context.reply(Problem.unavailable(error.message))
                case (.success(let head), .success(let tail)):
                    let replies = Array(head.prefix(nodes.count)) + [tail[0], head[nodes.count]] + tail.dropFirst()
                    let report = ClusterReport(replies: replies, redis: redis.primaryAddress.description, instance: instanceID)
                    // The archive queue ({archive}) and the archivers ({nodes}): a round of their
                    // own, overdue counted by Redis' clock from the first.
                    let now = String(report.redisNow)
                    redis.pipeline([["ZCARD", ArchiveKeys.due], ["ZCOUNT", ArchiveKeys.due, "-inf", now],
                                    ["ZRANGEBYSCORE", ArchiveKeys.due, "-inf", now, "WITHSCORES", "LIMIT", "0", "1"]]) { [self] third in
                        redis.pipeline([["ZRANGE", NodeKeys.archivers, "0", "-1", "WITHSCORES"], ["HGETALL", NodeKeys.archiverInfo]]) { fourth in
                            switch (third, fourth) {
                            case (.failure(let error), _), (_, .failure(let error)): context.reply(Problem.unavailable(error.message))
                            case (.success(let queue), .success(let archivers)):
                                var report = report
                                report.archive = queue + archivers
                                context.reply(report.json)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Shapes the replies of `clusterStatus` (in its order) into the report. cluster/lib/status.py
/// builds the same document; keep the two in step.
struct ClusterReport {
    let replies: [RedisValue]
    let redis: String
    let instance: String
    /// ZCARD, ZCOUNT overdue and the oldest overdue of the archive queue, then the archivers'
    /// registry (ZRANGE WITHSCORES, HGETALL); empty: no archive section.
    var archive: [RedisValue] = []

    var json: JSON {
        let now = redisNow
        var nodes: [JSON] = []
        var totals = (gateways: 0, runners: 0, connections: 0, websockets: 0, sessions: 0, running: 0, capacity: 0)
        let gatewayInfo = hash(replies[2])
        for (id, expiry) in scores(replies[1]) {
            let info = gatewayInfo[id] ?? .object([])
            let up = expiry > now
            let connections = info["connections"]?.intValue ?? 0, websockets = info["websockets"]?.intValue ?? 0
            let sessions = info["sessions"]?.intValue ?? 0
            if up {
                totals.gateways += 1
                totals.connections += connections
                totals.websockets += websockets
                totals.sessions += sessions
            }
            nodes.append(node(kind: "gateway", id: id, info: info, expiry: expiry, now: now, state: up ? "up" : "expired", extra: [
                "connections": .integer(connections), "websockets": .integer(websockets), "sessions": .integer(sessions),
                "this": .bool(id == instance),
            ]))
        }
        let runnerInfo = hash(replies[4])
        for (id, expiry) in scores(replies[3]) {
            let info = runnerInfo[id] ?? .object([])
            let up = expiry > now
            let draining = info["draining"]?.boolValue ?? false
            let running = info["running"]?.intValue ?? 0, capacity = info["capacity"]?.intValue ?? 0
            if up {
                totals.runners += 1
                totals.running += running
                totals.capacity += draining ? 0 : capacity
            }
            let languages = (info["languages"]?.arrayValue ?? []).compactMap { $0["id"] ?? ($0.stringValue.map(JSON.string)) }
            nodes.append(node(kind: "runner", id: id, info: info, expiry: expiry, now: now,
                              state: !up ? "expired" : draining ? "draining" : "up", extra: [
                "jobs_running": .integer(running), "jobs_capacity": .integer(capacity),
                "jobs_completed": .integer(info["completed"]?.intValue ?? 0), "languages": .array(languages),
            ]))
        }
        let parked = replies[7...].reduce(0) { $0 + ($1.integer ?? 0) }
        var archiversUp = 0
        var archiveSection: JSON = ["queued": .integer(0), "overdue": .integer(0), "oldest_overdue_ms": .integer(0)]
        if archive.count == 5 {
            let info = hash(archive[4])
            for (id, expiry) in scores(archive[3]) {
                let info = info[id] ?? .object([])
                let up = expiry > now
                let healthy = info["healthy"]?.boolValue ?? false, stopping = info["stopping"]?.boolValue ?? false
                if up { archiversUp += 1 }
                nodes.append(node(kind: "archiver", id: id, info: info, expiry: expiry, now: now,
                                  state: !up ? "expired" : stopping ? "draining" : healthy ? "up" : "unhealthy", extra: [
                    "healthy": .bool(healthy), "sessions_archiving": .integer(info["in_flight"]?.intValue ?? 0),
                    "concurrency": .integer(info["concurrency"]?.intValue ?? 0),
                    "sessions_archived": .integer(info["archived"]?.intValue ?? 0), "failures": .integer(info["failed"]?.intValue ?? 0),
                ]))
            }
            let oldest = scores(archive[2]).first?.1
            archiveSection = ["queued": .integer(archive[0].integer ?? 0), "overdue": .integer(archive[1].integer ?? 0),
                              "oldest_overdue_ms": .integer(oldest.map { max(0, now - $0) } ?? 0)]
        }
        return [
            "now": .integer(now),
            "redis": redisSection,
            "queue": ["queued": .integer(replies[5].integer ?? 0), "parked": .integer(parked)],
            "archive": archiveSection,
            "totals": ["gateways_up": .integer(totals.gateways), "runners_up": .integer(totals.runners),
                       "connections": .integer(totals.connections), "websockets": .integer(totals.websockets),
                       "sessions": .integer(totals.sessions), "jobs_running": .integer(totals.running),
                       "jobs_capacity": .integer(totals.capacity), "archivers_up": .integer(archiversUp)],
            "nodes": .array(nodes),
        ]
    }

    /// Redis' clock (TIME), the clock the leases are written in.
    var redisNow: Int {
        guard let parts = replies[0].array, parts.count == 2, let seconds = parts[0].integer, let micros = parts[1].integer else {
            return Int(EventLoop.unixMillis())
        }
        return seconds * 1000 + micros / 1000
    }

    private func node(kind: String, id: String, info: JSON, expiry: Int, now: Int, state: String, extra: JSON) -> JSON {
        let startedAt = info["started_at"]?.intValue
        let heartbeatAt = info["heartbeat_at"]?.intValue
        var address = info["address"]?.stringValue
        if address == nil, let host = info["host"]?.stringValue { address = info["pid"]?.intValue.map { "\(host) pid \($0)" } ?? host }
        var node: JSON = [
            "kind": .string(kind), "id": .string(id), "node_id": .string(info["node_id"]?.stringValue ?? id),
            "address": address.map(JSON.string) ?? .null, "state": .string(state),
            "started_at": startedAt.map(JSON.integer) ?? .null,
            "up_ms": startedAt.map { JSON.integer(max(0, now - $0)) } ?? .null,
            "heartbeat_at": heartbeatAt.map(JSON.integer) ?? .null,
            "heartbeat_age_ms": heartbeatAt.map { JSON.integer(max(0, now - $0)) } ?? .null,
            "lease_left_ms": .integer(expiry - now),
        ]
        for (key, value) in extra.objectValue ?? [] { node.set(key, value) }
        return node
    }

    private var redisSection: JSON {
        var fields: [String: String] = [:]
        for line in (replies[6].text ?? "").split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        func int(_ key: String) -> JSON { fields[key].flatMap { Int($0) }.map(JSON.integer) ?? .null }
        func text(_ key: String) -> JSON { fields[key].map(JSON.string) ?? .null }
        var section: JSON = [
            "address": .string(redis), "role": text("role"), "version": text("redis_version"),
            "uptime_s": int("uptime_in_seconds"), "connected_clients": int("connected_clients"),
            "connected_replicas": int("connected_slaves"), "used_memory_bytes": int("used_memory"),
            "used_memory_human": text("used_memory_human"), "maxmemory_bytes": int("maxmemory"),
            "aof_enabled": .bool(fields["aof_enabled"] == "1"), "aof_last_write_status": text("aof_last_write_status"),
        ]
        if fields["role"] == "slave" {
            section.set("primary", .string("\(fields["master_host"] ?? ""):\(fields["master_port"] ?? "")"))
        }
        return section
    }

    /// ZRANGE ... WITHSCORES: [member, score, ...] in score order.
    private func scores(_ value: RedisValue) -> [(String, Int)] {
        let items = value.array ?? []
        return stride(from: 0, to: items.count - 1, by: 2).compactMap { index in
            guard let id = items[index].text, let score = items[index + 1].text.flatMap(Double.init) else { return nil }
            return (id, Int(score))
        }
    }

    /// HGETALL of JSON values.
    private func hash(_ value: RedisValue) -> [String: JSON] {
        let items = value.array ?? []
        var out: [String: JSON] = [:]
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            if let key = items[index].text, let raw = items[index + 1].text, let json = try? JSON.parse(raw) { out[key] = json }
        }
        return out
    }
}
