import Interview
import Stores

/// A session id taken from a path ("/sessions/{id}/..."): 22 URL-safe characters. The one place
/// a malformed one is refused: the router answers `refusal` before any session endpoint runs.
struct SessionID: CustomStringConvertible {
    let rawValue: String

    /// The id, or nil when `raw` (a decoded path segment) cannot be one.
    init?(_ raw: String) {
        guard Identifiers.isSessionID(raw) else { return nil }
        rawValue = raw
    }

    var description: String { rawValue }

    /// What a malformed id gets: the same 404 as an unknown session.
    static func refusal(_ raw: String) -> Problem {
        Problem(404, "no session with id '\(raw)'")
    }
}
