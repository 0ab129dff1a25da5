/// Why a domain operation did not happen, in words an API user can act on.
/// The gateway turns `status` and `detail` into a problem response.
public struct InterviewError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, gone, full, forbidden, unauthorized, conflict, invalid, tooLarge, stale, unavailable, internalError }
    public let kind: Kind
    public let detail: String
    /// The request field the error is about, for validation errors.
    public let field: String?
    /// A specific code for clients to act on (the WebSocket `error` code, the problem's `code`),
    /// beyond the kind's: `editor_locked`, `runs_held` (room controls).
    public var code: String?

    public init(_ kind: Kind, _ detail: String, field: String? = nil) {
        self.kind = kind
        self.detail = detail
        self.field = field
    }

    public var description: String { detail }

    public static func invalid(_ field: String, _ detail: String) -> InterviewError {
        InterviewError(.invalid, detail, field: field)
    }
}
