-- The relay database: links only. Numbers are stored sealed (AES-GCM, key id inside) and found
-- by a keyed blind index; identity items only as per-person HMACs (birth date also sealed).

CREATE TABLE persons (
    relay_id       text PRIMARY KEY,
    version        integer NOT NULL,
    registered_on  date    NOT NULL,
    reason         text    NOT NULL,
    created_by     uuid    NOT NULL,
    died_on        date,
    died_by        uuid,
    resident_kind  text    NOT NULL,
    resident_index bytea   NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);

-- Card issuance names an existing person; the card's key proves who the holder is.
CREATE TABLE cards (
    fingerprint bytea PRIMARY KEY,
    relay_id    text  NOT NULL REFERENCES persons (relay_id),
    public_key  bytea NOT NULL,
    issued_on   date  NOT NULL,
    revoked_on  date
);

-- Dated identity changes; a period runs from one change's effective_from to the next one's.
CREATE TABLE identity_changes (
    change_id         uuid PRIMARY KEY,
    relay_id          text NOT NULL,
    event_id          uuid NOT NULL,
    effective_from    date NOT NULL,
    occurred_at       timestamptz NOT NULL,
    reason            text NOT NULL,
    base              boolean NOT NULL,
    kanji_name_hash   bytea,
    kana_name_hash    bytea,
    birth_date_hash   bytea,
    sex_hash          bytea,
    address_hash      bytea,
    birth_date_sealed bytea
);
CREATE INDEX identity_changes_person ON identity_changes (relay_id, effective_from);

CREATE VIEW identity_periods AS
SELECT relay_id, effective_from AS valid_from,
       lead(effective_from) OVER (PARTITION BY relay_id ORDER BY effective_from) AS valid_to,
       kanji_name_hash, kana_name_hash, birth_date_hash, sex_hash, address_hash
FROM identity_changes;

CREATE TABLE reference_index (
    kind          text  NOT NULL,
    blind_index   bytea NOT NULL,
    relay_id      text  NOT NULL,
    created_by    uuid  NOT NULL,
    number_sealed bytea,
    PRIMARY KEY (kind, blind_index)
);
CREATE INDEX reference_index_person ON reference_index (relay_id);

CREATE TABLE lookalike_candidates (
    candidate_hash bytea NOT NULL,
    relay_id       text  NOT NULL,
    created_by     uuid  NOT NULL,
    PRIMARY KEY (candidate_hash, relay_id)
);

CREATE TABLE links (
    link_id          uuid PRIMARY KEY,
    relay_id         text NOT NULL,
    scheme           text NOT NULL,
    insurer_number   text NOT NULL,
    capacity         text NOT NULL,
    category         text,
    number_kind      text  NOT NULL,
    number_index     bytea NOT NULL,
    valid_from       date NOT NULL,
    valid_to         date,
    opened_valid_to  date,
    clamp            text,
    opened_by        uuid NOT NULL,
    insured_relay_id text,
    retracted_by     uuid,
    closures         jsonb NOT NULL DEFAULT '[]',
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_person_period ON links (relay_id, scheme, valid_from);

CREATE TABLE anomalies (
    anomaly_id  uuid PRIMARY KEY,
    code        text   NOT NULL,
    relay_ids   text[] NOT NULL,
    event_id    uuid   NOT NULL,
    fields      text[] NOT NULL,
    link_ids    uuid[] NOT NULL,
    resolved    boolean NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX anomalies_persons ON anomalies USING gin (relay_ids);

CREATE TABLE filing_ledger (
    event_id         uuid PRIMARY KEY,
    filer_code       text NOT NULL,
    filing_reference text NOT NULL,
    status           text NOT NULL,
    receipt_id       uuid NOT NULL,
    entry            jsonb NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (filer_code, filing_reference)
);

CREATE TABLE parked_filings (
    event_id        uuid PRIMARY KEY,
    source_topic    text NOT NULL,
    source_partition integer NOT NULL,
    occurred_at     timestamptz NOT NULL,
    parked_at       timestamptz NOT NULL,
    wait_keys       text[] NOT NULL,
    reasons         jsonb NOT NULL,
    record_sealed   bytea NOT NULL
);
CREATE INDEX parked_wait_keys ON parked_filings USING gin (wait_keys);
CREATE INDEX parked_partition ON parked_filings (source_topic, source_partition);

CREATE TABLE watermarks (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);
