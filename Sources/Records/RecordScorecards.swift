import Interview
import JSON
import Postgres

/// Scorecards written after their session was archived (docs/scorecards.md): one author's entry
/// of the record's extras kind `scorecards` (interview_extras: one row per author), replaced or
/// added by one statement. Both are guarded: a replacement only where the entry is still the one
/// read (its `updated_at`), an addition only where the author has none yet; either answers
/// false when someone wrote meanwhile (read again), never overwriting a write it did not see.
extension InterviewRecords {
    static let replaceScorecard = PostgresStatement("records_scorecard_replace", """
        UPDATE interview_extras SET entry = $4::jsonb
        WHERE interview_id = $1::text AND kind = 'scorecards' AND entry->>'author_id' = $2::text
          AND entry->>'updated_at' = $3::text
        """)

    static let addScorecard = PostgresStatement("records_scorecard_add", """
        INSERT INTO interview_extras (interview_id, kind, seq, entry)
        SELECT $1::text, 'scorecards',
               COALESCE((SELECT max(seq) + 1 FROM interview_extras WHERE interview_id = $1::text AND kind = 'scorecards'), 0),
               $3::jsonb
        WHERE EXISTS (SELECT 1 FROM interviews WHERE id = $1::text)
          AND NOT EXISTS (SELECT 1 FROM interview_extras
                          WHERE interview_id = $1::text AND kind = 'scorecards' AND entry->>'author_id' = $2::text)
        """)

    /// Writes `entry` (a whole scorecard, with its author_id) as `author`'s. `previousUpdatedAt`:
    /// the updated_at of the entry it replaces, nil when the author had none. Answers whether it
    /// was written (false: it changed meanwhile).
    public func writeScorecard(_ id: String, author: String, entry: JSON, previousUpdatedAt: Int?,
                               _ completion: @escaping (Result<Bool, PostgresError>) -> Void) {
        let statement: PostgresStatement
        let parameters: [String?]
        if let previousUpdatedAt {
            statement = Self.replaceScorecard
            parameters = [id, author, String(previousUpdatedAt), entry.text]
        } else {
            statement = Self.addScorecard
            parameters = [id, author, entry.text]
        }
        pool.query(statement, parameters) { result in
            switch result {
            case .success(let done): completion(.success(done.affectedRows > 0))
            // Two authors adding at once took the same seq: the loser reads again.
            case .failure(let error) where error.sqlState == "23505": completion(.success(false))
            case .failure(let error): completion(.failure(error))
            }
        }
    }
}
