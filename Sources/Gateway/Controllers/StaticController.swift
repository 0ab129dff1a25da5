import Logging
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// The reference web client (issue 8): its page, its files, and the CodeMirror files Debian's
/// `libjs-codemirror` installs. Served at the root only, never under /api/v1 or /api.
///
///     GET /                      web/index.html
///     GET /s/{id}                web/index.html (a session's shareable link)
///     GET /s/{id}/replay         web/index.html (the session's replay, for interviewers)
///     GET /static/{path}         web/{path}
///     GET /vendor/codemirror/{path}   {--codemirror-root}/{path}
///     GET /vendor/xterm/xterm.js      xterm.js 3.8 as one browser script, bundled at start-up
///                                     from node-xterm's CommonJS modules ({--xterm-root})
///     GET /vendor/xterm/xterm.css     {--xterm-style-root}/xterm.css (libjs-xterm)
///
/// HEAD works wherever GET does (the router maps it). Responses carry a content hash as ETag,
/// Last-Modified and Cache-Control, and answer 304 to a matching If-None-Match/If-Modified-Since.
final class StaticController: Controller {
    private let web: StaticFolder?
    private let vendor: StaticFolder?
    /// xterm.js bundled for the browser; nil without node-xterm (the page then shows run output
    /// in its plain output box).
    private let xterm: StaticFile?
    private let xtermStyles: StaticFolder?

    init(configuration: GatewayConfiguration, logger: Logger) {
        web = StaticFolder.webRoot(configured: configuration.webRoot).flatMap { StaticFolder(path: $0) }
        vendor = StaticFolder(path: configuration.codeMirrorRoot)
        xterm = XtermBundle.build(root: configuration.xtermRoot)
        xtermStyles = StaticFolder(path: configuration.xtermStyleRoot)
        if let xterm {
            logger.info("web client: xterm.js bundled from \(configuration.xtermRoot) (\(xterm.bytes.count) bytes)")
        } else {
            logger.warning("web client: xterm.js not found at \(configuration.xtermRoot) (install node-xterm or set --xterm-root): interactive runs show in the plain output box")
        }
        if let web {
            logger.info("web client: serving \(web.root)")
        } else {
            logger.warning("web client: no web/index.html found (\(configuration.webRoot.isEmpty ? "looked near the executable" : configuration.webRoot)); / answers 404; set --web-root")
        }
        if vendor == nil {
            logger.warning("web client: CodeMirror not found at \(configuration.codeMirrorRoot) (install libjs-codemirror or set --codemirror-root)")
        }
    }

    var routes: [Route] {
        [
            Route("", at: .rootOnly, .get(auth: .none, rate: .exempt, page)),
            Route("s/{id}", at: .rootOnly, .get(auth: .none, rate: .exempt, page)),
            Route("s/{id}/replay", at: .rootOnly, .get(auth: .none, rate: .exempt, page)),
            Route("static/{*path}", at: .rootOnly, .get(auth: .none, rate: .exempt, webFile)),
            Route("vendor/codemirror/{*path}", at: .rootOnly, .get(auth: .none, rate: .exempt, codeMirrorFile)),
            Route("vendor/xterm/xterm.js", at: .rootOnly, .get(auth: .none, rate: .exempt, xtermScript)),
            Route("vendor/xterm/xterm.css", at: .rootOnly, .get(auth: .none, rate: .exempt, xtermStyle)),
        ]
    }

    /// The page, for any session id: the page itself asks the API about the session.
    func page(_ context: RequestContext) {
        guard let web else {
            return context.reply(Problem(404, "the web client is not installed on this gateway (no web/index.html; start it with --web-root)"))
        }
        serveFile(context, folder: web, segments: ["index.html"], cacheControl: "no-cache", page: true)
    }

    func webFile(_ context: RequestContext) {
        serveStatic(context, folder: web, what: "web client", cacheControl: "no-cache")
    }

    func codeMirrorFile(_ context: RequestContext) {
        serveStatic(context, folder: vendor, what: "CodeMirror", cacheControl: "public, max-age=86400")
    }

    func xtermScript(_ context: RequestContext) {
        guard let xterm else {
            return context.reply(Problem(404, "xterm.js is not installed on this gateway (install node-xterm or set --xterm-root)"))
        }
        send(context, file: xterm, cacheControl: "public, max-age=86400", page: false)
    }

    func xtermStyle(_ context: RequestContext) {
        guard let xtermStyles else {
            return context.reply(Problem(404, "xterm.css is not installed on this gateway (install libjs-xterm or set --xterm-style-root)"))
        }
        serveFile(context, folder: xtermStyles, segments: ["xterm.css"], cacheControl: "public, max-age=86400", page: false)
    }

    private func serveStatic(_ context: RequestContext, folder: StaticFolder?, what: String, cacheControl: String) {
        guard let folder else { return context.reply(Problem(404, "\(what) files are not installed on this gateway")) }
        guard let segments = StaticFolder.segments(context.parameters[0]) else {
            return context.reply(Problem(404, "no file at \(context.path)"))
        }
        serveFile(context, folder: folder, segments: segments, cacheControl: cacheControl, page: false)
    }

    private func serveFile(_ context: RequestContext, folder: StaticFolder, segments: [String], cacheControl: String, page: Bool) {
        guard let file = folder.file(segments) else { return context.reply(Problem(404, "no file at \(context.path)")) }
        send(context, file: file, cacheControl: cacheControl, page: page)
    }

    private func send(_ context: RequestContext, file: StaticFile, cacheControl: String, page: Bool) {
        var headers = HTTPHeaders()
        headers.add("ETag", file.etag)
        headers.add("Last-Modified", file.lastModified)
        headers.add("Cache-Control", cacheControl)
        headers.add("X-Content-Type-Options", "nosniff")
        if page {
            // The page loads only its own scripts; its WebSocket may go to another gateway (?ws=).
            headers.add("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
            headers.add("Referrer-Policy", "no-referrer")
        }
        if file.notModified(context.request.headers) {
            return context.send(HTTPResponse(status: 304, headers: headers))
        }
        headers.add("Content-Type", file.contentType)
        context.send(HTTPResponse(status: 200, headers: headers, body: file.bytes))
    }
}

/// One file as served: its bytes and validators.
struct StaticFile {
    let bytes: [UInt8]
    let contentType: String
    /// A strong validator from the content (FNV-1a 64), the same on every gateway.
    let etag: String
    let lastModified: String
    let modifiedAt: Int
    /// What the cache compares to notice a changed file.
    let stamp: [Int]

    func notModified(_ headers: HTTPHeaders) -> Bool {
        if let match = headers["If-None-Match"] {
            // A list of entity tags, or "*"; weak comparison (W/ ignored), as RFC 9110 says for GET.
            return match.split(separator: ",").contains { candidate in
                var tag = candidate.trimmingWhitespace()
                if tag == "*" { return true }
                if tag.hasPrefix("W/") { tag.removeFirst(2) }
                return tag == etag
            }
        }
        if let since = headers["If-Modified-Since"], let date = StaticFile.parseHTTPDate(since) {
            return modifiedAt <= date
        }
        return false
    }

    static func httpDate(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the form HTTP/1.1 senders use.
    static func parseHTTPDate(_ text: String) -> Int? {
        let fields = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard fields.count == 6, fields[5] == "GMT", let day = Int(fields[1]), let month = months.firstIndex(of: String(fields[2])),
              let year = Int(fields[3]) else { return nil }
        let clock = fields[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (1...31).contains(day), year >= 1970 else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(clock[0])
        parts.tm_min = Int32(clock[1])
        parts.tm_sec = Int32(clock[2])
        return Int(timegm(&parts))
    }

    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8", "json": "application/json", "map": "application/json",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon", "txt": "text/plain; charset=utf-8",
        "woff2": "font/woff2", "woff": "font/woff",
    ]

    static func contentType(_ path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "application/octet-stream" }
        return contentTypes[path[path.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }
}

/// A folder whose regular files are served read-only: every path is resolved (symlinks too) and
/// must stay inside the folder. Files are read on first use and again when they change on disk.
final class StaticFolder {
    /// The folder's real path, without a trailing slash.
    let root: String
    private var cache: [String: StaticFile] = [:]
    static let largestFile = 8 << 20

    init?(path: String) {
        guard let real = StaticFolder.realPath(path), StaticFolder.isDirectory(real) else { return nil }
        root = real == "/" ? "" : real
    }

    /// The configured web root, or else the first `web/` with an index.html found walking up from
    /// the executable's folder (a build lives in the repository's .build/...), then from the
    /// working directory.
    static func webRoot(configured: String) -> String? {
        if !configured.isEmpty {
            return isRegularFile(configured + "/index.html") ? configured : nil
        }
        var starts: [String] = []
        if let executable = realPath("/proc/self/exe") { starts.append(parent(executable)) }
        if let cwd = realPath(".") { starts.append(cwd) }
        for start in starts {
            var folder = start
            while true {
                let candidate = (folder == "/" ? "" : folder) + "/web"
                if isRegularFile(candidate + "/index.html") { return candidate }
                if folder == "/" || folder.isEmpty { break }
                folder = parent(folder)
            }
        }
        return nil
    }

    /// A request path's segments (still percent-encoded, "/"-joined), each decoded exactly once;
    /// nil for anything that could leave the folder or name a hidden file.
    static func segments(_ raw: String) -> [String]? {
        var out: [String] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: false) {
            let segment = percentDecode(String(part))
            guard !segment.isEmpty, !segment.hasPrefix("."), !segment.contains("/"), !segment.contains("\\"),
                  !segment.utf8.contains(0) else { return nil }
            out.append(segment)
        }
        return out.isEmpty ? nil : out
    }

    /// The file at these (decoded, checked) segments, if it is a regular file inside the folder.
    func file(_ segments: [String]) -> StaticFile? {
        guard !segments.isEmpty, segments.allSatisfy({ $0 != ".." && $0 != "." && !$0.contains("/") }) else { return nil }
        let joined = root + "/" + segments.joined(separator: "/")
        guard let real = StaticFolder.realPath(joined), real.hasPrefix(root + "/") else { return nil }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size <= StaticFolder.largestFile else { return nil }
        let stamp = [Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec)]
        if let cached = cache[real], cached.stamp == stamp { return cached }
        guard let bytes = StaticFolder.read(real) else { return nil }
        let modified = Int(info.st_mtim.tv_sec)
        let hash = StaticFile.fnv1a(bytes)
        let file = StaticFile(bytes: bytes, contentType: StaticFile.contentType(real),
                              etag: "\"\(String(bytes.count, radix: 16))-\(String(hash, radix: 16))\"",
                              lastModified: StaticFile.httpDate(modified), modifiedAt: modified, stamp: stamp)
        cache[real] = file
        return file
    }

    // MARK: Files

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            out += chunk[0..<count]
            if out.count > largestFile { return nil }
        }
        return out
    }
}

/// xterm.js for the browser from Debian's node-xterm, which installs xterm 3.8 as CommonJS modules
/// (`lib/**/*.js`) and no browser build (libjs-xterm's own xterm.js is a stub requiring a file it
/// lacks). Built once at start-up: each module (tests and source maps left out) wrapped as
/// `define("path/without/.js", function (require, module, exports) {...})` in a tiny CommonJS
/// registry resolving relative requires, then `window.Terminal` = the `xterm` module (the fit
/// addon applied). No eval: the modules are plain function bodies, so the page's CSP holds.
enum XtermBundle {
    static let largestBundle = 4 << 20

    static func build(root: String) -> StaticFile? {
        guard let real = StaticFolder.realPath(root), StaticFolder.isRegularFile(real + "/xterm.js"),
              StaticFolder.isRegularFile(real + "/public/Terminal.js") else { return nil }
        var modules: [(name: String, path: String)] = []
        collect(folder: real, prefix: "", into: &modules, depth: 0)
        guard !modules.isEmpty else { return nil }
        var out = "/* xterm.js 3.8 bundled by the CodeInterview gateway from \(real) (Debian's node-xterm). MIT licence. */\n"
        out += prelude
        var total = 0
        for module in modules.sorted(by: { $0.name < $1.name }) {
            guard let bytes = StaticFolder.read(module.path) else { return nil }
            total += bytes.count
            guard total <= largestBundle else { return nil }
            // The source map comment names a file not served: drop it.
            let source = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.hasPrefix("//# sourceMappingURL=") }.joined(separator: "\n")
            out += "define(\(jsonString(module.name)), function (require, module, exports) {\n\(source)\n});\n"
        }
        out += epilogue
        let bytes = Array(out.utf8)
        var info = stat()
        let modified = stat(real + "/xterm.js", &info) == 0 ? Int(info.st_mtim.tv_sec) : 0
        let hash = StaticFile.fnv1a(bytes)
        return StaticFile(bytes: bytes, contentType: "text/javascript; charset=utf-8",
                          etag: "\"\(String(bytes.count, radix: 16))-\(String(hash, radix: 16))\"",
                          lastModified: StaticFile.httpDate(modified), modifiedAt: modified, stamp: [])
    }

    /// The `.js` files below folder (not `*.test.js`), as module names relative to the root.
    private static func collect(folder: String, prefix: String, into modules: inout [(name: String, path: String)], depth: Int) {
        guard depth < 8, let directory = opendir(folder) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.hasPrefix(".") || !plainName(name) { continue }
            let path = folder + "/" + name
            if StaticFolder.isDirectory(path) {
                collect(folder: path, prefix: prefix + name + "/", into: &modules, depth: depth + 1)
            } else if name.hasSuffix(".js"), !name.hasSuffix(".test.js"), StaticFolder.isRegularFile(path) {
                modules.append((prefix + String(name.dropLast(3)), path))
            }
        }
    }

    /// A module name as a JavaScript string literal: names are file paths of letters, digits,
    /// `_`, `-`, `.` and `/` only (collect skips any other).
    private static func jsonString(_ text: String) -> String { "\"" + text + "\"" }

    static func plainName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0) }
    }

    static let prelude = """
    (function () {
    var factories = Object.create(null), cache = Object.create(null);
    function define(name, factory) { factories[name] = factory; }
    function resolve(from, request) {
      var parts = request.charAt(0) === "." ? from.split("/").slice(0, -1) : [];
      request.split("/").forEach(function (part) {
        if (part === "..") parts.pop(); else if (part !== "." && part !== "") parts.push(part);
      });
      var name = parts.join("/");
      if (name.slice(-3) === ".js") name = name.slice(0, -3);
      if (!(name in factories) && (name + "/index") in factories) name += "/index";
      return name;
    }
    function load(name) {
      if (name in cache) return cache[name].exports;
      var factory = factories[name];
      if (!factory) throw new Error("xterm.js bundle: no module " + name);
      var module = { exports: {} };
      cache[name] = module;
      factory(function (request) { return load(resolve(name, request)); }, module, module.exports);
      return module.exports;
    }

    """

    static let epilogue = """
    var Terminal = load("xterm");
    if (factories["addons/fit/fit"]) Terminal.applyAddon(load("addons/fit/fit"));
    window.Terminal = Terminal;
    })();

    """
}
