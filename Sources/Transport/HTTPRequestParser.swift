import CHTTPParser

/// Turns bytes into requests with http_parser, one request at a time, enforcing the size limits.
/// No I/O: the connection feeds it and reacts to what it reports, and a fuzzer can drive it alone.
public final class HTTPRequestParser {
    public struct Limits: Sendable {
        public var maxHeaderBytes: Int
        public var maxURLBytes: Int
        public var maxBodyBytes: Int

        public init(maxHeaderBytes: Int, maxURLBytes: Int, maxBodyBytes: Int) {
            self.maxHeaderBytes = maxHeaderBytes
            self.maxURLBytes = maxURLBytes
            self.maxBodyBytes = maxBodyBytes
        }
    }

    public let limits: Limits
    private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)

    /// A request started (its first byte arrived).
    public var onMessageBegin: (() -> Void)?
    /// Its headers are complete; true when the client waits for "100 Continue".
    public var onHeadersComplete: ((_ expectsContinue: Bool) -> Void)?

    /// Set when a request is complete; the caller takes it (and must take it before parsing on).
    public var completed: HTTPRequest?
    /// Set when the input is unacceptable: the status and detail to answer before closing.
    public private(set) var failure: (status: Int, detail: String)?
    public private(set) var keepAlive = true
    public private(set) var isHead = false
    public private(set) var headersDone = false
    public private(set) var isHTTP10 = false
    /// The request target so far (for problem details on failures).
    public var target: String { String(decoding: url.prefix(200), as: UTF8.self) }

    fileprivate var url: [UInt8] = []
    fileprivate var fieldName: [UInt8] = []
    fileprivate var fieldValue: [UInt8] = []
    fileprivate var lastWasValue = false
    fileprivate var headers = HTTPHeaders()
    fileprivate var headerBytes = 0
    fileprivate var body: [UInt8] = []
    var remoteAddress = ""

    public init(limits: Limits) {
        self.limits = limits
        http_parser_init(parser, HTTP_REQUEST)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit { parser.deallocate() }

    /// Feeds bytes; returns how many were consumed. Parsing pauses after each complete request
    /// (see `completed`) and after a failure; the rest is fed again once the request is answered.
    public func parse(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard failure == nil, let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        if parser.pointee.http_errno == HPE_PAUSED.rawValue { http_parser_pause(parser, 0) }
        let consumed = http_parser_execute(parser, &requestParserSettings, base.assumingMemoryBound(to: CChar.self), bytes.count)
        let errno = http_errno(parser.pointee.http_errno)
        if failure == nil && errno != HPE_OK && errno != HPE_PAUSED {
            if errno == HPE_HEADER_OVERFLOW {
                fail(431, "the request's header block is larger than \(limits.maxHeaderBytes) bytes")
            } else {
                fail(400, "malformed HTTP request: \(String(cString: http_errno_description(errno)))")
            }
        }
        return consumed
    }

    /// Gives up on the request in progress (a timeout), answering `status`.
    public func fail(_ status: Int, _ detail: String) {
        if failure == nil { failure = (status, detail) }
    }

    // MARK: Events from the C callbacks

    fileprivate func messageBegin() {
        url.removeAll(keepingCapacity: true)
        fieldName.removeAll(keepingCapacity: true)
        fieldValue.removeAll(keepingCapacity: true)
        lastWasValue = false
        headers = HTTPHeaders()
        headerBytes = 0
        headersDone = false
        body = []
        onMessageBegin?()
    }

    fileprivate func countHeaderBytes(_ count: Int) -> Bool {
        headerBytes += count
        guard headerBytes <= limits.maxHeaderBytes else {
            fail(431, "the request's header block is larger than \(limits.maxHeaderBytes) bytes")
            return false
        }
        return true
    }

    fileprivate func flushField() {
        if !fieldName.isEmpty {
            headers.add(String(decoding: fieldName, as: UTF8.self), String(decoding: fieldValue, as: UTF8.self))
        }
        fieldName.removeAll(keepingCapacity: true)
        fieldValue.removeAll(keepingCapacity: true)
    }

    fileprivate func headersComplete() -> Int32 {
        flushField()
        headersDone = true
        keepAlive = http_should_keep_alive(parser) != 0
        isHead = parser.pointee.method == HTTP_HEAD.rawValue
        isHTTP10 = parser.pointee.http_major == 1 && parser.pointee.http_minor == 0
        let declared = parser.pointee.content_length
        // content_length is ULLONG_MAX when absent.
        if declared != UInt64.max && declared > UInt64(limits.maxBodyBytes) {
            fail(413, "the request body (\(declared) bytes) is larger than the limit of \(limits.maxBodyBytes) bytes")
            http_parser_pause(parser, 1)
            return 0
        }
        onHeadersComplete?(headers["Expect"]?.lowercased() == "100-continue")
        return 0
    }

    fileprivate func bodyChunk(_ base: UnsafePointer<CChar>, _ count: Int) -> Bool {
        guard body.count + count <= limits.maxBodyBytes else {
            fail(413, "the request body is larger than the limit of \(limits.maxBodyBytes) bytes")
            return false
        }
        body.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
        return true
    }

    fileprivate func messageComplete() {
        // Split at the first '?' on the bytes: searching the String walked it by Characters
        // (grapheme breaking), a tenth of a keep-alive GET's instructions in the parser.
        let path: String
        let query: String
        if let mark = url.firstIndex(of: UInt8(ascii: "?")) {
            path = String(decoding: url[..<mark], as: UTF8.self)
            query = String(decoding: url[(mark + 1)...], as: UTF8.self)
        } else {
            path = String(decoding: url, as: UTF8.self)
            query = ""
        }
        let method = Self.methodName(parser.pointee.method)
        completed = HTTPRequest(method: method, path: path, query: query, headers: headers, body: body,
                                httpVersion: (parser.pointee.http_major, parser.pointee.http_minor),
                                remoteAddress: remoteAddress)
        body = []
        // One request at a time: the next one is parsed once this one is answered.
        http_parser_pause(parser, 1)
    }
}

extension HTTPRequestParser {
    /// The method's name; the common ones without reading http_method_str's C string each time.
    fileprivate static func methodName(_ method: UInt32) -> String {
        switch method {
        case HTTP_GET.rawValue: return "GET"
        case HTTP_POST.rawValue: return "POST"
        case HTTP_PUT.rawValue: return "PUT"
        case HTTP_PATCH.rawValue: return "PATCH"
        case HTTP_DELETE.rawValue: return "DELETE"
        case HTTP_HEAD.rawValue: return "HEAD"
        case HTTP_OPTIONS.rawValue: return "OPTIONS"
        default: return String(cString: http_method_str(http_method(method)))
        }
    }
}

@inline(__always) private func requestParser(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTPRequestParser {
    Unmanaged<HTTPRequestParser>.fromOpaque(parser!.pointee.data).takeUnretainedValue()
}

/// http_parser's callbacks; a non-zero return stops the parser with an error.
nonisolated(unsafe) private var requestParserSettings: http_parser_settings = {
    var settings = http_parser_settings()
    settings.on_message_begin = { parser in
        requestParser(parser).messageBegin()
        return 0
    }
    settings.on_url = { parser, at, length in
        let p = requestParser(parser)
        if p.url.count + length > p.limits.maxURLBytes {
            p.fail(414, "the request target is longer than \(p.limits.maxURLBytes) bytes")
            return 1
        }
        p.url.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
        return p.countHeaderBytes(length) ? 0 : 1
    }
    settings.on_header_field = { parser, at, length in
        let p = requestParser(parser)
        if p.lastWasValue { p.flushField(); p.lastWasValue = false }
        p.fieldName.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
        return p.countHeaderBytes(length) ? 0 : 1
    }
    settings.on_header_value = { parser, at, length in
        let p = requestParser(parser)
        p.lastWasValue = true
        p.fieldValue.append(contentsOf: UnsafeRawBufferPointer(start: at, count: length))
        return p.countHeaderBytes(length) ? 0 : 1
    }
    settings.on_headers_complete = { parser in requestParser(parser).headersComplete() }
    settings.on_body = { parser, at, length in
        requestParser(parser).bodyChunk(at!, length) ? 0 : 1
    }
    settings.on_message_complete = { parser in
        requestParser(parser).messageComplete()
        return 0
    }
    return settings
}()
