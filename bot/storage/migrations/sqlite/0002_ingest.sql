-- Feed summaries: the vote count the feed reports (ShortScience's votes), kept apart from
-- summaries.score. Members' votes in Discord are added to score too (summary_votes triggers),
-- so an import moves score by the change in feed votes instead of overwriting it.
ALTER TABLE summaries ADD COLUMN feed_votes INTEGER NOT NULL DEFAULT 0;
