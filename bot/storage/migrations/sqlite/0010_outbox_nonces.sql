-- Outbox nonces derived from the row, and when a row was first sent to Discord.
--
-- A row's nonce is "so" + this database's salt (10 hex digits, made once here) + the row id
-- in base 36: at most 25 characters, the same on every resend of the row, and different
-- across databases. Row ids are never reused (AUTOINCREMENT), so neither are nonces or the
-- markers the sender puts in each message's buttons. Rows written before this migration
-- keep the random nonce they may already have been sent with.

-- The salt lives in bot_state (migration 0008).
INSERT INTO bot_state (key, value, updated_at)
VALUES ('outbox_nonce_salt', lower(hex(randomblob(5))), unixepoch());

CREATE TABLE announcement_outbox_v2 (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    nonce            TEXT UNIQUE,  -- NULL: derived from the id (rows written before: random)
    kind             TEXT NOT NULL CHECK (kind IN ('summary', 'overflow', 'notice')),
    guild_id         INTEGER NOT NULL,
    channel_id       INTEGER NOT NULL,
    subscription_id  INTEGER REFERENCES feed_subscriptions (id) ON DELETE CASCADE,
    feed_id          INTEGER REFERENCES feeds (id) ON DELETE CASCADE,
    summary_id       INTEGER REFERENCES summaries (id) ON DELETE CASCADE,
    mention_role_id  INTEGER,
    -- An 'overflow' or 'notice' message's words; a 'summary' card's headline, if any.
    text             TEXT,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dropped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL DEFAULT 0,
    last_error       TEXT,
    message_id       INTEGER,
    created_at       REAL NOT NULL,
    sent_at          REAL,
    -- Set just before the first send: from then on Discord may have the message.
    first_attempt_at REAL,
    CHECK ((kind = 'summary') = (summary_id IS NOT NULL))
);

INSERT INTO announcement_outbox_v2 (
    id, nonce, kind, guild_id, channel_id, subscription_id, feed_id, summary_id,
    mention_role_id, text, state, attempts, next_attempt_at, last_error, message_id,
    created_at, sent_at, first_attempt_at
)
SELECT
    id, nonce, kind, guild_id, channel_id, subscription_id, feed_id, summary_id,
    mention_role_id, text, state, attempts, next_attempt_at, last_error, message_id,
    created_at, sent_at,
    -- A pending row tried before may have reached Discord: treat it as tried at creation.
    CASE WHEN attempts > 0 THEN created_at END
FROM announcement_outbox;

DROP TABLE announcement_outbox;

ALTER TABLE announcement_outbox_v2 RENAME TO announcement_outbox;

CREATE INDEX announcement_outbox_pending ON announcement_outbox (next_attempt_at, id)
    WHERE state = 'pending';
CREATE INDEX announcement_outbox_channel ON announcement_outbox (channel_id) WHERE state = 'pending';
