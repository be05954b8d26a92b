-- Papers as complete as ShortScience's paper page: their first publication date and arXiv
-- categories, and the background look-ups that fill in papers known only by an identifier
-- (ShortScience's RSS gives a title, a year and an arXiv id or DOI, nothing more).
--
-- Every paper with an arXiv id is looked up once on the arXiv API (arxiv_lookups, 0005), every
-- paper with a DOI once on Crossref's REST API (crossref_lookups): a row is queued by trigger
-- whenever a paper gets the identifier, so no path that creates papers can miss one. The bot's
-- enrichment loop works through the due rows (bot/enrichment/service.py); failures are retried later
-- with backoff, and only ever fill fields that are still empty.

-- ISO 8601 date of first publication, as precise as known: '2015-02-11', '2015-05' or '2015'.
ALTER TABLE papers ADD COLUMN published TEXT;
-- arXiv categories, space-separated, primary first ('cs.LG stat.ML').
ALTER TABLE papers ADD COLUMN categories TEXT NOT NULL DEFAULT '';

UPDATE papers
SET categories = (SELECT l.categories FROM arxiv_lookups AS l WHERE l.paper_id = papers.id)
WHERE id IN (SELECT paper_id FROM arxiv_lookups WHERE categories != '');

-- Papers resolved before this version are asked once more, for their publication date; papers
-- with an arXiv id that were never looked up (imports) are queued, due at once.
UPDATE arxiv_lookups
SET status = 'pending', attempts = 0, next_attempt_at = 0, last_error = NULL
WHERE status = 'resolved';

INSERT INTO arxiv_lookups (paper_id, arxiv_id, status, attempts, next_attempt_at)
SELECT id, arxiv_id, 'pending', 0, 0 FROM papers WHERE arxiv_id IS NOT NULL
ON CONFLICT (paper_id) DO NOTHING;

CREATE TRIGGER papers_arxiv_lookup_insert AFTER INSERT ON papers
WHEN new.arxiv_id IS NOT NULL BEGIN
    INSERT OR IGNORE INTO arxiv_lookups (paper_id, arxiv_id, status, attempts, next_attempt_at)
    VALUES (new.id, new.arxiv_id, 'pending', 0, 0);
END;

-- A paper that learns its arXiv id (or whose id is corrected) is looked up afresh.
CREATE TRIGGER papers_arxiv_lookup_update AFTER UPDATE OF arxiv_id ON papers
WHEN new.arxiv_id IS NOT NULL AND new.arxiv_id IS NOT old.arxiv_id BEGIN
    INSERT OR REPLACE INTO arxiv_lookups (paper_id, arxiv_id, status, attempts, next_attempt_at)
    VALUES (new.id, new.arxiv_id, 'pending', 0, 0);
END;

-- Papers known by a DOI, and whether their metadata came from Crossref. Same life cycle as
-- arxiv_lookups: 'pending' until Crossref answered (retried with backoff), 'failed' once
-- given up (Crossref never knew the DOI, or kept failing).
CREATE TABLE crossref_lookups (
    paper_id        INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
    doi             TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'resolved', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    resolved_at     REAL
);

CREATE INDEX crossref_lookups_due ON crossref_lookups (next_attempt_at) WHERE status = 'pending';

INSERT INTO crossref_lookups (paper_id, doi, status, attempts, next_attempt_at)
SELECT id, doi, 'pending', 0, 0 FROM papers WHERE doi IS NOT NULL;

CREATE TRIGGER papers_crossref_lookup_insert AFTER INSERT ON papers
WHEN new.doi IS NOT NULL BEGIN
    INSERT OR IGNORE INTO crossref_lookups (paper_id, doi, status, attempts, next_attempt_at)
    VALUES (new.id, new.doi, 'pending', 0, 0);
END;

CREATE TRIGGER papers_crossref_lookup_update AFTER UPDATE OF doi ON papers
WHEN new.doi IS NOT NULL AND new.doi IS NOT old.doi BEGIN
    INSERT OR REPLACE INTO crossref_lookups (paper_id, doi, status, attempts, next_attempt_at)
    VALUES (new.id, new.doi, 'pending', 0, 0);
END;
