import Interview
import Redis
import Transport

/// Everything a gateway process can be told; `codeinterview gateway --help` documents each field.
public struct GatewayConfiguration: Sendable {
    public var http = HTTPServerConfiguration()
    public var redis = RedisAddress(host: "127.0.0.1", port: 6379)
    public var nodeID = "gateway"
    /// Base of `join_url` (e.g. https://interview.example.com); empty: taken from the Host header.
    public var publicURL = ""
    /// Origins allowed by CORS; "*" allows any.
    public var corsOrigins: [String] = []
    public var sessions = SessionSettings()
    public var version = "0.1.0"

    public init() {}
}
