-- A chain (migration 0017) whose last routed settlement left nothing due is closed: a new first
-- settlement of the same person, period, payer and benefit may start it again, from another
-- sender too (the base-date insurer changed, and the one before took its settlements back).
ALTER TABLE settlement_chains ADD COLUMN closed boolean NOT NULL DEFAULT false;
