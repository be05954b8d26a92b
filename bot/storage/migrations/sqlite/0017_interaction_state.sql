-- What buttons, menus and forms need, kept in the database so that whichever bot process
-- receives a click or a form (another one after a restart, a failover, shards moved) can
-- answer it: nothing a click needs lives in one process's memory (bot/storage/interactions.py).
--
-- A state is found by its random id, carried in the custom_id of the components and forms
-- that use it: a `/summarize` draft (text, file body, chosen paper), a result list's query,
-- the feeds a web page links to. `expires_at` is when its controls stop working (each use
-- moves it on); the row is kept a while longer so that a late click can still hand a
-- member's text back, then pruned. `busy_until` lets one action at a time run on it across
-- processes (a lease: a process that dies mid-action frees it when it passes); `outcome` is
-- set when it is done with (published, cancelled, replaced, expired).
CREATE TABLE interaction_states (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    owner_id   INTEGER NOT NULL,
    guild_id   INTEGER,
    payload    TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    busy_until REAL,
    outcome    TEXT
);

CREATE INDEX interaction_states_expiry ON interaction_states (expires_at);

-- The submission rate limit (SUBMISSIONS_PER_WINDOW per SUBMISSION_WINDOW_SECONDS), shared
-- by every process: one row per publication in the window. The check-and-record transaction
-- takes a lock per member first (`Database.lock`: an advisory lock on PostgreSQL; SQLite's
-- writers take turns anyway), so that two processes checking the same member at once never
-- both count one below the limit.
CREATE TABLE submission_events (
    token     TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL,
    at        REAL NOT NULL
);

CREATE INDEX submission_events_member ON submission_events (member_id, at);
CREATE INDEX submission_events_at ON submission_events (at);
