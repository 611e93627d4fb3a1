-- Signed tree heads of the access logs and their witnesses. The witnesses of a log are the
-- providing insurers of its entries, each with its own key the relay never holds. A head is
-- the relay's signed note over one month's tree at one size and relay time; it goes with its
-- month's tree when that is deleted whole. Each witness's answer to a head is kept: sent (not
-- answered yet), cosigned (with the note carrying its cosignature) or refused (with why).
CREATE TABLE access_witnesses (
    log     text NOT NULL,
    witness text NOT NULL,
    PRIMARY KEY (log, witness)
);

CREATE TABLE access_heads (
    log        text   NOT NULL,
    month      text   NOT NULL,
    size       bigint NOT NULL CHECK (size >= 0),
    root       bytea  NOT NULL CHECK (length(root) = 32),
    relay_time text   NOT NULL,
    note       text   NOT NULL,
    PRIMARY KEY (log, month, relay_time),
    FOREIGN KEY (log, month) REFERENCES access_trees (log, month) ON DELETE CASCADE
);

CREATE TABLE access_head_witnessing (
    log        text NOT NULL,
    month      text NOT NULL,
    relay_time text NOT NULL,
    witness    text NOT NULL,
    state      text NOT NULL CHECK (state IN ('sent', 'cosigned', 'refused')),
    reason     text,
    note       text,
    PRIMARY KEY (log, month, relay_time, witness),
    FOREIGN KEY (log, month, relay_time) REFERENCES access_heads (log, month, relay_time)
        ON DELETE CASCADE
);
