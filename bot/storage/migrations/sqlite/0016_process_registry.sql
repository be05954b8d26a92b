-- The process registry: every running bot process has a row here, refreshed by its heartbeat
-- every few seconds. A process whose heartbeat is older than the expiry (PROCESS_EXPIRY_SECONDS)
-- counts as dead; the live ones prune its rows. Times are Unix seconds.
CREATE TABLE bot_processes (
    process_id   TEXT PRIMARY KEY,  -- random, new at every start
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT NOT NULL,
    shard_count  INTEGER,           -- NULL until the process knows it (GET /gateway/bot)
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);

CREATE INDEX bot_processes_heartbeat ON bot_processes (heartbeat_at);

-- The shards a process runs, with what its last heartbeat saw of each.
CREATE TABLE bot_process_shards (
    process_id TEXT NOT NULL REFERENCES bot_processes (process_id) ON DELETE CASCADE,
    shard_id   INTEGER NOT NULL,
    connected  INTEGER NOT NULL DEFAULT 0 CHECK (connected IN (0, 1)),
    latency    REAL,  -- seconds between heartbeat and ACK on the gateway; NULL when unknown
    PRIMARY KEY (process_id, shard_id)
);

-- When each IDENTIFY bucket (shard_id % max_concurrency) may next identify: Discord allows one
-- IDENTIFY per bucket every 5 seconds for the whole bot, whichever process sends it.
CREATE TABLE gateway_identify_slots (
    bucket           INTEGER PRIMARY KEY,
    next_identify_at REAL NOT NULL
);
