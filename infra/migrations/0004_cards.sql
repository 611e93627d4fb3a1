-- Cards record which filing issued and which revoked them, so a retraction undoes exactly that.
ALTER TABLE cards ADD COLUMN issued_by uuid NOT NULL;
ALTER TABLE cards ADD COLUMN revoked_by uuid;
CREATE INDEX cards_person ON cards (relay_id);
