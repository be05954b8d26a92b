-- A reading session may mention one role: in its card and in its reminder, nothing else.
ALTER TABLE reading_sessions ADD COLUMN mention_role_id INTEGER;

-- Where a community summary's card was posted (on publishing or editing it), so a reading
-- session's card can link to the summaries its paper already has.
CREATE TABLE summary_posts (
    summary_id INTEGER NOT NULL REFERENCES summaries (id) ON DELETE CASCADE,
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    posted_at  REAL NOT NULL,
    PRIMARY KEY (summary_id, message_id)
) WITHOUT ROWID;
