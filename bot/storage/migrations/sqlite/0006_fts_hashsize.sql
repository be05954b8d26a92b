-- FTS5 buffers index writes in memory and writes them out as a new index segment when the
-- buffer passes `hashsize` (default 1 MiB) or the statement ends. An import batch of 1,000
-- summaries (about 3 MB of text) made three or four small segments with the default, and
-- merging them back cost about a tenth of an import's time. 8 MiB: one segment per batch.
INSERT INTO summary_fts (summary_fts, rank) VALUES ('hashsize', 8388608);
