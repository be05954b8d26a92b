-- How a subscription's announcements are delivered ('message', 'thread' or 'forum') and the
-- outbox steps that make a thread or a forum post happen exactly once per row (the SQLite
-- twin explains each column).
ALTER TABLE feed_subscriptions ADD COLUMN delivery text NOT NULL DEFAULT 'message'
    CHECK (delivery IN ('message', 'thread', 'forum'));

ALTER TABLE announcement_outbox ADD COLUMN delivery text NOT NULL DEFAULT 'message'
    CHECK (delivery IN ('message', 'thread', 'forum'));

ALTER TABLE announcement_outbox ADD COLUMN thread_id bigint;
ALTER TABLE announcement_outbox ADD COLUMN thread_attempt_at double precision;
