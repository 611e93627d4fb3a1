-- The relay clock replaces per-partition event time: a consumer group's last applied tick
-- (its epoch and relay time) is stored in the same transaction as its positions and effects.
CREATE TABLE relay_clock (
    group_id    text PRIMARY KEY,
    epoch       bigint NOT NULL CHECK (epoch >= 0),
    relay_time  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
DROP TABLE watermarks;
DROP INDEX parked_partition;
CREATE INDEX parked_since ON parked_filings (parked_at);
