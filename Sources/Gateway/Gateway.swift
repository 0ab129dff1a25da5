import Webhooks
import Interview
import Stores
import JSON
import Logging
import Postgres
import Records
import Redis
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// A gateway process: one libuv loop serving HTTP, with all state in Redis. It keeps the
/// connections (HTTP server, Redis, pub/sub) and wires the controllers (Controllers/) into the
/// router (Routing/); what a route does is its controller's.
public final class Gateway {
    public let configuration: GatewayConfiguration
    let logger: Logger
    let loop: EventLoop
    let redis: RedisConnection
    /// The pub/sub connection: session channels while this gateway has members of them.
    let subscriber: RedisSubscriber
    let sessions: Sessions
    /// Code execution jobs (ExecutionController).
    let executions: Executions
    /// HTTP rate limits, from each endpoint's declared class (Protection.swift).
    let rateLimiting: RateLimiting
    private(set) var server: HTTPServer!
    private var signals: SignalWatcher?
    private(set) var router: Router!
    private let requestIDs: RequestIDMiddleware
    private let startedAt = EventLoop.hrtime()
    let startedAtMillis = EventLoop.unixMillis()
    private(set) var stopping = false
    /// This process in the node registry: the node id plus a random suffix, so a restarted
    /// gateway with the same node id is never mistaken for its dead predecessor.
    let instanceID: String
    /// WebSocket clients, rooms, cursors and gateway liveness (Collaboration.swift).
    private(set) var collaboration: Collaboration!
    let openAPIDocument: [UInt8]
    /// The interview archive (PostgreSQL, on this loop); nil without --postgres.
    let archive: PostgresPool?
    let records: InterviewRecords?
    /// Webhook endpoints and the outbox (WebhookController; session events through `sessions`).
    let webhooks: WebhookOutbox
    /// Delivers webhooks from this gateway too (WebhookWorker; nil with --no-webhooks).
    let webhookWorker: WebhookWorker?

    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        loop = EventLoop()
        redis = makeRedisClient(loop: loop, address: configuration.redis, logger: logger)
        subscriber = RedisSubscriber(loop: loop, address: configuration.redis, logger: logger)
        sessions = Sessions(redis: redis, settings: configuration.sessions)
        webhooks = WebhookOutbox(redis: redis, settings: configuration.webhooks)
        sessions.webhooks = webhooks
        webhookWorker = configuration.webhookWorker.enabled
            ? WebhookWorker(loop: loop, redis: redis, configuration: configuration.webhookWorker, logger: logger) : nil
        rateLimiting = RateLimiting(settings: configuration.protection, limiter: RateLimiter(redis: redis))
        executions = Executions(redis: redis, settings: configuration.executions)
        let archive = configuration.postgres.map { [loop] in PostgresPool(loop: loop, configuration: $0, logger: logger) }
        self.archive = archive
        records = archive.map(InterviewRecords.init(pool:))
        openAPIDocument = try OpenAPIDocument.load()
        instanceID = "\(configuration.nodeID).\(Identifiers.participantID().dropFirst(2).prefix(8))"
        requestIDs = RequestIDMiddleware(instanceID: instanceID)
        router = Router(routes: routes(), middleware: [requestIDs, AccessLogMiddleware(logger: logger), CORSMiddleware(origins: configuration.corsOrigins)],
                        rateLimiting: rateLimiting, protection: configuration.protection, logger: logger)
        collaboration = Collaboration(loop: loop, configuration: configuration, sessions: sessions, subscriber: subscriber,
                                      redis: redis, instanceID: instanceID, startedAtMillis: startedAtMillis, logger: logger,
                                      serverLoad: { [unowned self] in
                                          (self.server.boundPort, self.server.connectionCount, self.server.webSocketCount)
                                      })
        server = HTTPServer(loop: loop, configuration: configuration.http, logger: logger,
                            errorBody: { [requestIDs] status, detail, path in
                                var response = Problem(status, detail).response(path: path)
                                response.headers.add("X-Request-Id", requestIDs.next())
                                return response
                            },
                            handler: { [unowned self] request, responder in self.router.handle(request, responder) })
    }

    /// The route table: every controller's routes, in matching order.
    private func routes() -> [Route] {
        let links = JoinLinks(configuration)
        let playback = PlaybackController(playback: Playback(sessions: sessions,
                                                             executionHistoryLimit: configuration.executions.sessionHistoryLimit))
        let execution = ExecutionController(gateway: self, executions: executions, sessions: sessions)
        let controllers: [any Controller] = [
            HealthController(redis: redis, configuration: configuration, startedAt: startedAt, openAPIDocument: openAPIDocument,
                             archive: archive),
            SessionController(sessions: sessions, links: links, archive: records != nil),
            ParticipantController(sessions: sessions),
            CodeController(sessions: sessions, playback: playback),
            LanguageController(sessions: sessions),
            playback,
            CollaborationController(gateway: self, configuration: configuration, links: links),
            execution,
            StaticController(configuration: configuration, logger: logger),
            ClusterController(redis: redis, instanceID: instanceID),
            MetricsController(gateway: self),
            NotesController(sessions: sessions),
            ActivityController(activity: Activity(redis: sessions.redis), admin: AdminToken(configuration.protection.adminToken)),
            ControlsController(controls: RoomControlsStore(sessions: sessions)),
            ScorecardController(scorecards: Scorecards(sessions: sessions), records: records, admin: AdminToken(configuration.protection.adminToken)),
            QuestionController(questions: Questions(sessions: sessions, library: configuration.library),
                               admin: AdminToken(configuration.protection.adminToken)),
            TestRunController(executions: executions, execution: execution),
            InterviewController(records: records, admin: AdminToken(configuration.protection.adminToken), logger: logger),
            WebhookController(webhooks: webhooks, loop: loop, allowPrivate: configuration.webhookAllowPrivate),
        ]
        return controllers.flatMap(\.routes)
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully and returns.
    public func run() throws {
        try server.start()
        redis.start()
        subscriber.start()
        collaboration.start()
        webhookWorker?.start()
        migrateArchive()
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
        webhookWorker?.stop()
        logger.info("signal \(signum): no new connections; finishing \(server.connectionCount) open one(s)")
        server.stop { [unowned self] in
            self.collaboration.stop()
            // Leave the node registry before closing Redis: status shows this gateway gone at once.
            self.sessions.deregister(instance: self.instanceID) { [unowned self] in
                self.subscriber.close { [unowned self] in
                    self.archive?.close()
                    self.redis.close { [unowned self] in
                        self.signals?.close()
                        self.signals = nil
                    }
                }
            }
        }
    }

    /// Brings the archive's schema up to date at start. PostgreSQL away is not fatal: live
    /// interviews need only Redis. No retry timer: the archivers migrate before they write
    /// (nothing can be read before something is written), and a read that finds no schema
    /// migrates then (InterviewController) and answers 503 meanwhile.
    private func migrateArchive() {
        records?.migrate { [logger] result in
            switch result {
            case .success(let count):
                logger.info("interview archive: schema at version \(InterviewRecords.schemaVersion) (\(count) migration(s) applied now)")
            case .failure(let error):
                logger.warning("interview archive: cannot migrate now (\(error.message)); live sessions go on, records answer 503 until PostgreSQL is back")
            }
        }
    }

    /// Every path the router serves, for checking the OpenAPI document against.
    public var servedPaths: [String] { router.documentedPaths }

    /// The OpenAPI document as served at /openapi.json.
    public var openAPIDocumentBytes: [UInt8] { openAPIDocument }
}
