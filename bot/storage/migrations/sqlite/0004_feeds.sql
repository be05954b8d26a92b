-- Feeds, the channels subscribed to them, the entries already seen, where a guild's community
-- summaries are announced, and the announcement outbox that makes delivery exactly-once.
-- Times are Unix seconds (UTC) as REAL, so polls can be scheduled below one second in tests.

-- One row per feed URL, shared by every channel subscribed to it: it is fetched once a cycle.
CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT NOT NULL UNIQUE,  -- updated in place on a 301/308
    title                TEXT NOT NULL DEFAULT '',
    site_url             TEXT,
    etag                 TEXT,                  -- validators of the last 200, for conditional GET
    last_modified        TEXT,
    body_hash            TEXT,                  -- SHA-256 of the last body that was parsed
    -- 0 until the first successful poll has recorded every entry as seen (announcing nothing).
    initialized          INTEGER NOT NULL DEFAULT 0,
    interval_seconds     REAL,                  -- the feed's own interval (ttl, max-age), if any
    next_poll_at         REAL NOT NULL DEFAULT 0,
    last_polled_at       REAL,
    last_success_at      REAL,
    last_error           TEXT,
    last_error_at        REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    -- Set when the bot paused the feed itself (410 Gone, too many failures); NULL while polled.
    paused_reason        TEXT,
    created_at           REAL NOT NULL
);

CREATE INDEX feeds_due ON feeds (next_poll_at) WHERE paused_reason IS NULL;

CREATE TABLE feed_subscriptions (
    id              INTEGER PRIMARY KEY,
    feed_id         INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    guild_id        INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,
    include_terms   TEXT NOT NULL DEFAULT '',  -- as typed: words and "quoted phrases"
    exclude_terms   TEXT NOT NULL DEFAULT '',
    mention_role_id INTEGER,
    paused          INTEGER NOT NULL DEFAULT 0,  -- paused by someone with /feed pause
    -- Set by the bot when Discord answered 403/404 for the channel; cleared by /feed resume.
    disabled_reason TEXT,
    created_by      INTEGER,
    created_at      REAL NOT NULL,
    UNIQUE (feed_id, channel_id)
);

CREATE INDEX feed_subscriptions_guild ON feed_subscriptions (guild_id, channel_id);

-- Entries already seen, by the hash of the identity chosen for the feed (guid, link, ...).
CREATE TABLE feed_entries (
    feed_id       INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    identity      TEXT NOT NULL,
    summary_id    INTEGER REFERENCES summaries (id) ON DELETE SET NULL,
    first_seen_at REAL NOT NULL,
    PRIMARY KEY (feed_id, identity)
) WITHOUT ROWID;

-- Where the new community summaries of a guild are announced (/announce channel).
CREATE TABLE community_announce_channels (
    guild_id        INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL,
    disabled_reason TEXT,  -- set when Discord answered 403/404 for the channel
    set_by          INTEGER,
    set_at          REAL NOT NULL
);

-- Messages to send. Rows are written in the same transaction as what they announce and
-- marked sent only after Discord accepted the message; the nonce makes a resend after a
-- crash return the earlier message instead of posting a second one.
CREATE TABLE announcement_outbox (
    id              INTEGER PRIMARY KEY,
    nonce           TEXT NOT NULL UNIQUE,  -- at most 25 characters (Discord's limit)
    kind            TEXT NOT NULL CHECK (kind IN ('summary', 'overflow', 'notice')),
    guild_id        INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,
    subscription_id INTEGER REFERENCES feed_subscriptions (id) ON DELETE CASCADE,
    feed_id         INTEGER REFERENCES feeds (id) ON DELETE CASCADE,
    summary_id      INTEGER REFERENCES summaries (id) ON DELETE CASCADE,
    mention_role_id INTEGER,
    text            TEXT,  -- the words of an 'overflow' or 'notice' message
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    message_id      INTEGER,
    created_at      REAL NOT NULL,
    sent_at         REAL,
    CHECK ((kind = 'summary') = (summary_id IS NOT NULL))
);

CREATE INDEX announcement_outbox_pending ON announcement_outbox (next_attempt_at, id)
    WHERE state = 'pending';
CREATE INDEX announcement_outbox_channel ON announcement_outbox (channel_id) WHERE state = 'pending';
