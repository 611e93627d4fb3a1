"""The member store's receipt tables (`member_store.TABLES`): medical receipts and months of care
self-pay, each under the insurer's own receipt id, a correction marking the receipt it replaces.

A row stands until `superseded_by` names its correction; only standing rows are ever read, so
no amount is summed twice. Amounts are whole yen in `bigint`, checked again by the database."""

RECEIPT_TABLES = (
    """CREATE TABLE IF NOT EXISTS {s}.receipts (
        receipt_id text PRIMARY KEY, chain text NOT NULL, kind text NOT NULL,
        member_number text NOT NULL, service_month date NOT NULL, institution text NOT NULL,
        prescribed_by text, prescribed_by_dentist boolean NOT NULL,
        copay_yen bigint NOT NULL CHECK (copay_yen BETWEEN 0 AND 100000000),
        high_cost_benefit_yen bigint NOT NULL
            CHECK (high_cost_benefit_yen BETWEEN 0 AND copay_yen),
        meals_and_room_yen bigint NOT NULL CHECK (meals_and_room_yen BETWEEN 0 AND 100000000),
        content_hash bytea NOT NULL, superseded_by text,
        loaded_at timestamptz NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS receipts_member
        ON {s}.receipts (member_number, service_month)""",
    "CREATE INDEX IF NOT EXISTS receipts_chain ON {s}.receipts (chain)",
    """CREATE TABLE IF NOT EXISTS {s}.care_self_pay (
        receipt_id text PRIMARY KEY, chain text NOT NULL, member_number text NOT NULL,
        service_month date NOT NULL,
        self_pay_yen bigint NOT NULL CHECK (self_pay_yen BETWEEN 0 AND 100000000),
        preventive boolean NOT NULL, content_hash bytea NOT NULL, superseded_by text,
        loaded_at timestamptz NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS care_self_pay_chain ON {s}.care_self_pay (chain)",
    """CREATE UNIQUE INDEX IF NOT EXISTS care_self_pay_month
        ON {s}.care_self_pay (member_number, service_month) WHERE superseded_by IS NULL""",
)
