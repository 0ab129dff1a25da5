import Interview
import Stores
import JSON
import Transport

/// An RFC 9457 problem: every error the API answers is one of these.
struct Problem: Error {
    var status: Int
    var slug: String
    var title: String
    var detail: String
    var field: String?
    var headers = HTTPHeaders()
    /// Extension members, after the standard ones (RFC 9457 section 3.2).
    var members: [(key: String, value: JSON)] = []

    init(_ status: Int, _ detail: String, field: String? = nil) {
        self.status = status
        self.detail = detail
        self.field = field
        (slug, title) = Problem.kind(of: status)
    }

    static func kind(of status: Int) -> (String, String) {
        switch status {
        case 400: return ("bad-request", "Bad request")
        case 401: return ("unauthorized", "Token required")
        case 403: return ("forbidden", "Not allowed")
        case 404: return ("not-found", "Not found")
        case 405: return ("method-not-allowed", "Method not allowed")
        case 408: return ("request-timeout", "Request timeout")
        case 409: return ("conflict", "Conflict")
        case 410: return ("gone", "Gone")
        case 413: return ("payload-too-large", "Content too large")
        case 414: return ("uri-too-long", "URI too long")
        case 415: return ("unsupported-media-type", "Unsupported media type")
        case 422: return ("validation", "Invalid field")
        case 426: return ("upgrade-required", "Upgrade required")
        case 429: return ("too-many-requests", "Too many requests")
        case 431: return ("header-fields-too-large", "Header fields too large")
        case 503: return ("unavailable", "Service unavailable")
        default: return ("internal", "Internal error")
        }
    }

    static func unavailable(_ detail: String) -> Problem {
        var problem = Problem(503, detail)
        problem.headers.add("Retry-After", "1")
        return problem
    }

    init(_ error: InterviewError) {
        switch error.kind {
        case .notFound: self.init(404, error.detail)
        case .gone: self.init(410, error.detail)
        case .full, .conflict, .stale: self.init(409, error.detail)
        case .forbidden:
            self.init(403, error.detail)
            if let code = error.code { members.append((key: "code", value: .string(code))) }
        case .unauthorized:
            self.init(401, error.detail)
            headers.add("WWW-Authenticate", "Bearer")
        case .invalid: self.init(422, error.detail, field: error.field)
        case .tooLarge: self.init(413, error.detail, field: error.field)
        case .unavailable: self = .unavailable("the session store is unreachable; retry shortly (\(error.detail))")
        case .internalError: self.init(500, error.detail)
        }
    }

    func response(path: String) -> HTTPResponse {
        var body: JSON = ["type": .string("urn:codeinterview:problem:\(slug)"), "title": .string(title),
                          "status": .integer(status), "detail": .string(detail), "instance": .string(path)]
        if let field { body.set("field", .string(field)) }
        for (key, value) in members { body.set(key, value) }
        var response = HTTPResponse(status: status, headers: headers, body: body.bytes)
        response.headers.add("Content-Type", "application/problem+json")
        return response
    }
}
