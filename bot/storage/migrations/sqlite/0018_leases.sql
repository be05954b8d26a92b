-- Work shared by several bot processes on one database, claimed by leases: a process writes
-- its owner id (hostname-pid-random) and when its claim ends; a process that dies loses its
-- claims at that time and the others take the work over. One process (SQLite's case) goes
-- through the same claims.

-- A feed being polled: claimed by one process until `lease_expires_at` (renewed while the
-- poll runs), released in the transaction that records the poll.
ALTER TABLE feeds ADD COLUMN lease_owner TEXT;
ALTER TABLE feeds ADD COLUMN lease_expires_at REAL;
CREATE INDEX feeds_lease_owner ON feeds (lease_owner) WHERE lease_owner IS NOT NULL;

-- Outbox rows being sent: a channel's pending rows are claimed together, so one process
-- sends a channel's messages, in order.
ALTER TABLE announcement_outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE announcement_outbox ADD COLUMN lease_expires_at REAL;

-- Who polled which feed when, and how it went (written with the poll's record, pruned
-- after a day): how the polls are spread over the processes.
CREATE TABLE feed_poll_log (
    id        INTEGER PRIMARY KEY,
    feed_id   INTEGER NOT NULL,
    polled_by TEXT NOT NULL,
    polled_at REAL NOT NULL,
    outcome   TEXT NOT NULL
);
CREATE INDEX feed_poll_log_time ON feed_poll_log (polled_at);

-- Scheduled jobs that must run once across all processes (reading reminders, enrichment,
-- pruning, the seed import): the process holding a job's lease runs it; `last_run_at` says
-- when a run last ended, so a job runs once per interval whoever runs it.
CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT,
    expires_at  REAL,
    started_at  REAL,
    last_run_at REAL
);
