import Interview
import JSON
import Redis

/// A session's scorecards (GET/PUT /sessions/{id}/scorecards/mine, GET /sessions/{id}/scorecards):
/// one per interviewer, in the hash `SessionKeys.scorecards`, written by Lua/scorecard_put.lua
/// only. What a reader may see is ScorecardVisibility's rule (Interview/Scorecard.swift).
public final class Scorecards {
    public let sessions: Sessions
    /// The most scorecards one session keeps (interviewers are bounded by the participants' cap).
    public var maxScorecards = 64

    static let put = RedisScripts.session("scorecard_put", PackageResources.scorecard_put_lua)

    public init(sessions: Sessions) {
        self.sessions = sessions
        sessions.redis.register(Self.put)
    }

    public static let purpose = "scorecards are for the session's interviewers"

    /// What a reader gets: the rubric, the stored scorecards, and who the reader is (an author
    /// id; nil for the admin).
    public struct Read: Sendable {
        public var rubric: [RubricCriterion]
        public var cards: [JSON]
        public var viewer: String?

        public init(rubric: [RubricCriterion], cards: [JSON], viewer: String?) {
            self.rubric = rubric
            self.cards = cards
            self.viewer = viewer
        }
    }

    /// Reads as an interviewer (the token is checked in the same round trip).
    public func read(_ id: String, token: String?, _ completion: @escaping (Result<Read, InterviewError>) -> Void) {
        let keys = SessionKeys(id)
        let tokenHash = sessions.hash(token)
        let reads: [RedisRequest] = [.command(["HVALS", keys.scorecards]), .command(["GET", keys.question]),
                                     .command(["HGET", keys.tokens, tokenHash])]
        InterviewerRead.run(sessions.redis, session: id, token: token, purpose: Self.purpose, fields: [], reads: reads) { result in
            completion(result.map { read in
                let viewer = tokenHash == read.fields["host_token_hash"] ? "host" : (read.replies[2].text ?? "")
                return Self.decode(cards: read.replies[0], question: read.replies[1], viewer: viewer)
            })
        }
    }

    /// Reads as the admin (the caller checked the admin token): every scorecard, no author.
    public func readAll(_ id: String, _ completion: @escaping (Result<Read, InterviewError>) -> Void) {
        let keys = SessionKeys(id)
        let reads: [[String]] = [["HMGET", keys.session, "id", "status", "expires_at"], ["HVALS", keys.scorecards],
                                 ["GET", keys.question], ["GET", keys.gone]]
        sessions.redis.pipeline(reads) { result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let replies):
                let fields = replies[0].array ?? []
                guard fields.first?.text != nil else {
                    return completion(.failure(ScriptError.missing(gone: replies[3].text).interviewError(session: id)))
                }
                if let over = Sessions.over(status: fields[1].text, expiresAt: fields[2].text), over != .gone(.ended) {
                    return completion(.failure(over.interviewError(session: id)))
                }
                completion(.success(Self.decode(cards: replies[1], question: replies[2], viewer: nil)))
            }
        }
    }

    /// The rubric only (to check a PUT against it; the session's question, or the standard one).
    public func rubric(_ id: String, _ completion: @escaping (Result<[RubricCriterion], InterviewError>) -> Void) {
        sessions.redis.send(["GET", SessionKeys(id).question]) { result in
            completion(result.mapError { translate($0, session: id) }.map { value in
                Rubric.effective(question: value.text.flatMap { try? JSON.parse($0) })
            })
        }
    }

    /// Writes the presenting interviewer's scorecard; answers it as stored.
    public func write(_ id: String, _ change: ScorecardChange, token: String?, _ completion: @escaping (Result<JSON, InterviewError>) -> Void) {
        let arguments = [sessions.hash(token), change.contentsJSON.text, change.submit ? "1" : "0", String(maxScorecards),
                         String(sessions.settings.historyLimit)]
        sessions.run(Self.put, id, arguments) { result in
            completion(result.flatMap { value in
                guard let text = value.text, let json = try? JSON.parse(text) else { return .failure(malformed("scorecard_put")) }
                return .success(Self.normalized(json))
            })
        }
    }

    static func decode(cards: RedisValue, question: RedisValue, viewer: String?) -> Read {
        let list = (cards.array ?? []).compactMap { $0.text.flatMap { try? JSON.parse($0) } }.map(normalized)
        return Read(rubric: Rubric.effective(question: question.text.flatMap { try? JSON.parse($0) }), cards: list, viewer: viewer)
    }

    /// A stored scorecard as answered: ratings always an object (Lua's cjson writes an empty
    /// table as one, but an empty array would be as good to it).
    public static func normalized(_ card: JSON) -> JSON {
        var out = card
        if card["ratings"]?.objectValue == nil { out.set("ratings", .object([])) }
        if card["text"] == nil { out.set("text", .string("")) }
        if card["recommendation"] == nil { out.set("recommendation", .null) }
        return out
    }
}
