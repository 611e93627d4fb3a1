-- The relayed exchange: each request seen (its replay memory), each person routed to a provider
-- and awaiting its answer until the deadline on the relay clock, and the per-participant rate
-- counts per relay hour. No number and no answer is stored: numbers leave sealed, answers pass
-- through sealed for the asker.
CREATE TABLE exchange_requests (
    asker_code  text        NOT NULL,
    request_id  uuid        NOT NULL,
    relay_time  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    entries     integer     NOT NULL,
    forwarded   integer     NOT NULL,
    PRIMARY KEY (asker_code, request_id)
);

CREATE TABLE exchange_items (
    item_id       uuid        PRIMARY KEY,
    routed_id     uuid        NOT NULL,
    request_id    uuid        NOT NULL,
    asker_code    text        NOT NULL,
    provider_code text        NOT NULL,
    entry         text        NOT NULL,
    deadline      timestamptz NOT NULL,
    state         text        NOT NULL CHECK (state IN ('pending', 'answered', 'unavailable')),
    settled_at    timestamptz
);
CREATE INDEX exchange_items_routed ON exchange_items (routed_id);
CREATE INDEX exchange_items_pending ON exchange_items (deadline) WHERE state = 'pending';

CREATE TABLE exchange_rate (
    participant text        NOT NULL,
    hour        timestamptz NOT NULL,
    persons     integer     NOT NULL,
    PRIMARY KEY (participant, hour)
);

-- What was refused or set aside, counted per participant and reason (codes only).
CREATE TABLE exchange_counts (
    participant text    NOT NULL,
    reason      text    NOT NULL,
    count       bigint  NOT NULL,
    PRIMARY KEY (participant, reason)
);

-- Records some processors sign (the exchange's routed requests carry the relay's signature):
-- their headers, as [[name, hex bytes], ...], published with the row.
ALTER TABLE outbox ADD COLUMN headers jsonb;
