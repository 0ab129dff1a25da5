import Foundation
@testable import Gateway
import Logging
import XCTest
@testable import TestSupport

/// Every endpoint declares its policy with its route (Controllers/), and the declarations agree
/// with the OpenAPI document the gateway serves: who may call it (`security`), whether it is
/// rate limited (a 429 response) and with which class, whether it reads a body. Protection reads
/// the class from the declaration, so a renamed route keeps its limit.
final class RoutePolicyTests: XCTestCase {
    /// The operations that count against a limit besides `requests`, by operationId (without the
    /// Legacy/Root suffix). Every other operation with a 429 counts against `requests` only.
    static let rateClasses: [String: RateClass] = [
        "createSession": .sessions,
        "joinSession": .joins, "connectWebSocket": .joins,
        "execute": .executions, "executeInSession": .executions, "startTestRun": .executions,
    ]

    func makeRouter() throws -> (Gateway, Router) {
        let gateway = try Gateway(configuration: GatewayConfiguration(), logger: Logger(label: "test"))
        return (gateway, try XCTUnwrap(gateway.router))
    }

    func operations() throws -> [String: [String: [String: Any]]] {
        let (gateway, _) = try makeRouter()
        let document = try JSONSerialization.jsonObject(with: Data(gateway.openAPIDocumentBytes)) as? [String: Any]
        let paths = try XCTUnwrap(document?["paths"] as? [String: [String: Any]])
        return paths.mapValues { $0.compactMapValues { $0 as? [String: Any] } }
    }

    /// The concrete paths a route is served at, OpenAPI-style.
    func servedPaths(_ route: Route) -> [String] {
        var paths: [String] = []
        if !route.rootOnly { paths += Router.prefixes.map { "/" + ($0 + [route.path]).joined(separator: "/") } }
        if route.atRoot { paths.append("/" + route.path) }
        return paths
    }

    func testEveryEndpointsPolicyAgreesWithTheDocument() throws {
        let (_, router) = try makeRouter()
        let operations = try operations()
        var checked = 0
        for route in router.routes {
            XCTAssertFalse(route.endpoints.isEmpty, "\(route.path) has endpoints")
            for path in servedPaths(route) {
                let documented = try XCTUnwrap(operations[OpenAPICoverageTests.normalized(path)] ?? operations.first {
                    OpenAPICoverageTests.normalized($0.key) == OpenAPICoverageTests.normalized(path)
                }?.value, "\(path) is documented")
                for endpoint in route.endpoints {
                    // HEAD is served wherever GET is, and documented except for the WebSocket upgrade.
                    let methods = endpoint.method == "GET" && !endpoint.policy.webSocket ? ["get", "head"] : [endpoint.method.lowercased()]
                    for method in methods {
                        let what = "\(method.uppercased()) \(path)"
                        guard let operation = documented[method] else {
                            XCTFail("\(what) is served but not documented")
                            continue
                        }
                        checked += 1
                        let policy = endpoint.policy
                        // Authentication: the document's security requirement.
                        let security = (operation["security"] as? [[String: Any]])?.map { $0.keys.sorted() }
                        switch policy.authentication {
                        case .none: XCTAssertNil(security, "\(what): no token")
                        case .optionalToken, .adminIfConfigured: XCTAssertEqual(security, [[], ["bearer"]], "\(what): an optional token")
                        case .token, .admin: XCTAssertEqual(security, [["bearer"]], "\(what): a token")
                        }
                        // Rate limits: exempt exactly where no 429 is documented; the class by operation.
                        let responses = operation["responses"] as? [String: Any] ?? [:]
                        XCTAssertEqual(policy.rate == .exempt, responses["429"] == nil, "\(what): rate limited iff a 429 is documented")
                        if policy.rate != .exempt {
                            let id = try XCTUnwrap(operation["operationId"] as? String)
                            let base = id.replacingOccurrences(of: "Legacy", with: "").replacingOccurrences(of: "Root", with: "")
                            let expected = Self.rateClasses[base] ?? (method == "head" ? Self.rateClasses[headless(base)] : nil) ?? .requests
                            XCTAssertEqual(policy.rate, expected, "\(what) (\(id)) counts against \(expected)")
                        }
                        // Body: a JSON body exactly where the document describes one.
                        if method != "head" {
                            XCTAssertEqual(policy.body == .server, operation["requestBody"] != nil, "\(what): reads a body iff documented")
                        }
                        XCTAssertEqual(policy.webSocket, path.hasSuffix("ws/sessions/{id}"), "\(what): WebSocket upgrade")
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 100, "every operation checked")
    }

    /// "headListUsers" -> "listUsers": HEAD operations share their GET's class.
    private func headless(_ id: String) -> String {
        guard id.hasPrefix("head") else { return id }
        let rest = id.dropFirst(4)
        return rest.prefix(1).lowercased() + rest.dropFirst()
    }

    /// Every route under /sessions/{id} and /ws/sessions/{id} takes a typed SessionID on every
    /// method, and only those do.
    func testEverySessionRouteTakesASessionID() throws {
        let (_, router) = try makeRouter()
        for route in router.routes {
            let scoped = route.path.hasPrefix("sessions/{id}") || route.path.hasPrefix("ws/sessions/{id}")
            for endpoint in route.endpoints {
                XCTAssertEqual(endpoint.takesSessionID, scoped, "\(endpoint.method) \(route.path) takes a SessionID")
            }
        }
    }

    /// The limits a request counts against follow the endpoint, not its path: the same endpoints
    /// under other names match with the same rules.
    func testARenamedRouteKeepsItsLimit() throws {
        let (_, original) = try makeRouter()
        let settings = ProtectionSettings()
        let renamed = original.routes.map { route in
            let path = route.pattern.map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : $0.hasPrefix("*") ? "{\($0)}" : "renamed-\($0)" }
            return Route(path.joined(separator: "/"), at: route.placement, endpoints: route.endpoints)
        }
        let router = Router(routes: renamed, middleware: [], rateLimiting: original.rateLimiting, protection: settings,
                            logger: Logger(label: "test"))
        var limited = 0
        for (old, new) in zip(original.routes, renamed) {
            let path = (new.rootOnly ? "/" : "/api/v1/")
                + new.pattern.map { $0.hasPrefix(":") ? "AAAAAAAAAAAAAAAAAAAAAA" : $0.hasPrefix("*") ? "x.js" : $0 }.joined(separator: "/")
            let (matched, _) = try XCTUnwrap(router.match(path), "\(path) matches")
            XCTAssertEqual(matched.path, new.path)
            for (before, after) in zip(old.endpoints, matched.endpoints) {
                XCTAssertEqual(before.policy, after.policy, "\(after.method) \(path)")
                XCTAssertEqual(settings.rules(for: after.policy.rate).map(\.name), settings.rules(for: before.policy.rate).map(\.name))
                if after.policy.rate != .exempt && after.policy.rate != .requests { limited += 1 }
            }
        }
        XCTAssertEqual(limited, 6, "sessions, joins (REST, WebSocket), executions (3) keep their classes")
    }
}
