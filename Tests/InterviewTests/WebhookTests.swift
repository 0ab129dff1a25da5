import XCTest
@testable import Stores
import Transport

/// Webhook signing (the Standard Webhooks vector), the SSRF address rule and URL parsing.
final class WebhookTests: XCTestCase {
    /// The signature example of the Standard Webhooks specification (and its reference libraries' tests).
    func testSignatureMatchesTheStandardWebhooksVector() {
        let signature = WebhookSignature.sign(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                              timestamp: 1614265330, body: Array(#"{"test": 2432232314}"#.utf8))
        XCTAssertEqual(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        XCTAssertNil(WebhookSignature.sign(secret: "not-a-secret", id: "x", timestamp: 1, body: []))
        XCTAssertNil(WebhookSignature.sign(secret: "whsec_!!!", id: "x", timestamp: 1, body: []))
    }

    func testNewSecretsAreWhsecAnd32RandomBytes() {
        let a = WebhookSignature.newSecret(), b = WebhookSignature.newSecret()
        XCTAssertTrue(a.hasPrefix("whsec_"))
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(WebhookSignature.unbase64(String(a.dropFirst(6)))?.count, 32)
    }

    /// Every spelling of an internal address is refused; public ones pass.
    func testAddressClassification() throws {
        let refused = [
            "127.0.0.1", "127.1", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1", "017700000001", "127.255.255.254",
            "0.0.0.0", "0", "10.0.0.1", "012.0.0.1", "167772161", "172.16.0.1", "172.31.255.255", "192.168.1.1", "0xc0.0xa8.1.1",
            "169.254.169.254", "2852039166", "0xa9fea9fe", "100.64.0.1", "100.127.255.255", "224.0.0.1", "239.255.255.250",
            "255.255.255.255", "240.0.0.1", "198.18.0.1", "192.0.0.170",
            "[::1]", "[::]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]",
            "[::127.0.0.1]", "[::10.1.2.3]", "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]", "[fe80::1]", "[febf::1]", "[fec0::1]",
            "[fc00::1]", "[fd12:3456::1]", "[ff02::1]", "[ff05::2]",
        ]
        for host in refused {
            let bytes = try XCTUnwrap(OutboundAddress.literal(host), host)
            XCTAssertNotNil(OutboundAddress.refusal(bytes), "\(host) (\(OutboundAddress.text(bytes))) should be refused")
        }
        let allowed = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
                       "192.169.0.1", "169.253.0.1", "223.255.255.255", "[2606:4700:4700::1111]", "[2001:4860:4860::8888]",
                       "[::ffff:8.8.8.8]", "[2002:808:808::]"]
        for host in allowed {
            let bytes = try XCTUnwrap(OutboundAddress.literal(host), host)
            XCTAssertNil(OutboundAddress.refusal(bytes), "\(host) should be allowed")
        }
        for name in ["example.com", "localhost", "metadata.google.internal", "1.2.3.4.nip.io"] {
            XCTAssertNil(OutboundAddress.literal(name), "\(name) is a name, resolved and checked")
        }
    }

    func testURLParsing() throws {
        let url = try OutboundURL("http://Example.com:8080/hooks/x?a=1")
        XCTAssertEqual(url.host, "example.com")
        XCTAssertEqual(url.port, 8080)
        XCTAssertEqual(url.target, "/hooks/x?a=1")
        XCTAssertEqual(url.hostHeader, "example.com:8080")
        XCTAssertEqual(try OutboundURL("http://example.com").target, "/")
        XCTAssertEqual(try OutboundURL("http://example.com?x").target, "/?x")
        XCTAssertEqual(try OutboundURL("https://example.com/").port, 443)
        XCTAssertEqual(try OutboundURL("http://[::1]:9/").resolvableHost, "::1")
        for bad in ["ftp://example.com/", "example.com", "http://", "http://user:pw@example.com/", "http://user@example.com/",
                    "http://example.com:0/", "http://example.com:65536/", "http://example.com:x/", "http://exa mple.com/",
                    "http://example.com/#frag", "http://[::1/", "http://[zz]/", "http://ex\u{e4}mple.com/", "javascript:alert(1)",
                    "http://" + String(repeating: "a", count: 2100) + ".com/"] {
            XCTAssertThrowsError(try OutboundURL(bad), bad)
        }
    }
}
