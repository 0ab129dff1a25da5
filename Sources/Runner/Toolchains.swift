import Interview
import Stores

/// How one language is compiled and run inside the sandbox. Commands are looked up on the
/// sandbox's PATH (/usr/local/bin:/usr/bin:/bin, all read-only binds of the host's /usr).
struct Toolchain: Sendable {
    let id: String
    /// Commands that must work (exit 0) in the sandbox for the language to be offered; the first
    /// one's output carries the version.
    let probes: [[String]]
    /// Extra environment of every step.
    let environment: [String]
    /// The source file name for a program.
    let sourceFile: @Sendable (_ code: String) -> String
    /// Extra files written next to the source.
    let extraFiles: [(name: String, content: String)]
    /// The compile command, for compiled languages.
    let compile: (@Sendable (_ source: String, _ limits: ExecutionLimits) -> [String])?
    let run: @Sendable (_ source: String, _ limits: ExecutionLimits) -> [String]
    /// Markers a runtime prints when an allocation failed (memory_limit_exceeded, not runtime_error).
    let outOfMemoryMarkers: [String]

    static let all: [Toolchain] = [python, javascript, typescript, c, cpp, java, go, ruby]

    static func named(_ id: String) -> Toolchain? { all.first { $0.id == id } }

    /// Heap for managed runtimes: three quarters of the memory limit, leaving room for the
    /// runtime's own code, stacks and buffers (all counted by RLIMIT_DATA).
    static func heapMB(_ limits: ExecutionLimits) -> Int { max(16, limits.memoryKB * 3 / 4 / 1024) }

    static let python = Toolchain(
        id: "python", probes: [["python3", "--version"]],
        environment: ["PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8"],
        sourceFile: { _ in "main.py" }, extraFiles: [], compile: nil,
        run: { source, _ in ["python3", "-u", source] },
        outOfMemoryMarkers: ["MemoryError"])

    static let javascript = Toolchain(
        id: "javascript", probes: [["node", "--version"]], environment: [],
        sourceFile: { _ in "main.js" }, extraFiles: [], compile: nil,
        run: { source, limits in ["node", "--max-old-space-size=\(heapMB(limits))", source] },
        outOfMemoryMarkers: ["heap out of memory", "Fatal process out of memory", "RangeError: Array buffer allocation failed"])

    /// Node's globals typed loosely, so programs can read stdin without @types/node. (The DOM library
    /// is left out: its globals, such as `name`, would clash with a program's own top-level names.)
    static let nodeGlobals = """
    declare var console: any;
    declare function setTimeout(callback: (...args: any[]) => void, ms?: number, ...args: any[]): any;
    declare function clearTimeout(handle: any): void;
    declare function setInterval(callback: (...args: any[]) => void, ms?: number, ...args: any[]): any;
    declare function clearInterval(handle: any): void;
    declare function setImmediate(callback: (...args: any[]) => void, ...args: any[]): any;
    declare function queueMicrotask(callback: () => void): void;
    declare var require: any;
    declare var process: any;
    declare var module: any;
    declare var exports: any;
    declare var Buffer: any;
    declare var __dirname: string;
    declare var __filename: string;
    declare module "*";

    """

    static let typescript = Toolchain(
        id: "typescript", probes: [["tsc", "--version"], ["node", "--version"]], environment: [],
        sourceFile: { _ in "main.ts" }, extraFiles: [("node-globals.d.ts", nodeGlobals)],
        compile: { source, _ in
            ["tsc", "--target", "es2020", "--module", "commonjs", "--lib", "es2020", "--noEmitOnError",
             "--pretty", "false", "--skipLibCheck", source, "node-globals.d.ts"]
        },
        run: { source, limits in ["node", "--max-old-space-size=\(heapMB(limits))", String(source.dropLast(3)) + ".js"] },
        outOfMemoryMarkers: javascript.outOfMemoryMarkers)

    static let c = Toolchain(
        id: "c", probes: [["gcc", "-dumpfullversion"]], environment: [],
        sourceFile: { _ in "main.c" }, extraFiles: [],
        compile: { source, _ in ["gcc", "-O2", "-std=gnu17", "-pipe", "-Wall", "-o", "main", source, "-lm"] },
        run: { _, _ in ["./main"] },
        outOfMemoryMarkers: ["Cannot allocate memory"])

    static let cpp = Toolchain(
        id: "cpp", probes: [["g++", "-dumpfullversion"]], environment: [],
        sourceFile: { _ in "main.cpp" }, extraFiles: [],
        compile: { source, _ in ["g++", "-O2", "-std=gnu++17", "-pipe", "-Wall", "-o", "main", source] },
        run: { _, _ in ["./main"] },
        outOfMemoryMarkers: ["std::bad_alloc", "Cannot allocate memory"])

    static let java = Toolchain(
        id: "java", probes: [["javac", "-version"], ["java", "-Xshare:auto", "-version"]], environment: [],
        sourceFile: { code in "\(javaClassName(code)).java" }, extraFiles: [],
        compile: { source, _ in
            ["javac", "-J-Xmx512m", "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-Xshare:auto",
             "-encoding", "UTF-8", "-d", ".", source]
        },
        run: { source, limits in
            ["java", "-Xmx\(max(16, limits.memoryKB * 3 / 5 / 1024))m", "-Xms8m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-XX:ReservedCodeCacheSize=32m", "-XX:MaxMetaspaceSize=64m", "-Xshare:auto", "-cp", ".",
             String(source.dropLast(5))]
        },
        outOfMemoryMarkers: ["OutOfMemoryError", "Could not reserve enough space", "insufficient memory"])

    static let go = Toolchain(
        id: "go", probes: [["go", "version"]],
        environment: ["GOCACHE=/tmp/go-cache", "GOPATH=/tmp/go", "GO111MODULE=off", "CGO_ENABLED=0", "GOPROXY=off", "GOFLAGS="],
        sourceFile: { _ in "main.go" }, extraFiles: [],
        compile: { source, _ in ["go", "build", "-o", "main", source] },
        run: { _, _ in ["./main"] },
        outOfMemoryMarkers: ["runtime: out of memory", "cannot allocate memory"])

    static let ruby = Toolchain(
        id: "ruby", probes: [["ruby", "-e", "print RUBY_VERSION"]], environment: [],
        sourceFile: { _ in "main.rb" }, extraFiles: [], compile: nil,
        run: { source, _ in ["ruby", source] },
        outOfMemoryMarkers: ["failed to allocate memory", "NoMemoryError"])

    /// The public top-level class of a Java program (the file must be named after it), or Main.
    static func javaClassName(_ code: String) -> String {
        let words = javaWords(code)
        var index = 0
        while index < words.count {
            if words[index] == "public" {
                var next = index + 1
                while next < words.count, ["final", "abstract", "static", "strictfp", "sealed"].contains(words[next]) { next += 1 }
                if next + 1 < words.count, words[next] == "class" {
                    let name = words[next + 1]
                    if let first = name.unicodeScalars.first, first.properties.isAlphabetic || first == "_" || first == "$" {
                        return name
                    }
                }
            }
            index += 1
        }
        return "Main"
    }

    /// Identifier-like words of Java source, skipping comments and string/char literals.
    private static func javaWords(_ code: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(code.unicodeScalars)
        var i = 0
        func flush() {
            if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
        }
        while i < scalars.count {
            let s = scalars[i]
            if s == "/", i + 1 < scalars.count, scalars[i + 1] == "/" {
                flush()
                while i < scalars.count, scalars[i] != "\n" { i += 1 }
            } else if s == "/", i + 1 < scalars.count, scalars[i + 1] == "*" {
                flush()
                i += 2
                while i + 1 < scalars.count, !(scalars[i] == "*" && scalars[i + 1] == "/") { i += 1 }
                i += 2
            } else if s == "\"" || s == "'" {
                flush()
                i += 1
                while i < scalars.count, scalars[i] != s {
                    if scalars[i] == "\\" { i += 1 }
                    i += 1
                }
                i += 1
            } else if s.properties.isAlphabetic || s.properties.numericType != nil || s == "_" || s == "$" {
                current.append(s)
                i += 1
            } else {
                flush()
                i += 1
            }
        }
        flush()
        return words
    }

    /// The first version-looking token ("3.11.2", "17.0.15", "1.19.8") of a probe's output.
    static func version(from output: String) -> String {
        let line = output.split(whereSeparator: { $0 == "\n" }).first.map(String.init) ?? ""
        for word in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            var token = Substring(word)
            while let first = token.first, !first.isNumber { token = token.dropFirst() }
            if token.contains("."), token.first?.isNumber == true,
               token.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0.isLetter }) {
                return String(token)
            }
        }
        return line.trimmingWhitespace()
    }
}
