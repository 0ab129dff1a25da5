import Interview
import Stores
import JSON
import Transport

/// Signed webhooks (docs/webhooks.md), the admin token's:
///
///     GET    /webhooks                       POST (201: the endpoint with its secret, once)
///     GET    /webhooks/{webhook_id}          PATCH (url, events, description, enabled), DELETE
///     GET    /webhooks/{webhook_id}/deliveries   the last attempts, newest first
///     POST   /webhooks/{webhook_id}/test         queues a `ping` event for this endpoint
///
/// A url must be http(s), without user info, at most 2,048 bytes, and (unless the gateway runs
/// with --webhook-allow-private) neither be nor resolve to an internal address (OutboundAddress).
final class WebhookController: Controller {
    private let webhooks: WebhookOutbox
    private let loop: EventLoop
    private let allowPrivate: Bool

    init(webhooks: WebhookOutbox, loop: EventLoop, allowPrivate: Bool) {
        self.webhooks = webhooks
        self.loop = loop
        self.allowPrivate = allowPrivate
    }

    var routes: [Route] {
        let admin = Authentication.admin("webhooks")
        return [
            Route("webhooks",
                  .get(auth: admin, rate: .requests, list),
                  .post(auth: admin, rate: .requests, body: .server, create)),
            Route("webhooks/{webhook_id}",
                  .get(auth: admin, rate: .requests, get),
                  .patch(auth: admin, rate: .requests, body: .server, update),
                  .delete(auth: admin, rate: .requests, delete)),
            Route("webhooks/{webhook_id}/deliveries", .get(auth: admin, rate: .requests, deliveries)),
            Route("webhooks/{webhook_id}/test", .post(auth: admin, rate: .requests, body: .none, test)),
        ]
    }

    func list(_ context: RequestContext) {
        webhooks.list { result in
            context.reply(result) { context.reply(["webhooks": .array($0.map(\.publicJSON))]) }
        }
    }

    func create(_ context: RequestContext) {
        let url: String, events: [String], description: String?
        do {
            let body = try RequestBody(context.request)
            try Self.onlyFields(body.json, ["url", "events", "description"])
            guard let given = try Self.url(body.json) else { throw Problem(400, "url is required: the http(s) URL events are POSTed to", field: "url") }
            url = given
            guard let list = try Self.events(body.json) else {
                throw Problem(400, "events is required: a list of event types (\(WebhookOutbox.eventTypes.joined(separator: ", ")))", field: "events")
            }
            events = list
            description = try Self.description(body.json)
        } catch {
            return context.reply(error)
        }
        check(url, context) { [webhooks] in
            webhooks.create(url: url, events: events, description: description) { result in
                context.reply(result) { endpoint in
                    var headers = HTTPHeaders()
                    headers.add("Location", "/api/v1/webhooks/\(endpoint.id)")
                    context.reply(status: 201, endpoint.json, headers: headers)
                }
            }
        }
    }

    func get(_ context: RequestContext) {
        webhooks.get(context.parameters[0]) { result in
            context.reply(result) { context.reply($0.publicJSON) }
        }
    }

    func update(_ context: RequestContext) {
        var changes: JSON = [:]
        var url: String?
        do {
            let body = try RequestBody(context.request)
            try Self.onlyFields(body.json, ["url", "events", "description", "enabled"])
            if let given = try Self.url(body.json) {
                url = given
                changes.set("url", .string(given))
            }
            if let events = try Self.events(body.json) { changes.set("events", .array(events.map(JSON.string))) }
            if body.json["description"] != nil { changes.set("description", try Self.description(body.json).map(JSON.string) ?? .null) }
            if let enabled = body.json["enabled"], !enabled.isNull {
                guard let flag = enabled.boolValue else { throw Problem(400, "enabled must be a boolean, not \(enabled.typeName)", field: "enabled") }
                changes.set("enabled", .bool(flag))
            }
            guard changes.objectValue?.isEmpty == false else {
                throw Problem(400, "send at least one of url, events, description, enabled")
            }
        } catch {
            return context.reply(error)
        }
        let change = { [webhooks] in
            webhooks.update(context.parameters[0], changes) { result in
                context.reply(result) { context.reply($0.publicJSON) }
            }
        }
        guard let url else { return change() }
        check(url, context, then: change)
    }

    func delete(_ context: RequestContext) {
        webhooks.delete(context.parameters[0]) { result in
            context.reply(result) { context.send(HTTPResponse(status: 204)) }
        }
    }

    func deliveries(_ context: RequestContext) {
        guard let limit = context.integerQuery("limit", default: 100, range: 1...100) else { return }
        webhooks.deliveries(context.parameters[0], limit: limit) { result in
            context.reply(result) { context.reply(["deliveries": .array($0)]) }
        }
    }

    func test(_ context: RequestContext) {
        webhooks.ping(context.parameters[0]) { result in
            context.reply(result) { context.reply(status: 202, ["event_id": .string($0), "type": "ping"]) }
        }
    }

    // MARK: Validation

    private static func onlyFields(_ json: JSON, _ known: [String]) throws(Problem) {
        for member in json.objectValue ?? [] where !known.contains(member.key) {
            throw Problem(400, "unknown field \(member.key); a webhook has \(known.joined(separator: ", "))", field: member.key)
        }
    }

    /// The `events` list (nil when absent): known types, at least one, no repeats.
    private static func events(_ json: JSON) throws(Problem) -> [String]? {
        guard let value = json["events"], !value.isNull else { return nil }
        let known = WebhookOutbox.eventTypes.joined(separator: ", ")
        guard let items = value.arrayValue, !items.isEmpty, items.count <= WebhookOutbox.eventTypes.count else {
            throw Problem(400, "events must be a non-empty list of event types (\(known))", field: "events")
        }
        var events: [String] = []
        for item in items {
            guard let type = item.stringValue, WebhookOutbox.eventTypes.contains(type) else {
                throw Problem(400, "unknown event type \(item.stringValue.map { "'\($0)'" } ?? item.typeName); the types are \(known)", field: "events")
            }
            if !events.contains(type) { events.append(type) }
        }
        return events
    }

    private static func url(_ json: JSON) throws(Problem) -> String? {
        guard let value = json["url"], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw Problem(400, "url must be a string, not \(value.typeName)", field: "url") }
        return text
    }

    private static func description(_ json: JSON) throws(Problem) -> String? {
        guard let value = json["description"], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw Problem(400, "description must be a string, not \(value.typeName)", field: "description") }
        guard text.utf8.count <= 500 else { throw Problem(400, "description is \(text.utf8.count) bytes, more than 500", field: "description") }
        return text
    }

    /// Runs `then` when `url` is acceptable; answers 400 naming what is wrong otherwise. Unless
    /// private addresses are allowed, the host must be a public address, or a name whose every
    /// address is public (checked again at each delivery).
    private func check(_ text: String, _ context: RequestContext, then: @escaping () -> Void) {
        let url: OutboundURL
        do {
            url = try OutboundURL(text)
        } catch {
            return context.reply(Problem(400, error.description, field: "url"))
        }
        if allowPrivate { return then() }
        if let literal = OutboundAddress.literal(url.host) {
            if let why = OutboundAddress.refusal(literal) {
                return context.reply(Problem(400, "the url's host \(url.host) is \(OutboundAddress.text(literal)), \(why): webhooks may not reach "
                                             + "the cluster's own networks (the operator may allow it with --webhook-allow-private)", field: "url"))
            }
            return then()
        }
        Resolver.resolve(loop: loop, host: url.resolvableHost, port: url.port) { result in
            switch result {
            case .failure(let why):
                context.reply(Problem(400, "the url's host \(url.host) does not resolve (\(why)); give a host name that resolves, or an IP address", field: "url"))
            case .success(let addresses):
                for address in addresses {
                    if let why = OutboundAddress.refusal(address) {
                        return context.reply(Problem(400, "the url's host \(url.host) resolves to \(OutboundAddress.text(address)), \(why): webhooks may not "
                                                     + "reach the cluster's own networks (the operator may allow it with --webhook-allow-private)", field: "url"))
                    }
                }
                then()
            }
        }
    }
}
