-- The notifications processor's state (notification_streams.processor): what it has folded of
-- each person, the indexes it needs to find householders, dependants and double-enrolment
-- candidates, its pending deadlines, the monthly lists it took, what it sent, and each person's
-- inbox of notices. All of it changes in the transaction that stores the consumer positions.
CREATE TABLE notification_facts (
    relay_id text  PRIMARY KEY,
    facts    jsonb NOT NULL
);

-- Household key (the token's blind index) -> the persons ever folded as its members.
CREATE TABLE notification_members (
    household_key text NOT NULL,
    relay_id      text NOT NULL,
    PRIMARY KEY (household_key, relay_id)
);

-- Insured person -> the persons ever folded as their dependants or type-3 spouses.
CREATE TABLE notification_dependants (
    insured_relay_id text NOT NULL,
    relay_id         text NOT NULL,
    PRIMARY KEY (insured_relay_id, relay_id)
);

-- Persons whose facts changed since the last clock step: judged again at the next one.
CREATE TABLE notification_dirty (
    relay_id text PRIMARY KEY
);

-- Persons holding NHI and employee-insurance cover over a common day: the monthly list reads
-- only them.
CREATE TABLE notification_overlaps (
    relay_id text PRIMARY KEY
);

CREATE TABLE notification_deadlines (
    relay_id text NOT NULL,
    rule     text NOT NULL,
    key_date date NOT NULL,
    due_on   date NOT NULL,
    payload  bytea NOT NULL DEFAULT '',
    PRIMARY KEY (relay_id, rule, key_date)
);
CREATE INDEX notification_deadlines_due ON notification_deadlines (due_on, relay_id);

-- A filing reminder sent (state 'sent') or closed by its follow-up (resolved, withdrawn);
-- `round` counts the reminders sent for one loss (a corrected one is sent again).
CREATE TABLE notification_reminders (
    relay_id text    NOT NULL,
    rule     text    NOT NULL,
    key_date date    NOT NULL,
    round    integer NOT NULL,
    state    text    NOT NULL CHECK (state IN ('sent', 'closed')),
    sent     jsonb   NOT NULL,
    PRIMARY KEY (relay_id, rule, key_date)
);

-- The double-enrolment lists, taken at 00:00 on the 1st of each month of relay time.
CREATE TABLE notification_list_dates (
    list_date date    PRIMARY KEY,
    persons   integer NOT NULL
);
CREATE TABLE notification_lists (
    relay_id  text  NOT NULL,
    list_date date  NOT NULL REFERENCES notification_list_dates (list_date),
    entry     jsonb NOT NULL,
    PRIMARY KEY (relay_id, list_date)
);

-- The double-enrolment steps taken (first notice, second notice, escalation).
CREATE TABLE notification_steps (
    relay_id  text NOT NULL,
    notice_id uuid NOT NULL,
    step      text NOT NULL,
    sent_on   date NOT NULL,
    deadline  date,
    PRIMARY KEY (relay_id, notice_id)
);

-- Every notice sent, once (the relay's own ledger: the notice id never leaves the relay).
CREATE TABLE notifications_sent (
    notice_id  uuid PRIMARY KEY,
    relay_id   text NOT NULL,
    rule       text NOT NULL,
    step       text NOT NULL,
    key_date   date NOT NULL,
    copies     integer NOT NULL,
    relay_time timestamptz NOT NULL
);

-- Facts the rules refuse to act on, and expected changes that did not come: for operations.
CREATE TABLE notification_anomalies (
    anomaly_id uuid PRIMARY KEY,
    relay_id   text NOT NULL,
    code       text NOT NULL,
    detail     text NOT NULL,
    relay_time timestamptz NOT NULL
);

-- The person's inbox: their copies of the notices about them or their household, for their
-- own page. `copy_id` is the id derived for this recipient alone.
CREATE TABLE person_inbox (
    copy_id    uuid PRIMARY KEY,
    relay_id   text NOT NULL,
    rule       text NOT NULL,
    step       text NOT NULL,
    key_date   date NOT NULL,
    deadline   date,
    refers_to  uuid,
    relay_time timestamptz NOT NULL,
    body       jsonb NOT NULL
);
CREATE INDEX person_inbox_person ON person_inbox (relay_id, relay_time);
