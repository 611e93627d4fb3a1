-- The chain of settlements of the 合算 the exchange router routed for each person, period, payer
-- and benefit (relay_exchange.settling.chain_refusal): at most one, started by a first settlement
-- (corrects null) and extended only by its sender's delta naming `last_id`, the last settlement
-- routed in it (at `relay_time`), so a payer reading committed is never told to pay a second
-- chain. Written in the transaction that routes the settlement (exchange_settlements, migration
-- 0016). No amount: the relay never reads one (it travels sealed for the payer). Settlements
-- routed before this migration have no chain here: 0016 kept neither their period, benefit nor
-- `corrects`.
CREATE TABLE settlement_chains (
    relay_id    text        NOT NULL,
    period      integer     NOT NULL,
    payer_code  text        NOT NULL,
    benefit     text        NOT NULL,
    sender_code text        NOT NULL,
    last_id     uuid        NOT NULL,
    relay_time  timestamptz NOT NULL,
    PRIMARY KEY (relay_id, period, payer_code, benefit)
);
