-- A person's notice that a 合算 benefit is due (settlement_notices, migration 0016) withdrawn:
-- the sender's delta brought the payer's total to 0 (the instruction's `nothing_due`, the
-- amount itself still sealed for the payer), so the person is told nothing is due after all and
-- no lapse reminder goes; a later settlement of the same person, period, payer and benefit
-- makes it due again (told again, with the lapse date; reminded before the lapse unless the
-- reminder went before the withdrawal).
ALTER TABLE settlement_notices ADD COLUMN withdrawn boolean NOT NULL DEFAULT false;
DROP INDEX settlement_notices_due;
CREATE INDEX settlement_notices_due ON settlement_notices (remind_on)
    WHERE NOT reminded AND NOT withdrawn;
