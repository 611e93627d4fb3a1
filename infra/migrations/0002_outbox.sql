-- Transactional outbox: rows written in the same transaction as the relay's state change and
-- published to Kafka, in order per lane (the source topic-partition), by the outbox publisher.
CREATE TABLE outbox (
    seq              bigserial PRIMARY KEY,
    id               uuid    NOT NULL UNIQUE,
    lane             text    NOT NULL,
    source_topic     text    NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint  NOT NULL,
    source_index     integer NOT NULL,
    topic            text    NOT NULL,
    key              bytea   NOT NULL,
    value            bytea   NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_lane_seq ON outbox (lane, seq);
