import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real Redis Cluster: `primaries` × 2 redis-server processes (`--cluster-enabled yes`) on free
/// loopback ports, joined by `redis-cli --cluster create --cluster-replicas 1`, ready once every
/// node reports `cluster_state:ok` and agrees on the slots.
final class RedisClusterProcesses: @unchecked Sendable {
    struct Node {
        let port: UInt16
        let directory: String
        var process: ChildProcess
    }

    private(set) var nodes: [Node] = []

    var ports: [UInt16] { nodes.map(\.port) }
    var seeds: String { ports.map { "127.0.0.1:\($0)" }.joined(separator: ",") }

    init(primaries: Int = 3, nodeTimeoutMillis: Int = 1_000) throws {
        for _ in 0..<(primaries * 2) {
            let port = try Self.freePortPair(taken: nodes.map(\.port))
            let directory = try TempDir.make("ci-rcluster")
            nodes.append(Node(port: port, directory: directory, process: try Self.launch(port: port, directory: directory, nodeTimeoutMillis: nodeTimeoutMillis)))
        }
        for node in nodes where !eventually(timeout: 10, { (try? self.cli(node.port, "PING")) == "PONG" }) {
            throw HarnessError("redis-server on \(node.port) did not answer PING:\n\(node.process.logTail())")
        }
        let create = try Self.run(["redis-cli", "--cluster", "create"] + ports.map { "127.0.0.1:\($0)" }
                                  + ["--cluster-replicas", "1", "--cluster-yes"])
        guard create.status == 0 else { throw HarnessError("redis-cli --cluster create failed:\n\(create.output)") }
        guard waitUntilHealthy(timeout: 30) else { throw HarnessError("the cluster did not reach cluster_state:ok") }
        // Every primary's replica has finished its first sync (a failover needs it).
        let synced = eventually(timeout: 30, interval: 0.1) {
            ((try? primaryPorts()) ?? []).allSatisfy { ((try? cli($0, "INFO", "replication")) ?? "").contains("state=online") }
        }
        guard synced else { throw HarnessError("the replicas did not finish their first sync") }
    }

    /// A free port whose cluster bus port (port + 10000) is free too; Redis needs both ≤ 65535.
    static func freePortPair(taken: [UInt16]) throws -> UInt16 {
        for _ in 0..<200 {
            let port = UInt16.random(in: 20_000...45_000)
            if !taken.contains(port), canBind(port), canBind(port + 10_000) { return port }
        }
        throw HarnessError("no free port pair for a cluster node")
    }

    private static func canBind(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func launch(port: UInt16, directory: String, nodeTimeoutMillis: Int) throws -> ChildProcess {
        try ChildProcess(executable: try RedisServer.executablePath(),
                         arguments: ["--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory,
                                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                     "--cluster-node-timeout", "\(nodeTimeoutMillis)", "--save", "", "--appendonly", "no",
                                     // Replicas in sync at once, and always allowed to take over.
                                     "--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0",
                                     "--daemonize", "no"],
                         logPath: "\(directory)/redis.log")
    }

    /// Every live node says cluster_state:ok and all 16384 slots are assigned.
    func waitUntilHealthy(timeout: TimeInterval) -> Bool {
        eventually(timeout: timeout, interval: 0.1) {
            nodes.filter(\.process.isRunning).allSatisfy { node in
                guard let info = try? cli(node.port, "CLUSTER", "INFO") else { return false }
                return info.contains("cluster_state:ok") && info.contains("cluster_slots_assigned:16384")
                    && info.contains("cluster_slots_ok:16384")
            }
        }
    }

    /// One redis-cli command on a node, its output trimmed.
    @discardableResult
    func cli(_ port: UInt16, _ arguments: String...) throws -> String { try cli(port, arguments) }

    @discardableResult
    func cli(_ port: UInt16, _ arguments: [String]) throws -> String {
        let result = try Self.run(["redis-cli", "-p", "\(port)"] + arguments)
        guard result.status == 0 else { throw HarnessError("redis-cli \(arguments) failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The port of the primary owning `slot`, per CLUSTER SLOTS of a live node.
    func primary(ofSlot slot: Int) throws -> UInt16 {
        let port = nodes.first(where: \.process.isRunning)!.port
        let lines = try cli(port, "CLUSTER", "SLOTS").split(separator: "\n").map(String.init)
        // redis-cli prints a flat list: start, end, ip, port, id, (replica ip, port, id)..., per range.
        var index = 0
        while index + 3 < lines.count {
            if let start = Int(lines[index]), let end = Int(lines[index + 1]), lines[index + 2].contains("."),
               let owner = UInt16(lines[index + 3]) {
                if (start...end).contains(slot) { return owner }
                index += 4
            } else {
                index += 1
            }
        }
        throw HarnessError("no primary owns slot \(slot)")
    }

    /// Node id of the node on `port`.
    func id(of port: UInt16) throws -> String { try cli(port, "CLUSTER", "MYID") }

    /// The primaries' ports.
    func primaryPorts() throws -> [UInt16] {
        try nodes.filter(\.process.isRunning).map(\.port).filter { port in
            try cli(port, "ROLE").hasPrefix("master")
        }
    }

    /// Moves `slot` with its keys to the primary on `target` (SETSLOT IMPORTING/MIGRATING, MIGRATE,
    /// SETSLOT NODE on every primary), as `redis-cli --cluster reshard` does.
    func moveSlot(_ slot: Int, to target: UInt16) throws {
        let source = try primary(ofSlot: slot)
        guard source != target else { return }
        let targetID = try id(of: target)
        try cli(target, "CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", try id(of: source))
        try cli(source, "CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID)
        while true {
            let keys = try cli(source, "CLUSTER", "GETKEYSINSLOT", "\(slot)", "100").split(separator: "\n").map(String.init).filter { !$0.isEmpty }
            if keys.isEmpty { break }
            try cli(source, ["MIGRATE", "127.0.0.1", "\(target)", "", "0", "5000", "KEYS"] + keys)
        }
        try cli(target, "CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID)
        for port in try primaryPorts() where port != target { try cli(port, "CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID) }
    }

    func kill9(_ port: UInt16) {
        guard let node = nodes.first(where: { $0.port == port }) else { return }
        node.process.signal(SIGKILL)
        _ = node.process.waitForExit(timeout: 5)
    }

    /// Runs a program to completion; its exit status and output (stdout and stderr).
    static func run(_ command: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func stop() {
        for node in nodes { node.process.stop(grace: 2) }
    }

    deinit { stop() }
}
