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
///
/// HEAD works wherever GET does (the router maps it). Responses carry a content hash as ETag,
/// Last-Modified and Cache-Control, and answer 304 to a matching If-None-Match/If-Modified-Since.
final class StaticController: Controller {
    private let web: StaticFolder?
    private let vendor: StaticFolder?

    init(configuration: GatewayConfiguration, logger: Logger) {
        web = StaticFolder.webRoot(configured: configuration.webRoot).flatMap { StaticFolder(path: $0) }
        vendor = StaticFolder(path: configuration.codeMirrorRoot)
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

    private func serveStatic(_ context: RequestContext, folder: StaticFolder?, what: String, cacheControl: String) {
        guard let folder else { return context.reply(Problem(404, "\(what) files are not installed on this gateway")) }
        guard let segments = StaticFolder.segments(context.parameters[0]) else {
            return context.reply(Problem(404, "no file at \(context.path)"))
        }
        serveFile(context, folder: folder, segments: segments, cacheControl: cacheControl, page: false)
    }

    private func serveFile(_ context: RequestContext, folder: StaticFolder, segments: [String], cacheControl: String, page: Bool) {
        guard let file = folder.file(segments) else { return context.reply(Problem(404, "no file at \(context.path)")) }
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
