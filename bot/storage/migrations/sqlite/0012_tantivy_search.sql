-- Search moves to tantivy (bot/search/): SQLite stays the source of truth and the search
-- index is derived from it. This drops FTS5 (summary_fts and its triggers), the search
-- accelerator built on FTS5's internals (search_index_meta, search_index_terms), the prefix
-- index of titles (paper_title_fts) and the old change log, and starts a new change log.

DROP TRIGGER IF EXISTS summaries_fts_insert;
DROP TRIGGER IF EXISTS summaries_fts_delete;
DROP TRIGGER IF EXISTS summaries_fts_update;
DROP TRIGGER IF EXISTS papers_fts_update;
DROP TABLE IF EXISTS summary_fts;
DROP VIEW IF EXISTS summary_documents;

DROP TRIGGER IF EXISTS search_changes_summary_insert;
DROP TRIGGER IF EXISTS search_changes_summary_update;
DROP TRIGGER IF EXISTS search_changes_summary_delete;
DROP TRIGGER IF EXISTS search_changes_paper_update;
DROP TABLE IF EXISTS search_changes;
DROP TABLE IF EXISTS search_index_meta;
DROP TABLE IF EXISTS search_index_terms;

DROP TRIGGER IF EXISTS paper_title_fts_insert;
DROP TRIGGER IF EXISTS paper_title_fts_delete;
DROP TRIGGER IF EXISTS paper_title_fts_update;
DROP TABLE IF EXISTS paper_title_fts;

-- Every change that affects search, written by the triggers below in the same transaction as
-- the change. Each process's indexer applies the log to its own index in seq order and keeps
-- the last seq it applied inside that index, committed with the documents, so a crash between
-- the SQLite commit and the index commit is caught up at the next start. Triggers rather than
-- writes in each repository: no writer (an import, a vote, a migration, a hand-run UPDATE) can
-- forget them; PostgreSQL has the same triggers as plpgsql functions.
--   'summary'    item_id is a summary: index it again (or remove it), and its paper's entry
--   'paper'      item_id is a paper whose visibility changed: its entry only
--   'paper_text' item_id is a paper whose title, authors, venue, year or abstract changed:
--                its entry and every one of its summaries (they hold its title and authors)
CREATE TABLE search_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL CHECK (kind IN ('summary', 'paper', 'paper_text')),
    item_id   INTEGER NOT NULL,
    logged_at INTEGER NOT NULL DEFAULT (unixepoch())
);

CREATE INDEX search_changes_logged ON search_changes (logged_at);

-- Old rows are pruned; an index that has not applied everything up to `pruned_through` cannot
-- catch up from the log any more and is rebuilt from the tables.
CREATE TABLE search_log_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL DEFAULT 0
);

INSERT INTO search_log_state (id, pruned_through) VALUES (1, 0);

CREATE TRIGGER search_log_summary_insert AFTER INSERT ON summaries BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('summary', new.id);
END;

-- Scores are in the index (votes are a small boost), so a vote is a change too. An UPDATE
-- that leaves every searched column as it was logs nothing.
CREATE TRIGGER search_log_summary_update
AFTER UPDATE OF paper_id, origin, guild_id, author_name, title, tldr, body, score, created_at,
                deleted_at ON summaries
WHEN old.paper_id IS NOT new.paper_id OR old.origin IS NOT new.origin
     OR old.guild_id IS NOT new.guild_id OR old.author_name IS NOT new.author_name
     OR old.title IS NOT new.title OR old.tldr IS NOT new.tldr OR old.body IS NOT new.body
     OR old.score IS NOT new.score OR old.created_at IS NOT new.created_at
     OR old.deleted_at IS NOT new.deleted_at
BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('summary', new.id);
    INSERT INTO search_changes (kind, item_id)
    SELECT 'paper', old.paper_id WHERE old.paper_id IS NOT NULL AND old.paper_id IS NOT new.paper_id;
END;

CREATE TRIGGER search_log_summary_delete AFTER DELETE ON summaries BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('summary', old.id);
    INSERT INTO search_changes (kind, item_id)
    SELECT 'paper', old.paper_id WHERE old.paper_id IS NOT NULL;
END;

CREATE TRIGGER search_log_paper_update
AFTER UPDATE OF title, authors, venue, year, abstract ON papers
WHEN old.title IS NOT new.title OR old.authors IS NOT new.authors
     OR old.venue IS NOT new.venue OR old.year IS NOT new.year
     OR old.abstract IS NOT new.abstract
BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('paper_text', new.id);
END;

CREATE TRIGGER search_log_paper_delete AFTER DELETE ON papers BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('paper', old.id);
END;

-- A reading session makes its paper visible in its server (title autocomplete).
CREATE TRIGGER search_log_session_insert AFTER INSERT ON reading_sessions BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('paper', new.paper_id);
END;

CREATE TRIGGER search_log_session_delete AFTER DELETE ON reading_sessions BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('paper', old.paper_id);
END;
