import Foundation
import Gateway
import Logging
import XCTest
@testable import TestSupport

/// Every route the gateway serves is in the OpenAPI document it serves, and every documented
/// path is served: the document cannot drift from the router.
final class OpenAPICoverageTests: XCTestCase {
    func testTheDocumentAndTheRouterAgree() throws {
        let gateway = try Gateway(configuration: GatewayConfiguration(), logger: Logger(label: "test"))
        let served = Set(gateway.servedPaths.map(Self.normalized))
        let document = try JSONSerialization.jsonObject(with: Data(gateway.openAPIDocumentBytes)) as? [String: Any]
        let paths = try XCTUnwrap(document?["paths"] as? [String: Any], "the document has paths")
        let documented = Set(paths.keys.map(Self.normalized))
        XCTAssertEqual(served.subtracting(documented).sorted(), [], "served but not documented")
        XCTAssertEqual(documented.subtracting(served).sorted(), [], "documented but not served")
        XCTAssertGreaterThan(served.count, 30, "the router serves the whole API")
    }

    /// Parameter names differ between the router and the document ({user_id} vs {userId} and the
    /// like); only the shape of a path matters here.
    static func normalized(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("{") ? "{}" : String($0) }
            .joined(separator: "/")
    }
}
