-- Several access logs, each with one tree per month: the exchange's (queries and answers the
-- relay routes) and the notices' (change notices the linker pushes). A tree is named by its
-- log and month; the entries follow it. Salts and covert keys are derived from the relay's
-- keyring (the same input gives the same leaves), and stored beside the leaves as before.
ALTER TABLE access_entries DROP CONSTRAINT access_entries_month_fkey;
ALTER TABLE access_entries DROP CONSTRAINT access_entries_pkey;
ALTER TABLE access_trees DROP CONSTRAINT access_trees_pkey;
ALTER TABLE access_trees ADD COLUMN log text NOT NULL DEFAULT 'exchange'
    CHECK (log ~ '^[a-z]{1,16}$');
ALTER TABLE access_entries ADD COLUMN log text NOT NULL DEFAULT 'exchange';
ALTER TABLE access_trees ALTER COLUMN log DROP DEFAULT;
ALTER TABLE access_entries ALTER COLUMN log DROP DEFAULT;
ALTER TABLE access_trees ADD PRIMARY KEY (log, month);
ALTER TABLE access_entries ADD PRIMARY KEY (log, month, seq);
ALTER TABLE access_entries ADD FOREIGN KEY (log, month) REFERENCES access_trees (log, month)
    ON DELETE CASCADE;
