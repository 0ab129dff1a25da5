import Postgres

/// Every statement the record store runs, by name (each is prepared once per connection). Bulk
/// rows travel as ONE jsonb array parameter expanded by `jsonb_to_recordset`: a record with
/// 10,000 ops is one statement and one round trip, not 10,000. Every INSERT is `ON CONFLICT DO
/// NOTHING` on the table's primary key, so writing the same record twice stores it once.
/// Times are Unix milliseconds (bigint).
enum RecordStatements {
    // MARK: Migrations

    /// Held for the migrating transaction only: two processes starting at once take turns, and a
    /// crash releases it with the connection. The constant is "CI21" (issue 21) in ASCII.
    static let migrationLock = PostgresStatement("records_migration_lock", "SELECT pg_advisory_xact_lock(1128870449)")

    static let createMigrations = PostgresStatement("records_create_migrations", """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """)

    static let appliedMigrations = PostgresStatement("records_applied_migrations",
                                                     "SELECT version FROM schema_migrations ORDER BY version")

    /// Claims a version: a process that lost the race (it read the table before the winner
    /// committed) fails here with 23505 once the lock is its own, and applies nothing.
    static let claimMigration = PostgresStatement("records_claim_migration",
                                                  "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2::text)")

    // MARK: Save

    static let insertInterview = PostgresStatement("records_insert_interview", """
        INSERT INTO interviews (id, name, language, created_at, ended_at, archived_at, ending, host_token_hash,
                                code, code_revision, code_initial, notes, notes_revision, notes_initial,
                                code_checkpoint_revision, code_checkpoint_text, code_checkpoint_timestamp,
                                code_checkpoint_folded_ops, code_checkpoint_summary,
                                notes_checkpoint_revision, notes_checkpoint_text, notes_checkpoint_timestamp,
                                notes_checkpoint_folded_ops, notes_checkpoint_summary,
                                question, question_title)
        VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::bigint,
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint, $6::text, $7::text,
                $8::text, $9::integer, $10::text, $11::text, $12::integer, $13::text,
                $14::integer, $15::text, $16::bigint, $17::integer, $18::jsonb,
                $19::integer, $20::text, $21::bigint, $22::integer, $23::jsonb,
                $24::jsonb, $25::text)
        ON CONFLICT (id) DO NOTHING
        """)

    static let insertParticipants = PostgresStatement("records_insert_participants", """
        INSERT INTO interview_participants (interview_id, id, name, role, color, joined_at, left_at, token_hash, seq)
        SELECT $1::text, p.id, p.name, p.role, p.color, p.joined_at, p.left_at, p.token_hash, p.seq
        FROM jsonb_to_recordset($2::jsonb) AS p(id text, name text, role text, color text, joined_at bigint,
                                                left_at bigint, token_hash text, seq integer)
        ON CONFLICT DO NOTHING
        """)

    static let insertOps = PostgresStatement("records_insert_ops", """
        INSERT INTO interview_ops (interview_id, document, revision, user_id, timestamp, ops)
        SELECT $1::text, o.document, o.revision, o.user_id, o.timestamp, o.ops
        FROM jsonb_to_recordset($2::jsonb) AS o(document text, revision integer, user_id text, timestamp bigint, ops jsonb)
        ON CONFLICT DO NOTHING
        """)

    static let insertHistory = PostgresStatement("records_insert_history", """
        INSERT INTO interview_history (interview_id, seq, entry)
        SELECT $1::text, (e.ordinality - 1)::integer, e.value
        FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, ordinality)
        ON CONFLICT DO NOTHING
        """)

    static let insertRuns = PostgresStatement("records_insert_runs", """
        INSERT INTO interview_runs (interview_id, id, kind, created_at, fields, seq)
        SELECT $1::text, r.id, r.kind, r.created_at, r.fields, r.seq
        FROM jsonb_to_recordset($2::jsonb) AS r(id text, kind text, created_at bigint, fields jsonb, seq integer)
        ON CONFLICT DO NOTHING
        """)

    static let insertExtras = PostgresStatement("records_insert_extras", """
        INSERT INTO interview_extras (interview_id, kind, seq, entry)
        SELECT $1::text, x.kind, x.seq, x.entry
        FROM jsonb_to_recordset($2::jsonb) AS x(kind text, seq integer, entry jsonb)
        ON CONFLICT DO NOTHING
        """)

    // MARK: Read

    static let interview = PostgresStatement("records_interview", """
        SELECT id, name, language, created_at, ended_at, archived_at, ending, host_token_hash,
               code, code_revision, code_initial, notes, notes_revision, notes_initial,
               code_checkpoint_revision, code_checkpoint_text, code_checkpoint_timestamp,
               code_checkpoint_folded_ops, code_checkpoint_summary::text AS code_checkpoint_summary,
               notes_checkpoint_revision, notes_checkpoint_text, notes_checkpoint_timestamp,
               notes_checkpoint_folded_ops, notes_checkpoint_summary::text AS notes_checkpoint_summary,
               question::text AS question
        FROM interviews WHERE id = $1::text
        """)

    static let participants = PostgresStatement("records_participants", """
        SELECT id, name, role, color, joined_at, left_at, token_hash
        FROM interview_participants WHERE interview_id = $1::text ORDER BY seq, id
        """)

    static let ops = PostgresStatement("records_ops", """
        SELECT document, revision, user_id, timestamp, ops::text AS ops
        FROM interview_ops WHERE interview_id = $1::text ORDER BY document, revision
        """)

    static let history = PostgresStatement("records_history", """
        SELECT entry::text AS entry FROM interview_history WHERE interview_id = $1::text ORDER BY seq
        """)

    static let runs = PostgresStatement("records_runs", """
        SELECT id, kind, created_at, fields::text AS fields
        FROM interview_runs WHERE interview_id = $1::text ORDER BY seq, id
        """)

    static let extras = PostgresStatement("records_extras", """
        SELECT kind, entry::text AS entry FROM interview_extras WHERE interview_id = $1::text ORDER BY kind, seq
        """)

    /// What the erasure route checks a host token against, without reading the record.
    static let hostTokenHash = PostgresStatement("records_host_token_hash",
                                                 "SELECT host_token_hash FROM interviews WHERE id = $1::text")

    // MARK: Erase

    /// Everything of it: the children go with the row (ON DELETE CASCADE).
    static let erase = PostgresStatement("records_erase", "DELETE FROM interviews WHERE id = $1::text")

    /// Retention: the oldest first, a bounded batch per statement (a long DELETE holds locks).
    static let eraseEnded = PostgresStatement("records_erase_ended", """
        DELETE FROM interviews WHERE id IN (
            SELECT id FROM interviews WHERE ended_at < $1::bigint ORDER BY ended_at, id LIMIT $2::integer)
        """)

    // MARK: List

    /// The admin's list, newest first (ended_at, then id, both descending), after the cursor's
    /// (ended_at, id) when there is one. `$3` is a LIKE pattern already escaped ('\' escapes) and
    /// lower-cased here, matched against the lower-cased name, question title and participant
    /// names: a filtered scan in index order (see the migration on why no trigram index).
    static let list = PostgresStatement("records_list", """
        SELECT i.id, i.name, i.language, i.created_at, i.ended_at, i.ending, i.question_title,
               (SELECT coalesce(jsonb_agg(jsonb_build_array(p.id, p.name, p.role) ORDER BY p.seq, p.id), '[]'::jsonb)
                FROM interview_participants p WHERE p.interview_id = i.id)::text AS participants
        FROM interviews i
        WHERE ($1::bigint IS NULL OR i.ended_at >= $1::bigint)
          AND ($2::bigint IS NULL OR i.ended_at < $2::bigint)
          AND ($3::text IS NULL
               OR lower(coalesce(i.name, '')) LIKE lower($3::text) ESCAPE '\\'
               OR lower(coalesce(i.question_title, '')) LIKE lower($3::text) ESCAPE '\\'
               OR EXISTS (SELECT 1 FROM interview_participants p
                          WHERE p.interview_id = i.id AND lower(p.name) LIKE lower($3::text) ESCAPE '\\'))
          AND ($4::bigint IS NULL OR (i.ended_at, i.id) < ($4::bigint, $5::text))
        ORDER BY i.ended_at DESC, i.id DESC
        LIMIT $6::integer
        """)
}
