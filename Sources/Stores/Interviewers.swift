import Interview
import JSON
import Redis

/// What only a session's interviewers may read (playback, the notes) is read through here: the
/// token is checked in the same round trip as the reads it guards. An interviewer presents the host
/// token, or the participant token of a participant whose role is interviewer; anyone else (no
/// token: 401; a candidate's or another session's token: 403) is refused. Such reads outlive the
/// end of a session, not its expiry or deletion. (Writes check the same in their script:
/// `require_interviewer` in prelude.lua.) A read that candidates may make once the session has
/// ended (playback: the candidate's view of the replay) passes `candidatesAfterEnd`; then a
/// candidate's token of an ended session is let through with `interviewer` false.
struct InterviewerRead {
    /// The session hash's fields asked for (those present).
    var fields: [String: String]
    /// The session's participants as stored (with their token hashes: not for answers as they are).
    var participants: [JSON]
    /// The replies of the reads asked for, in their order.
    var replies: [RedisValue]
    /// False for a candidate's token (only with `candidatesAfterEnd`, on an ended session).
    var interviewer = true

    /// `purpose` opens the refusals ("session playback is for the session's interviewers").
    static func run(_ redis: RedisConnection, session id: String, token: String?, purpose: String, fields: [String],
                    reads: [RedisRequest] = [], candidatesAfterEnd: Bool = false, _ completion: @escaping (Result<InterviewerRead, InterviewError>) -> Void) {
        guard let token, !token.isEmpty else {
            return completion(.failure(InterviewError(.unauthorized, "\(purpose): send the host token or an interviewer's "
                                                      + "participant token (Authorization: Bearer ...)")))
        }
        let keys = SessionKeys(id)
        let tokenHash = Identifiers.tokenHash(token)
        let asked = ["id", "host_token_hash", "status", "expires_at"] + fields
        let checks: [RedisRequest] = [.command(["HMGET", keys.session] + asked), .command(["HGET", keys.tokens, tokenHash]),
                                      .command(["HVALS", keys.participants]), .command(["GET", keys.gone])]
        redis.pipeline(checks + reads) { result in
            let replies: [RedisValue]
            switch result {
            case .failure(let error): return completion(.failure(translate(error, session: id)))
            case .success(let values): replies = values
            }
            var values: [String: String] = [:]
            for (name, value) in zip(asked, replies[0].array ?? []) { if let text = value.text { values[name] = text } }
            guard values["id"] != nil else {
                return completion(.failure(ScriptError.missing(gone: replies[3].text).interviewError(session: id)))
            }
            // An ended session stays readable; a deleted or expired one whose keys wait for the
            // archiver answers 410 as if they were gone.
            if let over = Sessions.over(status: values["status"], expiresAt: values["expires_at"]), over != .gone(.ended) {
                return completion(.failure(over.interviewError(session: id)))
            }
            let participants = (replies[2].array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }
            var interviewer = true
            if tokenHash != values["host_token_hash"] {
                guard let participantID = replies[1].text else {
                    return completion(.failure(InterviewError(.forbidden, "this token does not belong to session \(id)")))
                }
                let role = participants.first { $0["id"]?.stringValue == participantID }?["role"]?.stringValue
                if role != Role.interviewer.rawValue {
                    guard candidatesAfterEnd, values["status"] == SessionStatus.completed.rawValue else {
                        let until = candidatesAfterEnd ? " (a candidate may read it once the interview has ended)" : ""
                        return completion(.failure(InterviewError(.forbidden, "\(purpose); this token is a candidate's\(until)")))
                    }
                    interviewer = false
                }
            }
            completion(.success(InterviewerRead(fields: values, participants: participants, replies: Array(replies.dropFirst(checks.count)),
                                                interviewer: interviewer)))
        }
    }
}
