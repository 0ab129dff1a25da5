import Foundation
import XCTest
@testable import TestSupport

/// Languages, health, the OpenAPI document, the /api alias, HEAD, 404 and 405.
final class RoutingTests: GatewayTestCase {
    static let languageIDs: Set<String> = ["python", "javascript", "typescript", "c", "cpp", "java", "go", "ruby"]

    // MARK: languages

    func testLanguagesList() throws {
        let r = try api.languages()
        assertStatus(r, 200)
        let list = try XCTUnwrap(r.object["languages"] as? [[String: Any]], r.text)
        XCTAssertEqual(list.count, 8)
        XCTAssertEqual(Set(list.compactMap { $0["id"] as? String }), Self.languageIDs)
        for l in list {
            for key in ["id", "name", "version", "extension"] {
                XCTAssertNotNil(l[key] as? String, "\(key) of \(l)")
            }
            XCTAssertTrue(isJSONBool(l["available"]), "available is a boolean: \(l)")
            XCTAssertEqual(l["available"] as? Bool, false, "no runner is running: \(l)")
        }
    }

    func testLanguageTemplates() throws {
        for id in Self.languageIDs {
            let r = try api.template(id)
            assertStatus(r, 200, id)
            XCTAssertEqual(r.object["language"] as? String, id)
            XCTAssertNotNil(r.object["template"] as? String, "template of \(id)")
        }
        assertProblem(try api.template("cobol"), status: 404, slug: "not-found",
                      instance: "/api/v1/languages/cobol/template")
    }

    // MARK: health

    func testHealthFields() throws {
        for path in ["/health", "/api/v1/health", "/api/health"] {
            let r = try api.health(path: path)
            assertStatus(r, 200, path)
            XCTAssertTrue(r.header("Content-Type")?.lowercased().hasPrefix("application/json") ?? false, path)
            let o = r.object
            XCTAssertEqual(o["status"] as? String, "ok", path)
            XCTAssertEqual(o["node_id"] as? String, gateway.nodeID, path)
            XCTAssertNotNil(o["version"] as? String, path)
            XCTAssertTrue(isJSONInteger(o["uptime_ms"]), "uptime_ms: \(o)")
            XCTAssertGreaterThanOrEqual(o["uptime_ms"] as? Int ?? -1, 0)
            let redis = try XCTUnwrap(o["redis"] as? [String: Any], "redis member: \(r.text)")
            XCTAssertEqual(redis["reachable"] as? Bool, true)
            XCTAssertTrue(isJSONBool(redis["reachable"]))
            XCTAssertTrue(isJSONNumber(redis["rtt_ms"]), "rtt_ms: \(redis)")
        }
    }

    // MARK: OpenAPI

    /// "/api/v1/sessions/{session_id}" -> "/sessions/{}".
    private func normalize(_ path: String, serverPrefix: String) -> String {
        var p = path
        for prefix in [serverPrefix, "/api/v1"] where !prefix.isEmpty && p.hasPrefix(prefix + "/") {
            p = String(p.dropFirst(prefix.count))
            break
        }
        return p.replacingOccurrences(of: "\\{[^}]*\\}", with: "{}", options: .regularExpression)
    }

    func testOpenAPIDocument() throws {
        let r = try api.call("GET", "/openapi.json")
        assertStatus(r, 200)
        XCTAssertTrue(r.header("Content-Type")?.lowercased().hasPrefix("application/json") ?? false)
        let doc = try XCTUnwrap(r.json as? [String: Any], "the document parses as a JSON object")
        XCTAssertEqual(doc["openapi"] as? String, "3.1.0")
        XCTAssertNotNil(doc["info"] as? [String: Any])
        let paths = try XCTUnwrap(doc["paths"] as? [String: Any])
        var serverPrefix = ""
        if let servers = doc["servers"] as? [[String: Any]], let url = servers.first?["url"] as? String,
           let u = URL(string: url) {
            serverPrefix = u.path.hasSuffix("/") ? String(u.path.dropLast()) : u.path
        }
        var methods: [String: Set<String>] = [:]
        for (path, item) in paths {
            let ops = Set(((item as? [String: Any]) ?? [:]).keys.map { $0.lowercased() })
            methods[normalize(path, serverPrefix: serverPrefix), default: []].formUnion(ops)
        }
        let expected: [String: [String]] = [
            "/sessions": ["post"],
            "/sessions/{}": ["get", "patch", "delete"],
            "/sessions/{}/users": ["get", "post"],
            "/sessions/{}/participants": ["get"],
            "/sessions/{}/users/{}": ["delete"],
            "/sessions/{}/code": ["get", "post"],
            "/sessions/{}/history": ["get"],
            "/languages": ["get"],
            "/languages/{}/template": ["get"],
            "/health": ["get"],
            "/openapi.json": ["get"],
        ]
        for (path, ops) in expected {
            guard let have = methods[path] else {
                XCTFail("OpenAPI paths lack \(path); has \(paths.keys.sorted())")
                continue
            }
            for op in ops { XCTAssertTrue(have.contains(op), "\(op.uppercased()) \(path) in the OpenAPI document") }
        }
        // The same document under the prefixes.
        for prefix in ["/api/v1", "/api"] {
            let other = try api.call("GET", "\(prefix)/openapi.json")
            assertStatus(other, 200, prefix)
            XCTAssertEqual((other.json as? [String: Any])?["openapi"] as? String, "3.1.0", prefix)
        }
    }

    func testOpenAPIDocumentValidates() throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import openapi_spec_validator"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        try check.run()
        check.waitUntilExit()
        if check.terminationStatus != 0 {
            throw XCTSkip("python3 openapi_spec_validator is not importable (run scripts/setup)")
        }
        let r = try api.call("GET", "/openapi.json")
        assertStatus(r, 200)
        let dir = try TempDir.make("ci-openapi")
        defer { removeDirectory(dir) }
        let file = "\(dir)/openapi.json"
        try Data(r.body).write(to: URL(fileURLWithPath: file))
        let script = """
            import json, sys
            try:
                from openapi_spec_validator import validate
            except ImportError:
                from openapi_spec_validator import validate_spec as validate
            with open(sys.argv[1]) as f:
                validate(json.load(f))
            print("valid")
            """
        let validate = Process()
        validate.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        validate.arguments = ["python3", "-c", script, file]
        let out = Pipe()
        validate.standardOutput = out
        validate.standardError = out
        try validate.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        validate.waitUntilExit()
        XCTAssertEqual(validate.terminationStatus, 0, "openapi_spec_validator rejects /openapi.json:\n\(output.suffix(3000))")
    }

    // MARK: prefixes

    func testAPIAliasServesTheSameRoutes() throws {
        let legacy = gateway.api(prefix: "/api")
        let created = try legacy.createSession(["session_name": "legacy"])
        assertStatus(created, 201)
        let id = try XCTUnwrap(created.object["id"] as? String)
        let host = try XCTUnwrap(created.object["host_token"] as? String)
        assertStatus(try legacy.getSession(id), 200)
        assertStatus(try api.getSession(id), 200, "a session made under /api is the same under /api/v1")
        let p = try legacy.joined(id, name: "Old Client")
        assertStatus(try legacy.users(id), 200)
        assertStatus(try legacy.api("GET", "/sessions/\(id)/participants"), 200)
        let saved = try legacy.saveCode(id, "y = 2")
        assertStatus(saved, 200)
        XCTAssertEqual(saved.object["revision"] as? Int, 1)
        assertStatus(try legacy.getCode(id), 200)
        assertStatus(try legacy.history(id), 200)
        assertStatus(try legacy.patchSession(id, ["language": "ruby"]), 200)
        assertStatus(try legacy.leave(id, user: p.id, token: p.token), 204)
        let langs = try legacy.languages()
        assertStatus(langs, 200)
        XCTAssertEqual((langs.object["languages"] as? [Any])?.count, 8)
        assertStatus(try legacy.template("go"), 200)
        assertProblem(try legacy.getSession("AAAAAAAAAAAAAAAAAAAAAA"), status: 404, slug: "not-found",
                      instance: "/api/sessions/AAAAAAAAAAAAAAAAAAAAAA")
        assertStatus(try legacy.deleteSession(id, token: host), 204)
        assertProblem(try legacy.getSession(id), status: 410, slug: "gone")
    }

    // MARK: HEAD, 404, 405

    func testHeadOnGetRoutes() throws {
        let s = try api.newSession()
        let client = try gateway.client()
        for path in ["/api/v1/languages", "/health", "/api/v1/sessions/\(s.id)", "/api/v1/sessions/\(s.id)/code",
                     "/api/languages/go/template", "/openapi.json"] {
            let get = try client.request("GET", path)
            assertStatus(get, 200, "GET \(path)")
            let head = try client.request("HEAD", path)
            assertStatus(head, 200, "HEAD \(path)")
            XCTAssertEqual(head.header("Content-Type"), get.header("Content-Type"), "HEAD \(path) Content-Type")
            // /health's body (uptime, rtt) changes between two calls; the others do not.
            if path != "/health", let len = head.header("Content-Length") {
                XCTAssertEqual(Int(len), get.body.count, "HEAD \(path) Content-Length is the GET body's")
            }
            // No body was sent: the connection is still in step (the next response parses).
            XCTAssertFalse(client.isClosedByPeer(within: 0))
        }
        assertStatus(try client.request("GET", "/health"), 200, "connection still usable after HEADs")
    }

    func testUnknownPathsAre404() throws {
        for path in ["/nope", "/api/v1/nope", "/api/v1", "/api/v2/sessions", "/api/v1/sessions/x/y/z",
                     "/api/v1/languages/go", "/api/nope"] {
            let r = try api.call("GET", path)
            assertProblem(r, status: 404, slug: "not-found", instance: path)
        }
    }

    func testWrongMethodIs405WithAllow() throws {
        let s = try api.newSession()
        let cases: [(String, String, Set<String>)] = [
            ("DELETE", "/api/v1/languages", ["GET"]),
            ("POST", "/health", ["GET"]),
            ("PUT", "/api/v1/sessions/\(s.id)", ["GET", "PATCH", "DELETE"]),
            ("GET", "/api/v1/sessions", ["POST"]),
            ("PUT", "/api/v1/sessions/\(s.id)/code", ["GET", "POST"]),
            ("PATCH", "/api/sessions/\(s.id)/users", ["GET", "POST"]),
            ("GET", "/api/v1/sessions/\(s.id)/users/u_0000000000000000", ["DELETE"]),
        ]
        for (method, path, allowed) in cases {
            let r = try api.call(method, path, body: method == "GET" ? nil : [])
            assertProblem(r, status: 405, slug: "method-not-allowed", instance: path)
            let allow = Set(r.headerTokens("Allow").map { $0.uppercased() })
            XCTAssertTrue(allowed.isSubset(of: allow), "\(method) \(path): Allow \(allow) should contain \(allowed)")
            XCTAssertFalse(allow.contains(method), "\(method) \(path): Allow \(allow) must not list \(method)")
        }
    }
}
