-- Facts about the database itself, one row each. 'seed' is the first-start import of
-- SEED_FEEDS: 'pending' once an empty database was chosen to be seeded (a restart before it
-- finished tries again), 'done' when it finished, 'skipped' when the database already had
-- summaries. A database is seeded at most once.
CREATE TABLE bot_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
