-- Outbox lanes are the OUTPUT topic-partitions: a row names the partition it is produced to
-- (Kafka's default partitioner over its key), so one person's link changes or one filer's
-- outcomes share a lane and reach readers in the order they were committed. A writer locks
-- the row of each lane it adds to until it commits, so within a lane the seq order is the
-- commit order and a publisher reading past its position never skips a row. Rows written
-- before this migration keep their lane (their source partition) and no explicit partition.
ALTER TABLE outbox ADD COLUMN partition integer CHECK (partition >= 0);
CREATE TABLE outbox_lane (
    lane        text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO outbox_lane (lane) SELECT DISTINCT lane FROM outbox;
