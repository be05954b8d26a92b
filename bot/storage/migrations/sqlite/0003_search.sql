-- Search: a change log the search accelerator catches up from, the accelerator itself
-- (derived from summary_fts, rebuildable at any time), and a prefix index of paper titles
-- for autocomplete.

-- Every summary whose indexed text changed (inserted, edited, deleted, or its paper's
-- title or authors edited). The accelerator was built from the log up to
-- search_index_meta.built_seq; later rows are the documents it must not trust.
CREATE TABLE search_changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    summary_id INTEGER NOT NULL
);

CREATE TRIGGER search_changes_summary_insert AFTER INSERT ON summaries BEGIN
    INSERT INTO search_changes (summary_id) VALUES (new.id);
END;

CREATE TRIGGER search_changes_summary_update
AFTER UPDATE OF id, paper_id, title, author_name, tldr, body ON summaries BEGIN
    INSERT INTO search_changes (summary_id) VALUES (old.id);
    INSERT INTO search_changes (summary_id) SELECT new.id WHERE new.id <> old.id;
END;

CREATE TRIGGER search_changes_summary_delete AFTER DELETE ON summaries BEGIN
    INSERT INTO search_changes (summary_id) VALUES (old.id);
END;

CREATE TRIGGER search_changes_paper_update AFTER UPDATE OF title, authors ON papers BEGIN
    INSERT INTO search_changes (summary_id) SELECT id FROM summaries WHERE paper_id = new.id;
END;

-- The accelerator: one row describing the build, one row per frequent term with its
-- postings (document positions and weighted frequencies, compressed). See bot/search/index.py.
CREATE TABLE search_index_meta (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    build_id     INTEGER NOT NULL,
    built_seq    INTEGER NOT NULL,
    built_at     INTEGER NOT NULL,
    format       INTEGER NOT NULL,
    weights      TEXT NOT NULL,
    min_df       INTEGER NOT NULL,
    row_count    INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    documents    BLOB NOT NULL  -- ids and token counts of the documents the build saw
);

CREATE TABLE search_index_terms (
    term     TEXT PRIMARY KEY,
    df       INTEGER NOT NULL,
    postings BLOB NOT NULL
);

-- Paper titles by word prefix, for autocomplete.
CREATE VIRTUAL TABLE paper_title_fts USING fts5 (
    title,
    content = 'papers', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

INSERT INTO paper_title_fts (rowid, title) SELECT id, title FROM papers;

CREATE TRIGGER paper_title_fts_insert AFTER INSERT ON papers BEGIN
    INSERT INTO paper_title_fts (rowid, title) VALUES (new.id, new.title);
END;

CREATE TRIGGER paper_title_fts_delete AFTER DELETE ON papers BEGIN
    INSERT INTO paper_title_fts (paper_title_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;

CREATE TRIGGER paper_title_fts_update AFTER UPDATE OF id, title ON papers BEGIN
    INSERT INTO paper_title_fts (paper_title_fts, rowid, title) VALUES ('delete', old.id, old.title);
    INSERT INTO paper_title_fts (rowid, title) VALUES (new.id, new.title);
END;
