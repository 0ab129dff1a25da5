import Interview
import JSON
import Redis

/// The room controls of sessions in Redis (issue 22, part 2): fields of the session hash
/// (`editor_locked`, `runs_held`, `question_hidden`), changed by Lua/control.lua only, enforced by
/// the scripts that commit (commit.lua, update.lua, save_code.lua) and start runs
/// (execution_session_context.lua), so two gateways can never race past a lock. Ending is the
/// session's status `completed`, through `Sessions.update` (update.lua): one way to end.
///
/// The fields live and expire with the session hash, the archiver reads them with it (HGETALL),
/// every change is a `controls_changed` history event (the timeline, the record), and changes are
/// refused once the session is over, so nothing is written between the archiver's read and its
/// release.
public final class RoomControlsStore {
    public let sessions: Sessions

    static let control = RedisScripts.session("control", PackageResources.control_lua)

    /// control.lua's ARGV, in the order its header lists them.
    static func controlArguments(settings: SessionSettings, _ changes: ControlChanges, presentedTokenHash: String) -> [String] {
        func flag(_ value: Bool?) -> String { value.map { $0 ? "1" : "0" } ?? "" }
        return [presentedTokenHash, String(settings.historyLimit), flag(changes.editorLocked), flag(changes.runsHeld),
                flag(changes.questionHidden)]
    }

    public init(sessions: Sessions) {
        self.sessions = sessions
    }

    /// What a change answers: the whole state after it, the names changed (empty when everything
    /// was already so; nothing is published then), and when the session last changed.
    public struct Outcome: Sendable {
        public var controls: RoomControls
        public var changed: [String]
        public var updatedAt: Int64
    }

    /// Changes the controls of session `id` as the holder of `presentedTokenHash` (the host
    /// token's or an interviewer's participant token's hash; '' for none: UNAUTHORIZED).
    public func change(_ id: String, _ changes: ControlChanges, presentedTokenHash: String,
                       _ completion: @escaping (Result<Outcome, InterviewError>) -> Void) {
        let arguments = Self.controlArguments(settings: sessions.settings, changes, presentedTokenHash: presentedTokenHash)
        sessions.run(Self.control, id, arguments) { result in
            completion(result.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text), let updated = json["updated_at"]?.doubleValue else {
                    return .failure(malformed("control"))
                }
                let changed = (json["changed"]?.arrayValue ?? []).compactMap(\.stringValue)
                return .success(Outcome(controls: RoomControls(json: json), changed: changed, updatedAt: Int64(updated)))
            })
        }
    }

    /// Changes the controls with a token as presented (REST).
    public func change(_ id: String, _ changes: ControlChanges, token: String?,
                       _ completion: @escaping (Result<Outcome, InterviewError>) -> Void) {
        change(id, changes, presentedTokenHash: sessions.hash(token), completion)
    }

    /// Ends the interview (the session's status `completed`, update.lua: the same path as PATCH
    /// status) as the holder of `presentedTokenHash`; the archive is scheduled at once.
    public func end(_ id: String, presentedTokenHash: String, _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        sessions.update(id, SessionChanges(status: .completed), presentedTokenHash: presentedTokenHash, author: nil, connection: "",
                        completion)
    }

    /// Ends the interview with a token as presented (REST).
    public func end(_ id: String, token: String?, _ completion: @escaping (Result<Session, InterviewError>) -> Void) {
        end(id, presentedTokenHash: sessions.hash(token), completion)
    }
}
