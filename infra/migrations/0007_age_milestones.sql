-- Age milestones not announced yet, one row per person and milestone. The relay clock loads
-- only what is due (due_on index). A due date reveals a birth date: like identity_changes, this
-- table is the relay's own and its rows never leave it but as relay-internal messages.
CREATE TABLE age_milestones (
    relay_id text    NOT NULL,
    name     text    NOT NULL,
    age      integer NOT NULL,
    due_on   date    NOT NULL,
    PRIMARY KEY (relay_id, name)
);
CREATE INDEX age_milestones_due ON age_milestones (due_on);
