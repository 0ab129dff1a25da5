import Interview
import Stores
import JSON
import Logging
import Redis
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// A gateway process: one libuv loop serving HTTP, with all state in Redis.
public final class Gateway {
    public let configuration: GatewayConfiguration
    let logger: Logger
    let loop: EventLoop
    let redis: RedisConnection
    /// The pub/sub connection: session channels while this gateway has members of them.
    let subscriber: RedisSubscriber
    let sessions: Sessions
    let rateLimiter: RateLimiter
    /// Code execution jobs (ExecutionRoutes.swift).
    let executions: Executions
    /// Session playback (PlaybackRoutes.swift).
    let playback: Playback
    /// Sessions' questions and the question library (QuestionRoutes.swift).
    let questions: Questions
    private(set) var server: HTTPServer!
    private var signals: SignalWatcher?
    private var router = Router(routes: [])
    private let startedAt = EventLoop.hrtime()
    let startedAtMillis = EventLoop.unixMillis()
    private(set) var stopping = false
    /// This process in the node registry: the node id plus a random suffix, so a restarted
    /// gateway with the same node id is never mistaken for its dead predecessor.
    let instanceID: String
    /// WebSocket clients, rooms, cursors and gateway liveness (Collaboration.swift).
    private(set) var collaboration: Collaboration!
    var counters = GatewayCounters()
    private var requestCounter = 0
    let openAPIDocument: [UInt8]

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        loop = EventLoop()
        redis = RedisConnection(loop: loop, address: configuration.redis, logger: logger)
        subscriber = RedisSubscriber(loop: loop, address: configuration.redis, logger: logger)
        sessions = Sessions(redis: redis, settings: configuration.sessions)
        rateLimiter = RateLimiter(redis: redis)
        executions = Executions(redis: redis, settings: configuration.executions)
        playback = Playback(sessions: sessions, executionHistoryLimit: configuration.executions.sessionHistoryLimit)
        questions = Questions(sessions: sessions, library: configuration.library)
        openAPIDocument = try OpenAPIDocument.load()
        instanceID = "\(configuration.nodeID).\(Identifiers.participantID().dropFirst(2).prefix(8))"
        router = Router(routes: routes())
        collaboration = Collaboration(loop: loop, configuration: configuration, sessions: sessions, subscriber: subscriber,
                                      redis: redis, instanceID: instanceID, startedAtMillis: startedAtMillis, logger: logger,
                                      serverLoad: { [unowned self] in
                                          (self.server.boundPort, self.server.connectionCount, self.server.webSocketCount)
                                      })
        server = HTTPServer(loop: loop, configuration: configuration.http, logger: logger,
                            errorBody: { [unowned self] status, detail, path in
                                var response = Problem(status, detail).response(path: path)
                                response.headers.add("X-Request-Id", self.nextRequestID())
                                return response
                            },
                            handler: { [unowned self] request, responder in self.handle(request, responder) })
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully and returns.
    public func run() throws {
        try server.start()
        redis.start()
        subscriber.start()
        collaboration.start()
        signals = SignalWatcher(loop: loop, signals: [SIGTERM, SIGINT]) { [unowned self] signum in self.stop(signum) }
        logger.info("gateway \(configuration.nodeID) listening on \(configuration.http.host):\(server.boundPort), Redis at \(configuration.redis)")
        loop.run()
        logger.info("gateway \(configuration.nodeID) stopped")
    }

    private func stop(_ signum: Int32) {
        if stopping {
            logger.warning("second signal: exiting now")
            exit(1)
        }
        stopping = true
        logger.info("signal \(signum): no new connections; finishing \(server.connectionCount) open one(s)")
        server.stop { [unowned self] in
            self.collaboration.stop()
            // Leave the node registry before closing Redis: status shows this gateway gone at once.
            self.sessions.deregister(instance: self.instanceID) { [unowned self] in
                self.subscriber.close { [unowned self] in
                    self.redis.close { [unowned self] in
                        self.signals?.close()
                        self.signals = nil
                    }
                }
            }
        }
    }

    /// A client's X-Request-Id when it is short and plain (it ends up in logs), else a new one.
    private func requestID(_ request: HTTPRequest) -> String {
        if let given = request.headers["X-Request-Id"], (1...64).contains(given.utf8.count),
           given.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46 }) {
            return given
        }
        return nextRequestID()
    }

    /// This instance's id and a counter: unique across the cluster without coordination.
    private func nextRequestID() -> String {
        requestCounter += 1
        return "\(instanceID)-\(String(requestCounter, radix: 36))"
    }

    /// Every path the router serves, for checking the OpenAPI document against.
    public var servedPaths: [String] { router.documentedPaths }

    /// The OpenAPI document as served at /openapi.json.
    public var openAPIDocumentBytes: [UInt8] { openAPIDocument }

    // MARK: Dispatch

    private func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        var context = RequestContext(request: request, responder: responder, parameters: [], clientAddress: clientAddress(request),
                                     requestID: requestID(request), startedAt: EventLoop.hrtime())
        let origin = request.headers["Origin"]
        guard let (route, parameters) = router.match(request.path) else {
            return reply(context, Problem(404, "no route for \(request.path); the API lives under /api/v1 (see /openapi.json)"))
        }
        context = RequestContext(request: request, responder: responder, parameters: parameters, clientAddress: context.clientAddress,
                                 requestID: context.requestID, startedAt: context.startedAt)
        if request.method == "OPTIONS" {
            return preflight(context, route: route, origin: origin)
        }
        guard let handler = route.handler(for: request.method) else {
            var problem = Problem(405, "\(request.method) is not allowed on \(request.path); allowed: \(route.allow)")
            problem.headers.add("Allow", route.allow)
            return reply(context, problem)
        }
        admit(context, route: route, handler)
    }

    /// CORS preflight (and plain OPTIONS, which just lists the methods).
    private func preflight(_ context: RequestContext, route: Route, origin: String?) {
        var response = HTTPResponse(status: 204)
        response.headers.add("Allow", route.allow)
        if let origin, context.request.headers["Access-Control-Request-Method"] != nil, let allowed = allowedOrigin(origin) {
            response.headers.add("Access-Control-Allow-Origin", allowed)
            response.headers.add("Access-Control-Allow-Methods", route.allow)
            response.headers.add("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-Id")
            response.headers.add("Access-Control-Max-Age", "600")
            if allowed != "*" { response.headers.add("Vary", "Origin") }
        }
        context.responder.respond(response)
    }

    private func allowedOrigin(_ origin: String) -> String? {
        if configuration.corsOrigins.contains("*") { return "*" }
        return configuration.corsOrigins.contains(origin) ? origin : nil
    }

    // MARK: Answering

    func reply(_ context: RequestContext, _ problem: Problem) {
        send(context, problem.response(path: context.path))
    }

    func reply(_ context: RequestContext, status: Int = 200, _ body: JSON, headers: HTTPHeaders = HTTPHeaders()) {
        var response = HTTPResponse(status: status, headers: headers, body: body.bytes)
        response.headers.add("Content-Type", "application/json")
        send(context, response)
    }

    /// The one exit of every response: CORS headers are stamped here.
    func send(_ context: RequestContext, _ response: HTTPResponse) {
        var response = response
        for field in context.responseHeaders { response.headers.add(field.name, field.value) }
        response.headers.add("X-Request-Id", context.requestID)
        if logger.logLevel <= .debug {
            let millis = Double(EventLoop.hrtime() - context.startedAt) / 1e6
            logger.debug("\(context.request.method) \(context.path) \(response.status) \(millis) ms",
                         metadata: ["request_id": .string(context.requestID), "client": .string(context.clientAddress)])
        }
        if let origin = context.request.headers["Origin"], let allowed = allowedOrigin(origin) {
            response.headers.add("Access-Control-Allow-Origin", allowed)
            response.headers.add("Access-Control-Expose-Headers", "Location, Retry-After")
            if allowed != "*" { response.headers.add("Vary", "Origin") }
        }
        context.responder.respond(response)
    }

    /// Answers a domain result: the success body, or the error as a problem.
    func reply<T>(_ context: RequestContext, _ result: Result<T, InterviewError>, _ success: (T) -> Void) {
        switch result {
        case .success(let value): success(value)
        case .failure(let error):
            if error.kind == .internalError {
                logger.error("\(context.request.method) \(context.path): \(error.detail)", metadata: ["request_id": .string(context.requestID)])
            }
            reply(context, Problem(error))
        }
    }

    // MARK: Operations routes

    func health(_ context: RequestContext) {
        let started = EventLoop.hrtime()
        var body: JSON = ["status": "ok", "node_id": .string(configuration.nodeID), "version": .string(configuration.version),
                          "uptime_ms": .integer(Int((started - startedAt) / 1_000_000))]
        redis.send(["PING"]) { [self] result in
            switch result {
            case .success:
                let rtt = Double(EventLoop.hrtime() - started) / 1_000_000
                body.set("redis", ["reachable": true, "rtt_ms": .double((rtt * 1000).rounded() / 1000)])
                reply(context, body)
            case .failure(let error):
                body.set("status", "unavailable")
                body.set("redis", ["reachable": false, "error": .string(error.message)])
                var headers = HTTPHeaders()
                headers.add("Retry-After", "1")
                reply(context, status: 503, body, headers: headers)
            }
        }
    }

    func openAPI(_ context: RequestContext) {
        send(context, HTTPResponse(status: 200, contentType: "application/json", body: openAPIDocument))
    }

    func languages(_ context: RequestContext) {
        sessions.availableLanguages { [self] result in
            reply(context, result) { available in
                let list = Language.all.map { language -> JSON in
                    ["id": .string(language.id), "name": .string(language.name), "version": .string(language.version),
                     "extension": .string(language.fileExtension), "available": .bool(available.contains(language.id))]
                }
                reply(context, ["languages": .array(list)])
            }
        }
    }

    func template(_ context: RequestContext) {
        guard let language = Language.named(context.parameters[0]) else {
            return reply(context, Problem(404, "no language '\(context.parameters[0])'; known: \(Language.ids.joined(separator: ", "))"))
        }
        reply(context, ["language": .string(language.id), "template": .string(language.template)])
    }
}
