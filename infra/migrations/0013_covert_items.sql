-- A routed item of a lawful covert query keeps the relay date from which its person may see
-- it (from the policy row that allowed it), so its answer is sealed until the same date.
ALTER TABLE exchange_items ADD COLUMN disclose_from date;
