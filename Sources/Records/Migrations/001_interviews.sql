-- 001: the interview record (issue 21). A finished interview, kept after its Redis keys go.
-- Times are Unix milliseconds (bigint), as everywhere else in the API and in Redis: no time zone
-- to get wrong, and the record reads back exactly what the room held.
-- Every child table cascades from `interviews`, so erasing an interview is one DELETE.

CREATE TABLE interviews (
    id                          text PRIMARY KEY,        -- the session id
    name                        text,
    language                    text NOT NULL,
    created_at                  bigint NOT NULL,
    ended_at                    bigint NOT NULL,
    archived_at                 bigint NOT NULL,
    ending                      text NOT NULL CHECK (ending IN ('completed', 'deleted', 'expired')),
    host_token_hash             text NOT NULL,
    code                        text NOT NULL,
    code_revision               integer NOT NULL CHECK (code_revision >= 0),
    code_initial                text NOT NULL,
    notes                       text NOT NULL,
    notes_revision              integer NOT NULL CHECK (notes_revision >= 0),
    notes_initial               text NOT NULL,
    -- The checkpoint each document's op log starts after (NULL: the log starts at revision 0).
    -- The summary is a jsonb array of [key, value] pairs: jsonb reorders object keys, and the
    -- timeline shows them in the order the live checkpoint hash did.
    code_checkpoint_revision    integer,
    code_checkpoint_text        text,
    code_checkpoint_timestamp   bigint,
    code_checkpoint_folded_ops  integer,
    code_checkpoint_summary     jsonb,
    notes_checkpoint_revision   integer,
    notes_checkpoint_text       text,
    notes_checkpoint_timestamp  bigint,
    notes_checkpoint_folded_ops integer,
    notes_checkpoint_summary    jsonb,
    question                    jsonb,                   -- whole, hidden tests included
    question_title              text                     -- for the admin's search
);

-- The admin's list: newest first by ended_at, then id (the keyset the cursor carries).
CREATE INDEX interviews_ended_at_id ON interviews (ended_at DESC, id DESC);
-- Retention (eraseEnded) walks the oldest first; the same btree serves it backwards.
--
-- The search (`q`: a case-insensitive substring of the session name, a participant name or the
-- question title) is `lower(x) LIKE '%q%'`, which no btree serves. pg_trgm's GIN index would, but
-- it is an extension a stock PostgreSQL may not have installed (and CREATE EXTENSION needs a
-- superuser), so the search is a filtered scan in ended_at order: it reads at most what one page
-- needs when matches are common, the whole table when they are rare. Fine for an archive of
-- interviews (thousands to low millions of rows); add pg_trgm in a later migration if it is not.

CREATE TABLE interview_participants (
    interview_id text NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    id           text NOT NULL,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('interviewer', 'candidate')),
    color        text NOT NULL,
    joined_at    bigint NOT NULL,
    left_at      bigint,
    token_hash   text,
    seq          integer NOT NULL,                       -- the order the record listed them in
    PRIMARY KEY (interview_id, id)
);

CREATE TABLE interview_ops (
    interview_id text NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    document     text NOT NULL CHECK (document IN ('code', 'notes')),
    revision     integer NOT NULL CHECK (revision > 0),
    user_id      text,
    timestamp    bigint NOT NULL,
    ops          jsonb NOT NULL,
    PRIMARY KEY (interview_id, document, revision)
);

CREATE TABLE interview_history (
    interview_id text NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    seq          integer NOT NULL,
    entry        jsonb NOT NULL,
    PRIMARY KEY (interview_id, seq)
);

CREATE TABLE interview_runs (
    interview_id text NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    id           text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('execution', 'test-run')),
    created_at   bigint NOT NULL,
    fields       jsonb NOT NULL,                         -- the job hash, field -> value (strings)
    seq          integer NOT NULL,                       -- the order the record listed them in
    PRIMARY KEY (interview_id, id)
);

CREATE TABLE interview_extras (
    interview_id text NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    kind         text NOT NULL,                          -- "integrity", "scorecards", ...
    seq          integer NOT NULL,
    entry        jsonb NOT NULL,
    PRIMARY KEY (interview_id, kind, seq)
);

-- The participant-name search joins participants by interview; their PK leads with interview_id.
