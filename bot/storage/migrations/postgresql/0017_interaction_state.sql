-- What buttons, menus and forms need, and the submission rate limit's record, shared by
-- every bot process (the SQLite twin explains each column). Discord ids are bigint, times
-- double precision, as in the baseline.
CREATE TABLE interaction_states (
    id         text PRIMARY KEY,
    kind       text NOT NULL,
    owner_id   bigint NOT NULL,
    guild_id   bigint,
    payload    text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    busy_until double precision,
    outcome    text
);

CREATE INDEX interaction_states_expiry ON interaction_states (expires_at);

CREATE TABLE submission_events (
    token     text PRIMARY KEY,
    member_id bigint NOT NULL,
    at        double precision NOT NULL
);

CREATE INDEX submission_events_member ON submission_events (member_id, at);
CREATE INDEX submission_events_at ON submission_events (at);
