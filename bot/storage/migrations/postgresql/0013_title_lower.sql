-- Papers are looked up by title ignoring case with `lower(title) = lower(?)` (the SQLite twin
-- replaces its COLLATE NOCASE index with the same one).
CREATE INDEX papers_title_lower ON papers (lower(title));
