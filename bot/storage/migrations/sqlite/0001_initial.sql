-- Papers and their summaries, with a full-text index kept in step by triggers.
-- Times are Unix seconds (UTC).

CREATE TABLE papers (
    id            INTEGER PRIMARY KEY,
    -- One stable key per paper: 'arxiv:1502.03167', 'doi:10.1145/...', 'bibtex:conf/cvpr/X14',
    -- or 'url:...' / 'title:...' for papers known by nothing better.
    canonical_key TEXT NOT NULL UNIQUE,
    arxiv_id      TEXT UNIQUE,          -- without version, e.g. '1502.03167', 'hep-th/9901001'
    doi           TEXT UNIQUE,          -- lower-cased, without 'https://doi.org/'
    bibtex_key    TEXT UNIQUE,          -- ShortScience / DBLP key, e.g. 'journals/corr/IoffeS15'
    title         TEXT NOT NULL DEFAULT '',
    authors       TEXT NOT NULL DEFAULT '',  -- display form, names separated by ', '
    venue         TEXT,
    year          INTEGER,
    abstract      TEXT,
    url           TEXT,                 -- landing page (arXiv abs, publisher, ShortScience)
    pdf_url       TEXT,
    created_at    INTEGER NOT NULL DEFAULT (unixepoch()),
    updated_at    INTEGER NOT NULL DEFAULT (unixepoch())
);

CREATE INDEX papers_title_nocase ON papers (title COLLATE NOCASE);

CREATE TABLE summaries (
    id                INTEGER PRIMARY KEY,
    paper_id          INTEGER REFERENCES papers (id),
    origin            TEXT NOT NULL CHECK (origin IN ('feed', 'community')),
    guild_id          INTEGER,          -- the guild a community summary belongs to
    author_name       TEXT NOT NULL DEFAULT 'Anonymous',
    author_discord_id INTEGER,
    title             TEXT NOT NULL DEFAULT '',
    tldr              TEXT NOT NULL DEFAULT '',
    body              TEXT NOT NULL DEFAULT '',  -- Markdown with LaTeX
    url               TEXT,
    external_id       TEXT UNIQUE,      -- feed guid (or other stable identity) for deduplication
    score             INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL DEFAULT (unixepoch()),
    edited_at         INTEGER NOT NULL DEFAULT (unixepoch()),
    deleted_at        INTEGER,          -- soft delete; NULL while visible
    CHECK ((origin = 'community') = (guild_id IS NOT NULL))
);

CREATE INDEX summaries_paper ON summaries (paper_id);
CREATE INDEX summaries_created ON summaries (created_at);
CREATE INDEX summaries_guild ON summaries (guild_id) WHERE guild_id IS NOT NULL;

-- What the full-text index sees: a summary with its paper's title and authors.
CREATE VIEW summary_documents AS
SELECT s.id AS id,
       COALESCE(NULLIF(p.title, ''), s.title) AS paper_title,
       COALESCE(p.authors, '') AS paper_authors,
       s.author_name AS author_name,
       s.tldr AS tldr,
       s.body AS body
FROM summaries AS s
LEFT JOIN papers AS p ON p.id = s.paper_id;

-- External-content FTS5 over the view: the text is stored once, in the tables above.
CREATE VIRTUAL TABLE summary_fts USING fts5 (
    paper_title, paper_authors, author_name, tldr, body,
    content = 'summary_documents', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER summaries_fts_insert AFTER INSERT ON summaries BEGIN
    INSERT INTO summary_fts (rowid, paper_title, paper_authors, author_name, tldr, body)
    SELECT id, paper_title, paper_authors, author_name, tldr, body
    FROM summary_documents WHERE id = new.id;
END;

CREATE TRIGGER summaries_fts_delete AFTER DELETE ON summaries BEGIN
    INSERT INTO summary_fts (summary_fts, rowid, paper_title, paper_authors, author_name, tldr, body)
    SELECT 'delete', old.id,
           COALESCE(NULLIF(p.title, ''), old.title), COALESCE(p.authors, ''),
           old.author_name, old.tldr, old.body
    FROM (SELECT 1) LEFT JOIN papers AS p ON p.id = old.paper_id;
END;

CREATE TRIGGER summaries_fts_update
AFTER UPDATE OF paper_id, title, author_name, tldr, body ON summaries BEGIN
    INSERT INTO summary_fts (summary_fts, rowid, paper_title, paper_authors, author_name, tldr, body)
    SELECT 'delete', old.id,
           COALESCE(NULLIF(p.title, ''), old.title), COALESCE(p.authors, ''),
           old.author_name, old.tldr, old.body
    FROM (SELECT 1) LEFT JOIN papers AS p ON p.id = old.paper_id;
    INSERT INTO summary_fts (rowid, paper_title, paper_authors, author_name, tldr, body)
    SELECT id, paper_title, paper_authors, author_name, tldr, body
    FROM summary_documents WHERE id = new.id;
END;

CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, authors ON papers BEGIN
    INSERT INTO summary_fts (summary_fts, rowid, paper_title, paper_authors, author_name, tldr, body)
    SELECT 'delete', s.id, COALESCE(NULLIF(old.title, ''), s.title), old.authors,
           s.author_name, s.tldr, s.body
    FROM summaries AS s WHERE s.paper_id = new.id;
    INSERT INTO summary_fts (rowid, paper_title, paper_authors, author_name, tldr, body)
    SELECT id, paper_title, paper_authors, author_name, tldr, body
    FROM summary_documents
    WHERE id IN (SELECT id FROM summaries WHERE paper_id = new.id);
END;
