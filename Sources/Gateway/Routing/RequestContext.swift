import Interview
import Stores
import JSON
import Transport

/// What a handler gets: the request, its path parameters, and the way to answer. Every answer
/// leaves through `send`, which runs the router's middleware on the way out.
struct RequestContext {
    let request: HTTPRequest
    let responder: HTTPResponder
    /// The router that matched the request: its middleware stamps every response.
    let router: Router
    var parameters: [String] = []
    /// Who the client is (the peer, or what a trusted balancer forwarded).
    var clientAddress = ""
    /// Added to whatever the handler answers (rate-limit state).
    var responseHeaders = HTTPHeaders()
    /// The request's id (RequestIDMiddleware): on the response and in logs.
    var requestID = ""
    /// When handling began (monotonic ns), for the access log.
    var startedAt: UInt64 = 0
    /// The path as requested, for problem `instance` members.
    var path: String { request.path }

    /// The one exit of every response: the middleware stamps it (request id, CORS, log).
    func send(_ response: HTTPResponse) {
        router.send(self, response)
    }

    func reply(_ problem: Problem) {
        send(problem.response(path: path))
    }

    func reply(status: Int = 200, _ body: JSON, headers: HTTPHeaders = HTTPHeaders()) {
        var response = HTTPResponse(status: status, headers: headers, body: body.bytes)
        response.headers.add("Content-Type", "application/json")
        send(response)
    }

    /// Answers a thrown error: a Problem as it is, an InterviewError as its problem.
    func reply(_ error: any Error) {
        if let problem = error as? Problem { return reply(problem) }
        if let error = error as? InterviewError { return reply(Problem(error)) }
        reply(Problem(500, "\(error)"))
    }

    /// Answers a domain result: the success body, or the error as a problem.
    func reply<T>(_ result: Result<T, InterviewError>, _ success: (T) -> Void) {
        switch result {
        case .success(let value): success(value)
        case .failure(let error):
            if error.kind == .internalError {
                router.logger.error("\(request.method) \(path): \(error.detail)", metadata: ["request_id": .string(requestID)])
            }
            reply(Problem(error))
        }
    }

    /// The Authorization header's bearer token.
    var bearerToken: String? {
        guard let value = request.headers["Authorization"] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingWhitespace()
    }

    /// A query parameter that must be an integer in `range` (422 naming it answered otherwise).
    func integerQuery(_ name: String, default fallback: Int, range: ClosedRange<Int>) -> Int? {
        guard let text = request.queryItem(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            let bounds = range.upperBound == Int.max ? "a non-negative integer" : "an integer from \(range.lowerBound) to \(range.upperBound)"
            reply(Problem(422, "\(name) must be \(bounds), not '\(text)'", field: name))
            return nil
        }
        return value
    }
}

/// A JSON request body: checks the media type, parses, and reads typed fields, naming the field
/// in every complaint.
struct RequestBody {
    let json: JSON

    init(_ request: HTTPRequest) throws(Problem) {
        if request.body.isEmpty {
            json = [:]
            return
        }
        let type = request.headers["Content-Type"]?.split(separator: ";").first?.trimmingWhitespace().lowercased() ?? ""
        guard type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json")) else {
            throw Problem(415, type.isEmpty ? "send the body as application/json (Content-Type is missing)"
                                            : "send the body as application/json, not \(type)")
        }
        do {
            json = try JSON.parse(request.body)
        } catch {
            throw Problem(400, "the body is not valid JSON: \(error)")
        }
        guard json.objectValue != nil else { throw Problem(400, "the body must be a JSON object, not \(json.typeName)") }
    }

    func string(_ key: String) throws(InterviewError) -> String? { try Self.string(json, key, path: key) }

    static func string(_ object: JSON, _ key: String, path: String) throws(InterviewError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw .invalid(path, "\(path) must be a string, not \(value.typeName)") }
        return text
    }

    func integer(_ key: String) throws(InterviewError) -> Int? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let number = value.intValue else { throw .invalid(key, "\(key) must be an integer, not \(value.typeName)") }
        return number
    }

    func object(_ key: String) throws(InterviewError) -> JSON? {
        guard let value = json[key], !value.isNull else { return nil }
        guard value.objectValue != nil else { throw .invalid(key, "\(key) must be an object, not \(value.typeName)") }
        return value
    }
}
