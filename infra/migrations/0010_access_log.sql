-- The access log: one Merkle tree per month of relay time whose leaves are the accesses to a
-- person's data through the relay (access_log/entries.py gives their bytes). A leaf names the
-- person only by a salted commitment; the relay keeps the salt per person, and the relay id
-- beside the leaf (never in it) to find a person's entries. A month's tree is deleted whole.
CREATE TABLE access_person_salts (
    relay_id text  PRIMARY KEY,
    salt     bytea NOT NULL CHECK (length(salt) = 32)
);

CREATE TABLE access_trees (
    month text   PRIMARY KEY CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    size  bigint NOT NULL DEFAULT 0
);

CREATE TABLE access_entries (
    month         text   NOT NULL REFERENCES access_trees (month) ON DELETE CASCADE,
    seq           bigint NOT NULL,
    entry_id      text   NOT NULL UNIQUE,
    relay_id      text   NOT NULL,
    leaf          bytea  NOT NULL,
    leaf_hash     bytea  NOT NULL CHECK (length(leaf_hash) = 32),
    covert_key    bytea,
    disclose_from date,
    PRIMARY KEY (month, seq)
);
CREATE INDEX access_entries_person ON access_entries (relay_id);

-- What each routed item is about (the person, and the query's scheme, category, purpose and
-- policy row), so its answer is logged against them.
ALTER TABLE exchange_items ADD COLUMN relay_id text, ADD COLUMN scheme text,
    ADD COLUMN category text, ADD COLUMN purpose text, ADD COLUMN policy_row text;
