import CLibUV
import Interview
import Stores
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// The job cgroups of one runner: the parent directory in each cgroup v1 hierarchy, made by
/// `codeinterview-sandbox cgroups` below the runner's own cgroup; each job slot gets `slot-N`.
struct SandboxCgroups: Sendable {
    var memory: String
    var pids: String
    var cpuacct: String

    var all: [String] { [memory, pids, cpuacct] }
}

/// Where the sandbox's pieces are, how big its writable areas may be, and which layers this
/// runner can give it (see the README's sandbox section).
struct SandboxSettings: Sendable {
    /// bubblewrap.
    var bwrapPath: String
    /// The supervisor (codeinterview-sandbox), also the launcher; bound read-only at /.ci/sandbox.
    var helperPath: String
    /// Size of each of the sandbox's tmpfs (/work, /tmp, /dev/shm).
    var tmpfsBytes: Int
    /// Files and directories each of them may hold (only with `mountRoot`: bubblewrap cannot cap them).
    var tmpfsInodes: Int
    /// The uids (and gids) of the job slots (a runner that is root): slot N runs as
    /// `slotUIDs[N]` outside the sandbox.
    var slotUIDs: [UInt32] = []
    /// The runner is root: the launcher switches to the slot's uid (else all runs as the runner's).
    var privileged = false
    /// The launcher mounts each job's tmpfs itself (it is root), with `nr_inodes`, on these
    /// directories of its own mount namespace; else bubblewrap mounts them, with a size only.
    var mountRoot: String?
    /// The job cgroups; nil: the supervisor polls /proc instead.
    var cgroups: SandboxCgroups?

    static let workDirectory = "/work"
    static let helperMount = "/.ci/sandbox"
    static let path = "/usr/local/bin:/usr/bin:/bin"
    /// The tmpfs of a sandbox: (name of its mount directory below `mountRoot`, where it appears).
    static let tmpfsMounts = [("tmp", "/tmp"), ("work", workDirectory), ("shm", "/dev/shm")]

    func cgroupDirectories(slot: Int) -> [String] {
        cgroups?.all.map { "\($0)/slot-\(slot)" } ?? []
    }

    /// The whole command line of one sandbox in job slot `slot`: the launcher (its layers), then
    /// bubblewrap.
    func arguments(slot: Int) -> [String] {
        var arguments = [helperPath, "launch"]
        if privileged {
            let uid = String(slotUIDs[slot])
            arguments += ["--uid", uid, "--gid", uid]
        }
        if let cgroups {
            arguments += ["--cgroup-memory", "\(cgroups.memory)/slot-\(slot)", "--cgroup-pids", "\(cgroups.pids)/slot-\(slot)",
                          "--cgroup-cpuacct", "\(cgroups.cpuacct)/slot-\(slot)"]
        }
        if let mountRoot {
            for (name, _) in Self.tmpfsMounts { arguments += ["--tmpfs", "\(mountRoot)/\(name):\(tmpfsBytes):\(tmpfsInodes)"] }
        }
        arguments += ["--seccomp", "--"]
        return arguments + bwrapArguments()
    }

    /// The bubblewrap command line: no network, new PID/IPC/UTS/mount/user/cgroup namespaces,
    /// the seccomp filter the launcher put on fd 15, /usr read-only, a few files of /etc
    /// read-only, private tmpfs /work, /tmp and /dev/shm, the rest of /dev read-only, no
    /// capabilities, uid/gid 65534 inside, the supervisor as PID 1, killed with the runner.
    func bwrapArguments() -> [String] {
        var arguments = [bwrapPath,
                         "--unshare-all", "--unshare-user", "--disable-userns",
                         "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
                         "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--as-pid-1",
                         "--seccomp", "15",
                         "--ro-bind", "/usr", "/usr",
                         "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                         "--symlink", "usr/lib", "/lib"]
        if access("/usr/lib64", F_OK) == 0 { arguments += ["--symlink", "usr/lib64", "/lib64"] }
        if access("/usr/lib32", F_OK) == 0 { arguments += ["--symlink", "usr/lib32", "/lib32"] }
        // Only what toolchains read from /etc: the dynamic linker's cache, the alternatives
        // symlinks (java, javac, ...), the JDK's configuration, the time zone. Never /etc itself.
        for path in Self.etcEntries() { arguments += ["--ro-bind", path, path] }
        arguments += ["--proc", "/proc", "--dev", "/dev"]
        for (name, place) in Self.tmpfsMounts {
            if let mountRoot {
                arguments += ["--bind", "\(mountRoot)/\(name)", place]
            } else {
                arguments += ["--size", String(tmpfsBytes), "--tmpfs", place]
            }
        }
        // /dev is bubblewrap's own tmpfs, without a size: nothing may be written there.
        arguments += ["--remount-ro", "/dev",
                      "--ro-bind", helperPath, Self.helperMount,
                      // Everything but the tmpfs mounts becomes read-only, including the
                      // directories bubblewrap created for the binds (/etc, /.ci).
                      "--remount-ro", "/",
                      "--chdir", Self.workDirectory,
                      "--clearenv", "--setenv", "PATH", Self.path, "--setenv", "HOME", Self.workDirectory,
                      "--", Self.helperMount]
        return arguments
    }

    static func etcEntries() -> [String] {
        var paths: [String] = []
        for name in ["alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime"] where access("/etc/\(name)", F_OK) == 0 {
            paths.append("/etc/\(name)")
        }
        if let directory = opendir("/etc") {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name.hasPrefix("java-") { paths.append("/etc/\(name)") }
            }
            closedir(directory)
        }
        return paths.sorted()
    }
}

/// One step the supervisor runs (see RunnerSandbox/main.c for the spec format).
struct SandboxStep {
    /// Where the program's stdin comes from.
    enum Input {
        /// /dev/null.
        case none
        /// The runner's pipe (the job's stdin, written by SandboxProcess).
        case runner
        /// These bytes, fed by the supervisor through a pipe of the step's own (a test case's
        /// input: never a file in the sandbox, never readable by another step).
        case bytes([UInt8])
        /// A pseudo-terminal of the supervisor's (0, 1 and 2 of the program), fed from the
        /// runner's frames on the stdin pipe and relayed to the stdout pipe (an interactive run).
        case terminal
    }

    /// Where the program's stdout and stderr go.
    enum Capture {
        /// To the runner's pipes (streamed as the program prints).
        case none
        /// Into the report, both streams as one, up to `bytes` (compile output, probes).
        case merged(bytes: Int)
        /// Into the report, each stream apart, up to `stdout` and `stderr` bytes (a test case).
        case separate(stdout: Int, stderr: Int)
    }

    var name: String
    var arguments: [String]
    var limits: ExecutionLimits
    var stackKB: Int
    var stdin: Input
    var capture: Capture
    /// Captured bytes (both streams) past which the supervisor stops the step (reason "output");
    /// 0: none (the runner counts what it streams itself).
    var outputLimitBytes = 0
    /// The next step runs even when this one fails (test cases); otherwise a failure ends the job.
    var keepGoing = false
}

/// The spec written to the supervisor's fd 3: netstrings "<length>:<bytes>,".
struct SandboxSpec {
    var environment: [String] = []
    var files: [(name: String, content: [UInt8])] = []
    var steps: [SandboxStep] = []
    /// For a `.terminal` step: stopped after this long without input or output, and the first size.
    var terminal: (idleMillis: Int, cols: Int, rows: Int)?

    var bytes: [UInt8] {
        var out: [UInt8] = []
        func put(_ bytes: [UInt8]) {
            out += Array(String(bytes.count).utf8)
            out.append(UInt8(ascii: ":"))
            out += bytes
            out.append(UInt8(ascii: ","))
        }
        func put(_ text: String) { put(Array(text.utf8)) }
        func put(_ number: Int) { put(String(number)) }
        put("workdir"); put(SandboxSettings.workDirectory)
        for entry in environment { put("env"); put(entry) }
        if let terminal { put("pty"); put(terminal.idleMillis); put(terminal.cols); put(terminal.rows) }
        for file in files { put("file"); put(file.name); put(0o644); put(file.content) }
        for step in steps {
            put("step"); put(step.name)
            put(step.limits.cpuTimeMillis); put(step.limits.wallTimeMillis); put(step.limits.memoryKB)
            put(step.limits.processes); put(step.limits.fileSizeKB); put(step.limits.openFiles); put(step.stackKB)
            switch step.stdin {
            case .none: put(0); put("")
            case .runner: put(1); put("")
            case .bytes(let bytes): put(2); put(bytes)
            case .terminal: put(3); put("")
            }
            switch step.capture {
            case .none: put(0); put(0); put(0)
            case .merged(let bytes): put(1); put(bytes); put(0)
            case .separate(let stdout, let stderr): put(2); put(stdout); put(stderr)
            }
            put(step.outputLimitBytes); put(step.keepGoing ? 1 : 0)
            put(step.arguments.count)
            for argument in step.arguments { put(argument) }
        }
        put("end")
        return out
    }
}

/// What the supervisor reported about one step.
struct StepReport {
    var name: String
    var exitCode: Int?
    var signal: Int?
    var cpuMillis = 0
    var wallMillis = 0
    var maxRSSKB = 0
    /// Peak memory of the step's processes: the cgroup's, or the poll's estimate.
    var peakKB = 0
    /// none, cpu, wall, memory, output, file_size, exec.
    var reason = "none"
    var execErrno = 0
    var outputTruncated = false
    var stderrTruncated = false
    /// Captured stdout (or both streams, merged).
    var output: [UInt8] = []
    /// Captured stderr (steps that capture the streams apart).
    var stderr: [UInt8] = []
}

struct SandboxReport {
    var steps: [StepReport] = []
    var error: String?
    var complete = false

}

/// Reads the supervisor's report as it arrives: "output <n>" and "stderr <n>" blocks, then the
/// "step ..." line that closes the step they belong to; "error ..." and "done" (see run_step in
/// RunnerSandbox/main.c). Each step is handed out the moment its line is complete.
struct SandboxReportReader {
    private(set) var report = SandboxReport()
    /// Bytes not parsed yet (at most one entry, and a step's blocks are bounded by its captures).
    private var buffer: [UInt8] = []
    private var output: [UInt8] = []
    private var stderr: [UInt8] = []
    /// A report (or a block) larger than this is not a supervisor's: the rest is ignored.
    static let maxPendingBytes = 64 << 20

    /// Adds bytes; returns the steps they completed, in order.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [StepReport] {
        guard buffer.count + bytes.count <= Self.maxPendingBytes else {
            if report.error == nil { report.error = "the report is larger than \(Self.maxPendingBytes) bytes" }
            return []
        }
        buffer += bytes
        var finished: [StepReport] = []
        var index = 0
        while let newline = buffer[index...].firstIndex(of: 10) {
            let text = String(decoding: buffer[index..<newline], as: UTF8.self)
            let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            var next = newline + 1
            switch words.first {
            case "output", "stderr":
                guard words.count == 2, let length = Int(words[1]), length >= 0 else { break }
                // The block and its "\n" must be here whole; else wait for more.
                guard buffer.count - next >= length + 1 else { return compact(index, finished) }
                if words[0] == "output" { output = Array(buffer[next..<(next + length)]) } else { stderr = Array(buffer[next..<(next + length)]) }
                next += length + 1
            case "step":
                guard words.count >= 2 else { break }
                var step = StepReport(name: words[1])
                var i = 2
                while i + 1 < words.count {
                    let value = words[i + 1]
                    switch words[i] {
                    case "exit": step.exitCode = Int(value).flatMap { $0 >= 0 ? $0 : nil }
                    case "signal": step.signal = Int(value).flatMap { $0 > 0 ? $0 : nil }
                    case "cpu_ms": step.cpuMillis = Int(value) ?? 0
                    case "wall_ms": step.wallMillis = Int(value) ?? 0
                    case "maxrss_kb": step.maxRSSKB = Int(value) ?? 0
                    case "peak_kb": step.peakKB = Int(value) ?? 0
                    case "reason": step.reason = value
                    case "errno": step.execErrno = Int(value) ?? 0
                    case "truncated": step.outputTruncated = value == "1"
                    case "stderr_truncated": step.stderrTruncated = value == "1"
                    default: break
                    }
                    i += 2
                }
                step.output = output
                step.stderr = stderr
                output = []
                stderr = []
                report.steps.append(step)
                finished.append(step)
            case "error":
                report.error = String(text.dropFirst(6))
            case "done":
                report.complete = true
            default:
                break
            }
            index = next
        }
        return compact(index, finished)
    }

    private mutating func compact(_ consumed: Int, _ finished: [StepReport]) -> [StepReport] {
        if consumed > 0 { buffer.removeFirst(consumed) }
        return finished
    }
}

/// A sandbox (launcher, then bubblewrap) child on the loop: five pipes (stdin, stdout, stderr, spec, report), all read and
/// written asynchronously. The process handle and the pipes are `LoopHandle`s: each lives until
/// its close callback and keeps this object alive until then.
final class SandboxProcess {
    typealias OutputHandler = (_ stream: Int, _ bytes: UnsafeRawBufferPointer) -> Void
    typealias StepHandler = (_ step: StepReport) -> Void
    typealias ExitHandler = (_ exitStatus: Int64, _ signal: Int32, _ report: SandboxReport) -> Void

    private let loop: EventLoop
    private var process: LoopHandle?
    /// 0 stdin, 1 stdout, 2 stderr (as the program sees them), 3 spec, 4 report.
    private var pipes: [LoopHandle] = []
    private var report = SandboxReportReader()
    private var exited: (Int64, Int32)?
    private var eof = [false, false, false, false, false]
    private var finished = false
    var onOutput: OutputHandler?
    /// Each step, as soon as the supervisor has reported it (before the next one ends).
    var onStep: StepHandler?
    var onExit: ExitHandler?
    private(set) var pid: Int32 = 0

    /// One buffer for every read of every sandbox: a read is handled inside its callback.
    nonisolated(unsafe) static let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    static let readBufferSize = 64 * 1024

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Starts the launcher (and through it bubblewrap). Throws a readable message when it cannot be
    /// started (then nothing is left open).
    func start(arguments: [String], stdin: [UInt8], spec: [UInt8], keepStdinOpen: Bool = false) throws(TransportError) {
        pipes = (0..<5).map { _ in LoopHandle(uv_pipe_t.self, owner: self) { uv_pipe_init(loop.raw, $0, 0) }! }

        var containers = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 5)
        for index in 0..<5 {
            let childReads = index == 0 || index == 3
            // uv.h's UV_CREATE_PIPE (0x01), UV_READABLE_PIPE (0x10), UV_WRITABLE_PIPE (0x20): the enum has a
            // duplicate value, so Swift does not import its constants.
            containers[index].flags = uv_stdio_flags(rawValue: 0x01 | (childReads ? 0x10 : 0x20))
            containers[index].data.stream = pipes[index].stream
        }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=\(SandboxSettings.path)"), nil]
        defer {
            argv.forEach { free($0) }
            env.forEach { free($0) }
        }
        var options = uv_process_options_t()
        options.exit_cb = { handle, status, signal in
            let this = LoopHandle.owner(of: handle!.pointee.data, as: SandboxProcess.self)
            this.exited = (status, signal)
            this.checkFinished()
        }
        var status: Int32 = 0
        // A failed uv_spawn still leaves the handle initialized (it must be closed): the
        // LoopHandle is kept either way and closed below on failure.
        process = LoopHandle(uv_process_t.self, owner: self) { handle in
            status = argv.withUnsafeBufferPointer { argvBuffer in
                env.withUnsafeBufferPointer { envBuffer in
                    containers.withUnsafeMutableBufferPointer { stdio in
                        options.file = UnsafePointer(argvBuffer[0])
                        options.args = UnsafeMutablePointer(mutating: argvBuffer.baseAddress)
                        options.env = UnsafeMutablePointer(mutating: envBuffer.baseAddress)
                        options.stdio_count = 5
                        options.stdio = stdio.baseAddress
                        return uv_spawn(loop.raw, handle, &options)
                    }
                }
            }
            return 0
        }
        guard status == 0 else {
            finished = true
            closeAll()
            throw TransportError("cannot start \(arguments[0]): \(uvErrorDescription(status))")
        }
        pid = process!.pointer(uv_process_t.self).pointee.pid
        for index in [1, 2, 4] {
            uv_read_start(stream(index), { handle, _, buffer in
                buffer!.pointee = uv_buf_init(SandboxProcess.readBuffer.assumingMemoryBound(to: CChar.self),
                                              UInt32(SandboxProcess.readBufferSize))
            }, { handle, nread, buffer in
                LoopHandle.owner(of: handle!.pointee.data, as: SandboxProcess.self).read(handle!, nread, buffer!)
            })
        }
        if keepStdinOpen {
            if !stdin.isEmpty { send(stdin) }
        } else {
            write(stdin, to: 0)
        }
        write(spec, to: 3)
    }

    /// Writes bytes to the sandbox's stdin and keeps it open (an interactive run's frames, in order).
    func send(_ bytes: [UInt8]) {
        guard isOpen(0), !bytes.isEmpty else { return }
        write(bytes, to: 0, shutdownAfter: false)
    }

    /// Ends the sandbox's stdin (an interactive run: the supervisor stops reading frames).
    func closeInput() {
        guard isOpen(0) else { return }
        written(index: 0, status: 0)
    }

    /// SIGKILL to bubblewrap: its PID 1 dies with it (--die-with-parent), and with it every
    /// process of the sandbox's PID namespace.
    func kill() {
        guard exited == nil, let process, !process.isClosed, !finished else { return }
        uv_process_kill(process.pointer(uv_process_t.self), SIGKILL)
    }

    /// Stops reading the program's stdout and stderr: its next write fails (SIGPIPE/EPIPE).
    func closeOutput() {
        for index in [1, 2] where isOpen(index) {
            eof[index] = true
            close(index)
        }
        checkFinished()
    }

    private func stream(_ index: Int) -> UnsafeMutablePointer<uv_stream_t> { pipes[index].stream }

    private func isOpen(_ index: Int) -> Bool { index < pipes.count && !pipes[index].isClosed }

    private func index(of handle: UnsafeMutablePointer<uv_stream_t>) -> Int {
        let raw = UnsafeMutableRawPointer(handle)
        return pipes.firstIndex { $0.raw == raw } ?? -1
    }

    private func read(_ handle: UnsafeMutablePointer<uv_stream_t>, _ nread: Int, _ buffer: UnsafePointer<uv_buf_t>) {
        let index = index(of: handle)
        guard index >= 0 else { return }
        if nread > 0 {
            let bytes = UnsafeRawBufferPointer(start: buffer.pointee.base, count: nread)
            if index == 4 {
                for step in report.feed(bytes) { onStep?(step) }
            } else {
                onOutput?(index, bytes)
            }
        } else if nread < 0 {
            // EOF or an error: either way nothing more comes from this pipe.
            eof[index] = true
            uv_read_stop(handle)
            checkFinished()
        }
    }

    /// Writes everything (what the pipe takes at once directly, the rest queued), then shuts the
    /// pipe down so the reader sees EOF.
    private func write(_ bytes: [UInt8], to index: Int, shutdownAfter: Bool = true) {
        var sent = 0
        if !bytes.isEmpty {
            let result = bytes.withUnsafeBytes { raw -> Int32 in
                var buffer = uv_buf_init(UnsafeMutableRawPointer(mutating: raw.baseAddress!).assumingMemoryBound(to: CChar.self),
                                         UInt32(raw.count))
                return uv_try_write(stream(index), &buffer, 1)
            }
            if result > 0 { sent = Int(result) }
        }
        if sent == bytes.count { return shutdownAfter ? written(index: index, status: 0) : () }
        let request = WriteRequest(bytes: Array(bytes[sent...]), process: self, index: index)
        request.shutdownAfter = shutdownAfter
        let pointer = Unmanaged.passRetained(request).toOpaque()
        request.write.pointee.data = pointer
        var buffer = request.buffer()
        let status = uv_write(request.write, stream(index), &buffer, 1) { write, status in
            let request = Unmanaged<WriteRequest>.fromOpaque(write!.pointee.data).takeRetainedValue()
            if request.shutdownAfter || status != 0 { request.process?.written(index: request.index, status: status) }
        }
        if status != 0 {
            Unmanaged<WriteRequest>.fromOpaque(pointer).release()
            close(index)
        }
    }

    private func written(index: Int, status: Int32) {
        guard isOpen(index) else { return }
        if status != 0 {
            // The program did not read its stdin (it exited, or closed it): nothing to do.
            close(index)
            return
        }
        let shutdown = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        let result = uv_shutdown(shutdown, stream(index)) { request, _ in
            // Runs before the pipe's close callback (with UV_ECANCELED if it closed first).
            let handle = request!.pointee.handle!
            let this = LoopHandle.owner(of: handle.pointee.data, as: SandboxProcess.self)
            request!.deallocate()
            let index = this.index(of: handle)
            if index >= 0 { this.close(index) }
        }
        if result != 0 {
            shutdown.deallocate()
            close(index)
        }
    }

    /// Done when bubblewrap exited and every output pipe reached EOF (so no output is lost).
    private func checkFinished() {
        guard !finished, let (status, signal) = exited, eof[1], eof[2], eof[4] else { return }
        finished = true
        let handler = onExit
        onExit = nil
        onOutput = nil
        onStep = nil
        handler?(status, signal, report.report)
        closeAll()
    }

    private func closeAll() {
        for index in pipes.indices { close(index) }
        process?.close()
    }

    private func close(_ index: Int) {
        guard isOpen(index) else { return }
        pipes[index].close()
    }
}

/// A uv_write in flight: the request and its bytes live until the write callback (which also
/// runs, with UV_ECANCELED, when the pipe is closed first).
private final class WriteRequest {
    let write = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
    let storage: UnsafeMutableRawBufferPointer
    let count: Int
    let index: Int
    var shutdownAfter = true
    weak var process: SandboxProcess?

    init(bytes: [UInt8], process: SandboxProcess, index: Int) {
        count = bytes.count
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        if !bytes.isEmpty { bytes.withUnsafeBytes { storage.copyMemory(from: $0) } }
        self.storage = storage
        self.process = process
        self.index = index
    }

    func buffer() -> uv_buf_t {
        uv_buf_init(storage.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(count))
    }

    deinit {
        write.deallocate()
        storage.deallocate()
    }
}
