import Foundation
import Transport

/// The OpenAPI 3.1 document, shipped as a resource and served verbatim.
enum OpenAPIDocument {
    static func load() throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url) else {
            throw TransportError("the OpenAPI document (openapi.json) is missing from the gateway's resources")
        }
        return [UInt8](data)
    }
}
