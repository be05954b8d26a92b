-- What a summary row is: 'summary', a text someone wrote about a paper, or 'abstract', a feed
-- entry that is the paper itself (the SQLite twin explains how entries are classified).
ALTER TABLE summaries ADD COLUMN kind text NOT NULL DEFAULT 'summary'
    CHECK (kind IN ('summary', 'abstract'));

UPDATE summaries SET kind = 'abstract'
WHERE origin = 'feed'
  AND (external_id LIKE 'oai:arXiv.org:%'
       OR (external_id NOT LIKE '%shortscience.org/%'
           AND paper_id IS NOT NULL
           AND trim(body) <> ''
           AND trim(body) = (SELECT trim(p.abstract) FROM papers AS p
                             WHERE p.id = summaries.paper_id)));

-- A summary whose kind changes is indexed again: the baseline's trigger, watching `kind` too.
DROP TRIGGER search_log_summary_update ON summaries;

CREATE TRIGGER search_log_summary_update
    AFTER UPDATE OF paper_id, origin, guild_id, author_name, title, tldr, body, score,
                    created_at, deleted_at, kind ON summaries
    FOR EACH ROW WHEN (OLD.paper_id IS DISTINCT FROM NEW.paper_id
                       OR OLD.origin IS DISTINCT FROM NEW.origin
                       OR OLD.guild_id IS DISTINCT FROM NEW.guild_id
                       OR OLD.author_name IS DISTINCT FROM NEW.author_name
                       OR OLD.title IS DISTINCT FROM NEW.title
                       OR OLD.tldr IS DISTINCT FROM NEW.tldr
                       OR OLD.body IS DISTINCT FROM NEW.body
                       OR OLD.score IS DISTINCT FROM NEW.score
                       OR OLD.created_at IS DISTINCT FROM NEW.created_at
                       OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at
                       OR OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION search_log_summary();
