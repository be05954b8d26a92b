-- Papers are looked up by title ignoring case with `lower(title) = lower(?)`, SQL both engines
-- share (PostgreSQL has no COLLATE NOCASE): index that expression instead of the NOCASE one.
DROP INDEX IF EXISTS papers_title_nocase;
CREATE INDEX papers_title_lower ON papers (lower(title));
