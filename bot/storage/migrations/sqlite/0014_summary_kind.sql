-- What a summary row is: 'summary', a text someone wrote about a paper, or 'abstract', a feed
-- entry that is the paper itself (an arXiv announcement, a journal's table of contents: its
-- text is the paper's abstract). Every surface reads this one fact: announcements say "New
-- paper" for an abstract, `/summary view` and search label it as the abstract, `/top` and the
-- lists of a paper's summaries leave it out, and search ranks it below real summaries.
--
-- How a feed entry is classified (bot/ingest.py, bot/feeds/parse.py): arXiv RSS and arXiv API
-- entries, and entries that name their own DOI (PRISM `prism:doi`, Dublin Core
-- `dc:identifier`) are abstracts; ShortScience's entries are summaries; an entry of any other
-- feed is an abstract when its text is its paper's known abstract. Community summaries are
-- always summaries.
ALTER TABLE summaries ADD COLUMN kind TEXT NOT NULL DEFAULT 'summary'
    CHECK (kind IN ('summary', 'abstract'));

-- Existing rows, the same way: arXiv entries are stored under 'oai:arXiv.org:<id>'; for other
-- feeds (not ShortScience's), a text that is its paper's abstract (compared here exactly, up
-- to surrounding spaces; ingest also forgives case and punctuation, and classifies an entry
-- again each time its feed lists it).
UPDATE summaries SET kind = 'abstract'
WHERE origin = 'feed'
  AND (external_id LIKE 'oai:arXiv.org:%'
       OR (external_id NOT LIKE '%shortscience.org/%'
           AND paper_id IS NOT NULL
           AND trim(body) <> ''
           AND trim(body) = (SELECT trim(p.abstract) FROM papers AS p
                             WHERE p.id = summaries.paper_id)));

-- A summary whose kind changes is indexed again (search labels and ranks by it): migration
-- 0012's trigger, with `kind` among the columns it watches. The search index schema changed
-- with this migration too, so the index is rebuilt once anyway.
DROP TRIGGER search_log_summary_update;

CREATE TRIGGER search_log_summary_update
AFTER UPDATE OF paper_id, origin, guild_id, author_name, title, tldr, body, score, created_at,
                deleted_at, kind ON summaries
WHEN old.paper_id IS NOT new.paper_id OR old.origin IS NOT new.origin
     OR old.guild_id IS NOT new.guild_id OR old.author_name IS NOT new.author_name
     OR old.title IS NOT new.title OR old.tldr IS NOT new.tldr OR old.body IS NOT new.body
     OR old.score IS NOT new.score OR old.created_at IS NOT new.created_at
     OR old.deleted_at IS NOT new.deleted_at OR old.kind IS NOT new.kind
BEGIN
    INSERT INTO search_changes (kind, item_id) VALUES ('summary', new.id);
    INSERT INTO search_changes (kind, item_id)
    SELECT 'paper', old.paper_id WHERE old.paper_id IS NOT NULL AND old.paper_id IS NOT new.paper_id;
END;
