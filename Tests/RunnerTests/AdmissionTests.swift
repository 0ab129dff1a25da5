import Foundation
import XCTest
@testable import TestSupport

/// What is refused before it runs: languages no live runner offers, a full queue; and jobs a
/// runner cannot run reaching one that can.
final class AdmissionTests: RunnerTestCase {
    /// One runner that offers Python only and runs one job at a time.
    override class var runnerArguments: [[String]] { [["--languages", "python", "--concurrency", "1"]] }

    func testLanguageNoLiveRunnerOffersIs503() throws {
        XCTAssertEqual(try availableLanguages(), ["python"])
        let response = try submit("ruby", "puts 1")
        XCTAssertEqual(response.status, 503, "\(response)")
        XCTAssertEqual(response.header("Content-Type"), "application/problem+json")
        XCTAssertNotNil(response.header("Retry-After"))
        let detail = response.object["detail"] as? String ?? ""
        XCTAssertTrue(detail.contains("ruby") && detail.contains("available: python"), detail)
        XCTAssertEqual(response.object["type"] as? String, "urn:codeinterview:problem:unavailable")
    }

    func testFullQueueIs503WithRetryAfter() throws {
        let small = try startGateway(arguments: ["--max-queued-jobs", "1"])
        let first = try submit("python", "import time\ntime.sleep(1.5)\nprint('first')", wait: false, port: small.port)
        XCTAssertEqual(first.status, 202)
        let firstID = try XCTUnwrap(first.object["job_id"] as? String)
        _ = try waitForJob(firstID) { $0["state"] as? String == "running" }
        let second = try submit("python", "print('second')", wait: false, port: small.port)
        XCTAssertEqual(second.status, 202, "one job may wait: \(second)")
        let third = try submit("python", "print('third')", wait: false, port: small.port)
        XCTAssertEqual(third.status, 503, "\(third)")
        XCTAssertNotNil(third.header("Retry-After"))
        XCTAssertTrue((third.object["detail"] as? String ?? "").contains("queue"), third.text)
        // Nothing is lost: both admitted jobs finish.
        XCTAssertEqual((try waitForJob(firstID)["result"] as? [String: Any])?["stdout"] as? String, "first\n")
        let secondID = try XCTUnwrap(second.object["job_id"] as? String)
        XCTAssertEqual((try waitForJob(secondID)["result"] as? [String: Any])?["stdout"] as? String, "second\n")
    }

    func testJobsAreRunOnlyByRunnersThatOfferTheirLanguage() throws {
        let available = try availableLanguages()
        XCTAssertEqual(available, ["python"])
        let rubyRunner = try startRunner("\(Self.self)-ruby", arguments: ["--languages", "ruby", "--concurrency", "1"])
        guard rubyRunner.languages.contains("ruby") else { throw XCTSkip("ruby is not installed here") }
        // Whichever runner pulls a Ruby job, the Ruby runner runs it (the Python one parks it).
        let ids = try (0..<6).map { index -> String in
            let response = try submit("ruby", "puts \(index) * 2", wait: false)
            XCTAssertEqual(response.status, 202, "\(response)")
            return try XCTUnwrap(response.object["job_id"] as? String)
        }
        for (index, id) in ids.enumerated() {
            let job = try waitForJob(id, timeout: 30)
            let result = try XCTUnwrap(job["result"] as? [String: Any])
            assertStatus(result, "ok")
            XCTAssertEqual(result["stdout"] as? String, "\(index * 2)\n")
            XCTAssertEqual(result["runner_id"] as? String, rubyRunner.nodeID)
        }
    }
}
