"""The member store's 合算 closing tables (`member_store.TABLES`): opaque member keys, each
period's close rounds (`scheduled_for`: the scheduled close a round made, once it finished
with every reply in; null for a close on demand), households held back, members' statements
and the settlement ledger.

The ledger is append-only: a settlement is never changed but for `sent_at`, its `instruction`
(kept once, before it is first sent) and `refused` (the reason the relay gave, cleared when the
relay forwards it after all: a close sends a refused row again while it is owed); a changed
total is a new row of the difference naming the one it corrects. The rows the relay has not
refused form one chain per member, payer and benefit: one first row, and one row only
correcting another (a refused row is outside it, so a row may stand in its place)."""

CLOSING_TABLES = (
    """CREATE TABLE IF NOT EXISTS {s}.member_keys (
        member_number text PRIMARY KEY,
        member_key uuid NOT NULL UNIQUE DEFAULT gen_random_uuid())""",
    """CREATE TABLE IF NOT EXISTS {s}.closes (
        period integer NOT NULL, round integer NOT NULL CHECK (round > 0),
        started_at timestamptz NOT NULL, relay_time timestamptz,
        finished_at timestamptz, counts jsonb NOT NULL DEFAULT '{{}}',
        scheduled_for date, PRIMARY KEY (period, round))""",
    """CREATE TABLE IF NOT EXISTS {s}.held_back (
        period integer NOT NULL, household text NOT NULL, round integer NOT NULL,
        reason text NOT NULL, PRIMARY KEY (period, household))""",
    """CREATE TABLE IF NOT EXISTS {s}.statements (
        period integer NOT NULL, member_key uuid NOT NULL, household text NOT NULL,
        base_date date NOT NULL, round integer NOT NULL, outcome text NOT NULL,
        payment_yen bigint NOT NULL, medical_total_yen bigint NOT NULL,
        care_total_yen bigint NOT NULL, shares jsonb NOT NULL, statement text NOT NULL,
        PRIMARY KEY (period, member_key))""",
    """CREATE TABLE IF NOT EXISTS {s}.settlements (
        settlement_id uuid PRIMARY KEY, period integer NOT NULL, member_key uuid NOT NULL,
        household text NOT NULL, payer_side text NOT NULL, payer_code text NOT NULL,
        benefit text NOT NULL, amount_yen bigint NOT NULL,
        total_yen bigint NOT NULL CHECK (total_yen >= 0), corrects uuid,
        round integer NOT NULL, created_at timestamptz NOT NULL, sent_at timestamptz,
        instruction bytea)""",
    "ALTER TABLE {s}.settlements ADD COLUMN IF NOT EXISTS refused text",
    "ALTER TABLE {s}.settlements DROP CONSTRAINT IF EXISTS settlements_corrects_key",
    "DROP INDEX IF EXISTS {s}.settlements_first",
    """CREATE UNIQUE INDEX IF NOT EXISTS settlements_chain_first ON {s}.settlements
        (period, member_key, payer_side, payer_code, benefit)
        WHERE corrects IS NULL AND refused IS NULL""",
    """CREATE UNIQUE INDEX IF NOT EXISTS settlements_chain_next ON {s}.settlements (corrects)
        WHERE corrects IS NOT NULL AND refused IS NULL""",
    """CREATE INDEX IF NOT EXISTS settlements_pending ON {s}.settlements (period, created_at)
        WHERE sent_at IS NULL""",
)
