-- Platform tables shared by every processor: consumer positions kept with their effects.
CREATE TABLE consumer_offsets (
    group_id   text    NOT NULL,
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
