import Webhooks
import ArgumentParser
import Stores

/// Webhook options shared by gateways (registration) and archivers (delivery).
struct WebhookOptions: ParsableArguments {
    @Flag(help: "Allow webhook endpoints on loopback, private, link-local and other internal addresses (the SSRF rule off). Give it to gateways and archivers alike.")
    var webhookAllowPrivate: Bool = environment("WEBHOOK_ALLOW_PRIVATE", false)

    @Option(help: "The most webhook endpoints.")
    var webhookMaxEndpoints: Int = environment("WEBHOOK_MAX_ENDPOINTS", 50)

    @Option(help: "The most webhook deliveries queued; past it an event's deliveries are dropped (counted in /metrics).")
    var webhookMaxQueued: Int = environment("WEBHOOK_MAX_QUEUED", 100_000)

    @Option(help: "Milliseconds before the 2nd, 3rd... delivery attempt, comma-separated (each with up to 10% jitter); after the last the delivery is given up.")
    var webhookRetryScheduleMs: String = environment("WEBHOOK_RETRY_SCHEDULE_MS", "1000,5000,30000,120000,600000,1800000,3600000,7200000,14400000,21600000,43200000")

    @Option(help: "Deliveries given up in a row that disable an endpoint.")
    var webhookDisableAfter: Int = environment("WEBHOOK_DISABLE_AFTER", 5)

    var retrySchedule: [Int64]? {
        let parts = webhookRetryScheduleMs.split(separator: ",").map { Int64(String($0)) }
        guard !parts.isEmpty, parts.count <= 50, parts.allSatisfy({ ($0 ?? -1) >= 0 && ($0 ?? 0) <= 7 * 24 * 3600 * 1000 }) else { return nil }
        return parts.map { $0! }
    }

    func validate() throws {
        guard retrySchedule != nil else {
            throw ValidationError("--webhook-retry-schedule-ms must be 1 to 50 comma-separated milliseconds (0 to a week each)")
        }
        guard (1...1000).contains(webhookMaxEndpoints), webhookMaxQueued >= 1, webhookDisableAfter >= 1 else {
            throw ValidationError("--webhook-max-endpoints must be 1...1000, --webhook-max-queued and --webhook-disable-after at least 1")
        }
    }

    var settings: WebhookSettings {
        var settings = WebhookSettings()
        settings.maxEndpoints = webhookMaxEndpoints
        settings.maxQueued = webhookMaxQueued
        settings.retryScheduleMillis = retrySchedule ?? settings.retryScheduleMillis
        settings.disableAfterGivenUp = webhookDisableAfter
        return settings
    }
}

/// The delivery worker's options (archivers and gateways both host one).
struct WebhookWorkerOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Deliver webhooks from this process (the delivery worker; gateways and archivers both run one).")
    var webhooks: Bool = environment("WEBHOOKS", true)

    @Option(help: "Webhook deliveries in flight at once.")
    var webhookConcurrency: Int = environment("WEBHOOK_CONCURRENCY", 8)

    @Option(help: "Milliseconds one delivery attempt may take (resolve, connect, request, response).")
    var webhookTimeoutMs: Int = environment("WEBHOOK_TIMEOUT_MS", 10_000)

    @Option(help: "Milliseconds a claimed delivery stays this worker's (more than --webhook-timeout-ms); a killed worker's come back after it.")
    var webhookLeaseMs: Int = environment("WEBHOOK_LEASE_MS", 30_000)

    @Option(help: "A PEM file of CA certificates trusted for https webhook endpoints besides the system's.")
    var webhookCaFile: String?

    func validate() throws {
        guard (1...256).contains(webhookConcurrency) else { throw ValidationError("--webhook-concurrency must be 1...256") }
        guard webhookTimeoutMs >= 100, webhookLeaseMs > webhookTimeoutMs + 500 else {
            throw ValidationError("--webhook-timeout-ms must be at least 100 and --webhook-lease-ms more than it plus 500")
        }
    }

    func configuration(_ shared: WebhookOptions) -> WebhookWorkerConfiguration {
        var configuration = WebhookWorkerConfiguration()
        configuration.enabled = webhooks
        configuration.concurrency = webhookConcurrency
        configuration.timeoutMillis = UInt64(webhookTimeoutMs)
        configuration.leaseMillis = Int64(webhookLeaseMs)
        configuration.allowPrivate = shared.webhookAllowPrivate
        configuration.caFile = webhookCaFile
        configuration.settings = shared.settings
        return configuration
    }
}
