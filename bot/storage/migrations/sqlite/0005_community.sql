-- Community summaries: one per (paper, author, guild), votes, arXiv look-ups of papers that
-- could not be resolved at once, and reading sessions. Times are Unix seconds (UTC); REAL so
-- tests can drive them with an injected clock.

-- ShortScience's model: one summary per paper per author (here: per guild too); submitting
-- again edits it. Soft-deleted rows keep their place, so a resubmission can revive them.
CREATE UNIQUE INDEX summaries_community_one_per_author
    ON summaries (paper_id, author_discord_id, guild_id) WHERE origin = 'community';

CREATE INDEX summaries_community_author
    ON summaries (guild_id, author_discord_id) WHERE origin = 'community';

-- What only community summaries have: who soft-deleted one (the author or a moderator).
CREATE TABLE community_summary_state (
    summary_id INTEGER PRIMARY KEY REFERENCES summaries (id) ON DELETE CASCADE,
    deleted_by INTEGER,  -- Discord id; NULL while visible
    edited_by  INTEGER   -- Discord id of the last editor when not the author (a moderator)
);

-- One vote per member per summary. A withdrawn vote is a deleted row (0 is never stored).
CREATE TABLE summary_votes (
    summary_id INTEGER NOT NULL REFERENCES summaries (id) ON DELETE CASCADE,
    voter_id   INTEGER NOT NULL,
    value      INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voted_at   REAL NOT NULL,
    PRIMARY KEY (summary_id, voter_id)
) WITHOUT ROWID;

CREATE INDEX summary_votes_time ON summary_votes (voted_at);

-- summaries.score holds the total, so /top and search ranking see votes without a join.
CREATE TRIGGER summary_votes_score_insert AFTER INSERT ON summary_votes BEGIN
    UPDATE summaries SET score = score + new.value WHERE id = new.summary_id;
END;

CREATE TRIGGER summary_votes_score_update AFTER UPDATE OF value ON summary_votes BEGIN
    UPDATE summaries SET score = score - old.value + new.value WHERE id = new.summary_id;
END;

CREATE TRIGGER summary_votes_score_delete AFTER DELETE ON summary_votes BEGIN
    UPDATE summaries SET score = score - old.value WHERE id = old.summary_id;
END;

-- Papers known by an arXiv id, and whether their metadata came from the arXiv API. A paper
-- whose look-up failed (arXiv error entry, timeout, outage) is 'pending' and retried later.
CREATE TABLE arxiv_lookups (
    paper_id         INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
    arxiv_id         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'resolved', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL DEFAULT 0,
    last_error       TEXT,
    categories       TEXT NOT NULL DEFAULT '',  -- space-separated, primary category first
    resolved_at      REAL
);

CREATE INDEX arxiv_lookups_due ON arxiv_lookups (next_attempt_at) WHERE status = 'pending';

-- A reading session: a thread about one paper, with an optional due date.
CREATE TABLE reading_sessions (
    id                  INTEGER PRIMARY KEY,
    guild_id            INTEGER NOT NULL,
    paper_id            INTEGER NOT NULL REFERENCES papers (id),
    channel_id          INTEGER NOT NULL,  -- where the thread was opened
    thread_id           INTEGER NOT NULL UNIQUE,
    card_message_id     INTEGER,
    started_by          INTEGER NOT NULL,
    started_at          REAL NOT NULL,
    due_at              REAL,
    reminder_sent_at    REAL,
    reminder_message_id INTEGER,
    closed_at           REAL,
    closed_by           INTEGER,
    digest_message_id   INTEGER
);

-- One open session per paper per guild, so a new summary knows which session it belongs to.
CREATE UNIQUE INDEX reading_sessions_open_paper
    ON reading_sessions (guild_id, paper_id) WHERE closed_at IS NULL;

CREATE INDEX reading_sessions_reminder_due
    ON reading_sessions (due_at) WHERE closed_at IS NULL AND reminder_sent_at IS NULL;

-- The summaries written (or rewritten) for a paper while its session was open.
CREATE TABLE reading_submissions (
    session_id   INTEGER NOT NULL REFERENCES reading_sessions (id) ON DELETE CASCADE,
    summary_id   INTEGER NOT NULL REFERENCES summaries (id) ON DELETE CASCADE,
    submitted_at REAL NOT NULL,
    PRIMARY KEY (session_id, summary_id)
) WITHOUT ROWID;
