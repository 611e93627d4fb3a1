-- Settlements of the 合算 the exchange router routed (relay_exchange.router): each sender's
-- settlement id once, with the digest of the record it came in, so the same instruction again
-- is a no-op and the same id with other content is refused. No amount: the relay never reads
-- one (it travels sealed for the payer).
CREATE TABLE exchange_settlements (
    sender_code   text        NOT NULL,
    settlement_id uuid        NOT NULL,
    digest        bytea       NOT NULL,
    payer_code    text        NOT NULL,
    relay_id      text        NOT NULL,
    relay_time    timestamptz NOT NULL,
    PRIMARY KEY (sender_code, settlement_id)
);

-- The person told, in their inbox, that a benefit is due from a payer for a period (once per
-- person, period, payer and benefit), and when the lapse reminder falls due (sent once).
CREATE TABLE settlement_notices (
    relay_id   text    NOT NULL,
    period     integer NOT NULL,
    payer_code text    NOT NULL,
    benefit    text    NOT NULL,
    base_date  date    NOT NULL,
    lapses_on  date    NOT NULL,
    remind_on  date    NOT NULL,
    reminded   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (relay_id, period, payer_code, benefit)
);
CREATE INDEX settlement_notices_due ON settlement_notices (remind_on) WHERE NOT reminded;
