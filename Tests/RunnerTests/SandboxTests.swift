import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
@testable import TestSupport
#endif

/// Hostile programs: each is contained, gets a clear status, and the runner keeps serving.
final class SandboxTests: RunnerTestCase {
    /// The repository root (this file is Tests/RunnerTests/SandboxTests.swift).
    static let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    func testInfiniteLoopHitsTheCPUTimeLimit() throws {
        let started = Date()
        let result = try run("python", "while True:\n    pass\n", limits: ["cpu_time_ms": 1000])
        assertStatus(result, "time_limit_exceeded")
        let cpu = (result["time_ms"] as? [String: Any])?["cpu"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(cpu, 1000, "\(result)")
        XCTAssertLessThan(cpu, 2500, "stopped soon after the limit: \(result)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertTrue((result["message"] as? String ?? "").contains("CPU"), "\(result)")
        assertRunnerStillServes()
    }

    func testSleeperHitsTheWallClockLimitAndTheWholeTreeIsKilled() throws {
        // A background child in its own session, then a sleep: the wall clock stops both.
        let marker = "ci-sleeper-\(UInt32.random(in: 0...UInt32.max))"
        let code = """
        import subprocess, time
        subprocess.Popen(["\(marker)", "300"], executable="/usr/bin/sleep", start_new_session=True)
        time.sleep(300)
        """
        let result = try run("python", code, limits: ["wall_time_ms": 1000])
        assertStatus(result, "time_limit_exceeded")
        XCTAssertTrue((result["message"] as? String ?? "").contains("wall clock"), "\(result)")
        XCTAssertFalse(hostHasProcess(containing: marker), "a process of the sandbox outlived it")

        // A program that leaves a child behind and exits: the child does not survive the run.
        let leaver = try run("python", "import subprocess\nsubprocess.Popen(['\(marker)-2', '300'], executable='/usr/bin/sleep', start_new_session=True)\nprint('bye')\n")
        assertStatus(leaver, "ok")
        XCTAssertFalse(hostHasProcess(containing: "\(marker)-2"), "a background process outlived the run")
        assertRunnerStillServes()
    }

    func testMemoryHogHitsTheMemoryLimit() throws {
        let grow = try run("python", "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))\n", limits: ["memory_kb": 65536])
        assertStatus(grow, "memory_limit_exceeded")
        let huge = try run("python", "data = bytearray(4 << 30)\n")
        assertStatus(huge, "memory_limit_exceeded")
        if try availableLanguages().contains("c") {
            let c = try run("c", """
            #include <stdlib.h>
            #include <string.h>
            int main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); } }
            """, limits: ["memory_kb": 65536])
            assertStatus(c, "memory_limit_exceeded")
            XCTAssertGreaterThan(c["memory_kb"] as? Int ?? 0, 50_000, "peak memory near the limit: \(c)")
            XCTAssertLessThan(c["memory_kb"] as? Int ?? 0, 80_000, "peak memory held at the limit: \(c)")
        }
        assertRunnerStillServes()
    }

    func testForkBombIsContained() throws {
        let started = Date()
        let result = try run("python", """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """, limits: ["cpu_time_ms": 2000, "wall_time_ms": 4000])
        XCTAssertTrue(["time_limit_exceeded", "runtime_error"].contains(result["status"] as? String ?? ""), "\(result)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 15)
        XCTAssertEqual(sandboxProcessCount(), 0, "fork bomb processes are left on the host")
        // The process limit holds: a program can start at most `processes` of them.
        let counted = try run("python", """
        import subprocess
        started = 0
        procs = []
        for _ in range(40):
            try:
                procs.append(subprocess.Popen(["sleep", "5"]))
                started += 1
            except OSError:
                pass
        print(started)
        """, limits: ["processes": 10])
        assertStatus(counted, "ok")
        XCTAssertLessThan(Int((counted["stdout"] as? String ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 99, 10, "\(counted)")
        assertRunnerStillServes()
    }

    func testOutputFloodIsStoppedAndTruncated() throws {
        let flood = try run("python", "while True:\n    print('y' * 1000)\n")
        assertStatus(flood, "output_limit_exceeded")
        XCTAssertEqual(flood["truncated"] as? Bool, true)
        XCTAssertEqual((flood["stdout"] as? String)?.utf8.count, 65536, "stdout is kept up to the 64 KiB cap")
        XCTAssertGreaterThan(flood["stdout_bytes"] as? Int ?? 0, 1024 * 1024, "stopped after the 1 MiB output limit")

        // Above the capture cap but within the output limit: the run is ok, the output truncated.
        let large = try run("python", "import sys\nprint('x' * 100000)\nprint('e' * 70000, file=sys.stderr)\n")
        assertStatus(large, "ok")
        XCTAssertEqual(large["truncated"] as? Bool, true)
        XCTAssertEqual(large["stdout_truncated"] as? Bool, true)
        XCTAssertEqual(large["stderr_truncated"] as? Bool, true)
        XCTAssertEqual((large["stdout"] as? String)?.utf8.count, 65536)
        XCTAssertEqual(large["stdout_bytes"] as? Int, 100001)
        assertRunnerStillServes()
    }

    func testNoNetworkNotEvenToRedisOnLoopback() throws {
        let result = try run("python", """
        import socket
        for port in (\(redis.port), \(gateway.port)):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2)
                print(port, "connected")
            except OSError as e:
                print(port, "failed", e.errno)
        try:
            socket.getaddrinfo("example.com", 80)
            print("dns ok")
        except OSError:
            print("dns failed")
        """)
        assertStatus(result, "ok")
        let stdout = result["stdout"] as? String ?? ""
        XCTAssertFalse(stdout.contains("connected"), stdout)
        XCTAssertTrue(stdout.contains("\(redis.port) failed"), stdout)
        XCTAssertTrue(stdout.contains("dns failed"), stdout)
        // And Redis did not see a connection from it: the jobs are still intact.
        assertRunnerStillServes()
    }

    func testCannotReadProjectFilesOrHostSecrets() throws {
        let paths = ["\(Self.projectRoot)/Package.swift", "/etc/shadow", "/etc/passwd", "/root", "/home", Self.projectRoot,
                     "/proc/1/environ"]
        let result = try run("python", """
        import os
        for path in \(pythonList(paths)):
            try:
                if os.path.isdir(path) or path.endswith(("/root", "/home")):
                    os.listdir(path)
                else:
                    open(path, "rb").read(16)
                print(path, "READ")
            except OSError as e:
                print(path, "denied", e.errno)
        """)
        assertStatus(result, "ok")
        let stdout = result["stdout"] as? String ?? ""
        XCTAssertFalse(stdout.contains("READ"), stdout)
        for path in paths { XCTAssertTrue(stdout.contains("\(path) denied"), "\(path): \(stdout)") }
        assertRunnerStillServes()
    }

    func testCannotWriteOutsideItsWorkDirectory() throws {
        let outside = ["/usr/evil", "/etc/evil", "/evil", "/bin/evil", "\(Self.projectRoot)/evil", "/proc/evil"]
        let result = try run("python", """
        import os
        for path in \(pythonList(outside)):
            try:
                with open(path, "w") as f:
                    f.write("x")
                print(path, "WROTE")
            except OSError as e:
                print(path, "denied", e.errno)
        for path in ("/work/ok.txt", "/tmp/ok.txt"):
            with open(path, "w") as f:
                f.write("fine")
            print(path, "ok", open(path).read())
        print(os.getcwd(), os.getuid())
        """)
        assertStatus(result, "ok")
        let stdout = result["stdout"] as? String ?? ""
        XCTAssertFalse(stdout.contains("WROTE"), stdout)
        for path in outside { XCTAssertTrue(stdout.contains("\(path) denied"), "\(path): \(stdout)") }
        XCTAssertTrue(stdout.contains("/work/ok.txt ok fine"), stdout)
        XCTAssertTrue(stdout.contains("/work 65534"), "runs in /work as uid 65534: \(stdout)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(Self.projectRoot)/evil"))
        assertRunnerStillServes()
    }

    func testCannotKillTheRunner() throws {
        let result = try run("python", """
        import os, signal
        for target in (\(runner.pid), \(getpid()), -1, 1):
            try:
                os.kill(target, signal.SIGKILL)
                print(target, "signalled")
            except OSError as e:
                print(target, "failed", e.errno)
        print("visible processes:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        """)
        XCTAssertTrue(runner.isRunning, "the runner was killed")
        let stdout = result["stdout"] as? String ?? ""
        XCTAssertTrue(stdout.contains("\(runner.pid) failed"), "\(result)")
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertTrue(runner.isRunning)
        assertRunnerStillServes()
    }

    // MARK: helpers

    private func pythonList(_ items: [String]) -> String {
        "[" + items.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    }

    /// True when some host process's command line contains `text`.
    private func hostHasProcess(containing text: String) -> Bool {
        !hostProcesses(containing: text).isEmpty
    }
}
