import Foundation
import Redis
import XCTest
@testable import Interview
@testable import Stores

/// Redis time per committed op at 1 KiB: the commit script by EVALSHA (the helper library and the
/// session layer re-run on every call) against the same script as a function of the Functions
/// library (helpers defined once, at load), on the same workload through the real argument builder:
/// CONTRACT_BENCH_OPS commits (300 by default) per round, CONTRACT_BENCH_ROUNDS rounds (3) taking
/// turns. Reports INFO commandstats' usec_per_call of each round, and the median and the fastest
/// tenth of the single calls' times (SLOWLOG at threshold 0), which a busy machine disturbs less.
final class FunctionsBenchmarkTests: XCTestCase {
    func testCommitRedisTimeByEvalshaAndByFunction() throws {
        let redis = try RedisContract()
        defer { redis.close() }
        let environment = ProcessInfo.processInfo.environment
        let ops = Int(environment["CONTRACT_BENCH_OPS"] ?? "") ?? 300
        let rounds = Int(environment["CONTRACT_BENCH_ROUNDS"] ?? "") ?? 3
        let settings = SessionSettings()
        let text = String(repeating: String(repeating: "a", count: 63) + "\n", count: 16)  // 1 KiB

        func commit(_ connection: RedisConnection) {
            let keys = SessionKeys(Identifiers.sessionID())
            let create = Scripts.createArguments(settings: settings, name: "bench", code: text, language: "python",
                                                 maxParticipants: 10, hostTokenHash: "h", creator: nil)
            guard case .success = redis.run(connection, Scripts.create, keys: keys.all, arguments: create) else {
                return XCTFail("create failed")
            }
            var length = text.unicodeScalars.count
            let author = CommitAuthor(id: "u_1", name: "Bench", color: "#000000")
            for revision in 0..<ops {
                var op = TextOperation()
                let at = (revision * 37) % length
                op.retain(at)
                op.insert("x")
                op.retain(length - at)
                let arguments = Scripts.commitArguments(settings: settings, .code, base: revision, op: op, connection: "c1", author: author)
                let result = redis.run(connection, Scripts.commit, keys: keys.all, arguments: arguments)
                guard case .success(let value) = result, value.array?.first?.integer == revision + 1 else {
                    return XCTFail("commit \(revision) answered \(result)")
                }
                length += 1
            }
        }

        /// One round on `connection`: usec_per_call of `command`, and each commit's own time (us).
        func round(_ connection: RedisConnection, _ command: String) -> (perCall: Double, calls: [Int]) {
            _ = redis.send(connection, ["CONFIG", "RESETSTAT"])
            _ = redis.send(connection, ["SLOWLOG", "RESET"])
            commit(connection)
            let stats = redis.commandStats(connection, command)
            XCTAssertEqual(stats?.calls, ops + 1)
            var calls: [Int] = []
            if case .success(let log) = redis.send(connection, ["SLOWLOG", "GET", String(ops + 100)]) {
                calls = (log.array ?? []).filter { $0.array?[3].array?.first?.text?.lowercased() == command }.compactMap { $0.array?[2].integer }
            }
            return (stats?.usecPerCall ?? -1, calls)
        }

        let eval = redis.connect(functions: false)
        let functions = redis.connect(functions: true)
        _ = redis.send(eval, ["CONFIG", "SET", "slowlog-log-slower-than", "0"])
        _ = redis.send(eval, ["CONFIG", "SET", "slowlog-max-len", String(ops + 100)])
        var evalsha: [Double] = [], fcall: [Double] = [], evalCalls: [Int] = [], functionCalls: [Int] = []
        for _ in 0..<rounds {
            let e = round(eval, "evalsha")
            evalsha.append(e.perCall)
            evalCalls += e.calls
            let f = round(functions, "fcall")
            fcall.append(f.perCall)
            functionCalls += f.calls
        }
        func summary(_ calls: [Int]) -> String {
            let sorted = calls.sorted()
            guard !sorted.isEmpty else { return "no calls logged" }
            return "median \(sorted[sorted.count / 2]) us, 10th percentile \(sorted[sorted.count / 10]) us"
        }
        print("Redis time per commit at 1 KiB (\(rounds) rounds of \(ops) commits + 1 create):")
        print("  EVALSHA usec_per_call by round \(evalsha); single calls: \(summary(evalCalls))")
        print("  FCALL   usec_per_call by round \(fcall); single calls: \(summary(functionCalls))")
    }
}
