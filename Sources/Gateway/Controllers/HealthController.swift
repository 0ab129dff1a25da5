import Interview
import Postgres
import Stores
import JSON
import Redis
import Transport

/// What balancers and API clients ask first; never rate limited. Also at the root.
///
///     GET /health          ok, or 503 when Redis does not answer
///     GET /openapi.json    the OpenAPI document
final class HealthController: Controller {
    private let redis: RedisConnection
    private let configuration: GatewayConfiguration
    /// The process's start (monotonic ns), for uptime.
    private let startedAt: UInt64
    private let openAPIDocument: [UInt8]
    /// The interview archive, when configured: reported, never a reason to answer 503 (live
    /// interviews go on without it).
    private let archive: PostgresPool?

    init(redis: RedisConnection, configuration: GatewayConfiguration, startedAt: UInt64, openAPIDocument: [UInt8],
         archive: PostgresPool? = nil) {
        self.redis = redis
        self.configuration = configuration
        self.startedAt = startedAt
        self.openAPIDocument = openAPIDocument
        self.archive = archive
    }

    var routes: [Route] {
        [
            Route("health", at: .apiAndRoot, .get(auth: .none, rate: .exempt, health)),
            Route("openapi.json", at: .apiAndRoot, .get(auth: .none, rate: .exempt, openAPI)),
        ]
    }

    func health(_ context: RequestContext) {
        let started = EventLoop.hrtime()
        var body: JSON = ["status": "ok", "node_id": .string(configuration.nodeID), "version": .string(configuration.version),
                          "uptime_ms": .integer(Int((started - startedAt) / 1_000_000))]
        if let archive {
            // No error text: /health is public, and libpq's messages name PostgreSQL's host.
            body.set("archive", ["reachable": .bool(archive.isReachable)])
        }
        redis.send(["PING"]) { result in
            switch result {
            case .success:
                let rtt = Double(EventLoop.hrtime() - started) / 1_000_000
                body.set("redis", ["reachable": true, "rtt_ms": .double((rtt * 1000).rounded() / 1000)])
                context.reply(body)
            case .failure(let error):
                body.set("status", "unavailable")
                body.set("redis", ["reachable": false, "error": .string(error.message)])
                var headers = HTTPHeaders()
                headers.add("Retry-After", "1")
                context.reply(status: 503, body, headers: headers)
            }
        }
    }

    func openAPI(_ context: RequestContext) {
        context.send(HTTPResponse(status: 200, contentType: "application/json", body: openAPIDocument))
    }
}
