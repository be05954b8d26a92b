-- The process registry and the IDENTIFY slots (the SQLite twin explains each column). Times
-- are Unix seconds (double precision); `connected` stays 0/1 as on SQLite.
CREATE TABLE bot_processes (
    process_id   text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    version      text NOT NULL,
    shard_count  integer,
    started_at   double precision NOT NULL,
    heartbeat_at double precision NOT NULL
);

CREATE INDEX bot_processes_heartbeat ON bot_processes (heartbeat_at);

CREATE TABLE bot_process_shards (
    process_id text NOT NULL REFERENCES bot_processes (process_id) ON DELETE CASCADE,
    shard_id   integer NOT NULL,
    connected  integer NOT NULL DEFAULT 0 CHECK (connected IN (0, 1)),
    latency    double precision,
    PRIMARY KEY (process_id, shard_id)
);

CREATE TABLE gateway_identify_slots (
    bucket           integer PRIMARY KEY,
    next_identify_at double precision NOT NULL
);
