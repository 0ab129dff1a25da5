import Interview
import Stores
import JSON
import Transport

/// GET /metrics: the Prometheus text format, at the root only. Local figures come from this
/// process; queue depth, executions and runner slots from Redis (the same on every gateway).
/// With an admin token configured the figures are the operator's; without one they are open.
final class MetricsController: Controller {
    private unowned let gateway: Gateway
    /// The archive queue's figures (the same on every gateway, with or without archiving here).
    private let archive: ArchiveQueue

    init(gateway: Gateway) {
        self.gateway = gateway
        archive = ArchiveQueue(redis: gateway.redis)
    }

    var routes: [Route] {
        [Route("metrics", at: .rootOnly, .get(auth: .adminIfConfigured, rate: .exempt, metrics))]
    }

    func metrics(_ context: RequestContext) {
        let server = gateway.server!, collaboration = gateway.collaboration!, redis = gateway.redis
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            text += "# HELP codeinterview_\(name) \(help)\n# TYPE codeinterview_\(name) \(type)\n"
            for sample in samples {
                let labels = sample.labels.isEmpty ? "" : "{\(sample.labels)}"
                let value = sample.value == sample.value.rounded() && abs(sample.value) < 1e15 ? String(Int(sample.value)) : String(sample.value)
                text += "codeinterview_\(name)\(labels) \(value)\n"
            }
        }
        metric("http_responses_total", "counter", "HTTP responses sent, by status code.",
               server.responses.enumerated().filter { $0.element > 0 }.map { ("code=\"\($0.offset)\"", Double($0.element)) })
        metric("connections", "gauge", "Open connections, by kind.",
               [("kind=\"http\"", Double(server.connectionCount)), ("kind=\"websocket\"", Double(server.webSocketCount))])
        metric("sessions_local", "gauge", "Sessions with members connected to this gateway.", [("", Double(collaboration.rooms.count))])
        metric("websocket_messages_in_total", "counter", "WebSocket messages received.", [("", Double(server.webSocketMessagesIn))])
        metric("websocket_frames_out_total", "counter", "WebSocket frames sent.", [("", Double(server.webSocketFramesOut))])
        metric("broadcasts_total", "counter", "Session messages fanned out to local members.", [("", Double(collaboration.counters.broadcasts))])
        metric("broadcast_deliveries_total", "counter", "Deliveries of those messages (fan-out: deliveries / broadcasts).",
               [("", Double(collaboration.counters.deliveries))])
        metric("rate_limited_total", "counter", "Requests and WebSocket messages refused by a rate limit.",
               [("kind=\"http\"", Double(gateway.rateLimiting.refusedRequests)), ("kind=\"websocket\"", Double(collaboration.counters.rateLimitedMessages))])
        metric("redis_reconnects_total", "counter", "Reconnections to Redis, by connection.",
               [("connection=\"commands\"", Double(redis.reconnectCount)), ("connection=\"pubsub\"", Double(gateway.subscriber.reconnectCount))])
        metric("redis_up", "gauge", "Whether the command connection to Redis is up.", [("", redis.isConnected ? 1 : 0)])
        text += "# HELP codeinterview_redis_command_duration_seconds Redis command round trips.\n"
        text += "# TYPE codeinterview_redis_command_duration_seconds histogram\n"
        text += redis.latency.render("codeinterview_redis_command_duration_seconds")
        metric("uptime_seconds", "gauge", "Seconds since this gateway started.",
               [("", Double(EventLoop.unixMillis() - gateway.startedAtMillis) / 1000)])
        gateway.executions.statistics { statistics in
            if let statistics {
                metric("execution_queue_depth", "gauge", "Jobs waiting for a runner.", [("", Double(statistics.queueDepth))])
                metric("executions_total", "counter", "Finished executions, by language and status.",
                       statistics.finished.map { ("language=\"\($0.language)\",status=\"\($0.status)\"", Double($0.count)) })
                metric("runner_slots", "gauge", "Execution slots of live runners, by state.",
                       [("state=\"busy\"", Double(statistics.busySlots)), ("state=\"total\"", Double(statistics.totalSlots))])
            }
            self.archiveMetrics(metric) { self.webhookMetrics(metric) {
                context.send(HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(text.utf8)))
            } }
        }
    }

    /// Webhooks (the same on every gateway): deliveries queued, and attempts by outcome.
    private func webhookMetrics(_ metric: @escaping (String, String, String, [(labels: String, value: Double)]) -> Void,
                                _ done: @escaping () -> Void) {
        gateway.webhooks.stats { stats in
            if let stats {
                metric("webhook_queue_size", "gauge", "Webhook deliveries queued (due, retrying, or in flight).", [("", Double(stats.queued))])
                metric("webhook_deliveries_total", "counter", "Webhook delivery attempts and deliveries, by result.",
                       [("result=\"delivered\"", Double(stats.delivered)), ("result=\"failed\"", Double(stats.failed)),
                        ("result=\"given_up\"", Double(stats.givenUp)), ("result=\"dropped\"", Double(stats.dropped))])
            }
            done()
        }
    }

    /// The archive queue: how many sessions wait for the archiver, how many are overdue (due and
    /// unclaimed, or whose claim lapsed: archivers down or PostgreSQL away), and for how long.
    private func archiveMetrics(_ metric: @escaping (String, String, String, [(labels: String, value: Double)]) -> Void,
                                _ done: @escaping () -> Void) {
        archive.stats { result in
            if case .success(let stats) = result {
                metric("archive_queue_size", "gauge", "Sessions on the archive queue (due later, due, or being archived).", [("", Double(stats.size))])
                metric("archive_queue_overdue", "gauge", "Sessions due for archiving that no archiver holds.", [("", Double(stats.overdue))])
                metric("archive_queue_oldest_overdue_seconds", "gauge", "How long the oldest overdue session has waited.",
                       [("", Double(stats.oldestOverdueMillis) / 1000)])
            }
            done()
        }
    }
}
