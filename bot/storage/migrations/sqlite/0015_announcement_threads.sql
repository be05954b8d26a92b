-- How a subscription's announcements are delivered (`/feed add ... thread:true`, or a forum
-- channel as the target), and the outbox steps that make a thread or a forum post happen
-- exactly once per row:
--   'message' a message in the channel (as before);
--   'thread'  a message in the channel, then a discussion thread started from it, named
--             after the paper;
--   'forum'   a post in a forum channel (a thread titled with the paper, the announcement as
--             its first message).
ALTER TABLE feed_subscriptions ADD COLUMN delivery TEXT NOT NULL DEFAULT 'message'
    CHECK (delivery IN ('message', 'thread', 'forum'));

-- Copied from the subscription when a row is written, like its mention.
ALTER TABLE announcement_outbox ADD COLUMN delivery TEXT NOT NULL DEFAULT 'message'
    CHECK (delivery IN ('message', 'thread', 'forum'));

-- The thread started from the row's message, or the forum post, once it exists. A 'thread'
-- row whose message was sent keeps its `message_id` and stays pending until its thread is
-- made; `thread_attempt_at` is set just before the thread is first asked for (from then on
-- Discord may have it: a retry looks at the message's `thread` before asking again). A forum
-- post is asked for once `first_attempt_at` is set; a retry looks for the post carrying the
-- row's marker before asking again.
ALTER TABLE announcement_outbox ADD COLUMN thread_id INTEGER;
ALTER TABLE announcement_outbox ADD COLUMN thread_attempt_at REAL;
