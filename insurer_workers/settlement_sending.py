"""The base-date insurer's settlements sent through the relay: each ledger row not sent yet
becomes a settlement instruction to its payer, the amount sealed for the payer alone.

A seal differs each time it is made and the relay refuses one settlement id with other bytes, so
the instruction is built once and kept in the ledger row before it is first sent; a resend after
a crash sends those same bytes, and the relay routes each settlement id once. A row is marked
sent only once the broker has acknowledged it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import asyncpg

from groundfloor import faults
from groundfloor.config import StackConfig
from insurer_workers import member_store
from insurer_workers.closing import mark_sent, member_number
from insurer_workers.worker import (
    InsurerIdentity,
    payer_key,
    send_encoded,
    settlement_instruction,
)
from schemas import encode
from schemas.settlements import SettlementBenefit, SettlementInstruction
from schemas.topics import EXCHANGE_SETTLEMENT, Namespace
from trust.encryption_keys import NoEncryptionKey

BENEFITS = {"medical": SettlementBenefit.MEDICAL, "care": SettlementBenefit.CARE}
"""The benefit a payer of each side pays (高額介護合算療養費 from a medical insurer,
高額医療合算介護(予防)サービス費 from a care insurer)."""


@dataclass
class SendReport:
    """What one sending did: instructions sent, and rows left unsent with why (codes only)."""

    sent: int = 0
    left: dict[str, int] = field(default_factory=dict)


async def _unsent(conn: asyncpg.Connection, code: str, period: int) -> list[asyncpg.Record]:
    name = member_store.store_name(code)
    return await conn.fetch(
        f"""SELECT s.settlement_id, s.member_key, s.payer_side, s.payer_code, s.benefit,
            s.amount_yen, s.total_yen, s.corrects, s.instruction, k.member_number, t.base_date
            FROM {name}.settlements s
            JOIN {name}.member_keys k ON k.member_key = s.member_key
            JOIN {name}.statements t ON t.period = s.period AND t.member_key = s.member_key
            WHERE s.period = $1 AND s.sent_at IS NULL
            ORDER BY s.round, s.created_at, s.settlement_id""", period)


def _instruction(me: InsurerIdentity, cfg: StackConfig, period: int, row: asyncpg.Record,
                 base_date: date) -> SettlementInstruction:
    return settlement_instruction(
        me, payer_key(cfg, row["payer_code"]), settlement_id=row["settlement_id"],
        payer=row["payer_code"], period=period, base_date=base_date,
        benefit=BENEFITS[row["payer_side"]], member=member_number(row["member_number"]),
        amount_yen=row["amount_yen"], total_yen=row["total_yen"], corrects=row["corrects"])


async def send_pending(conn: asyncpg.Connection, me: InsurerIdentity, cfg: StackConfig,
                       namespace: Namespace, period: int) -> SendReport:
    """Send the period's settlements not sent yet, in the order they were made, each built and
    kept first if it never was; one per line (member, payer, benefit) at a time, the others
    left for the next sending (`after_previous`): instructions are keyed by their own ids, so
    two of one line sent together may reach the relay in either order, and it routes a delta
    only after the settlement it corrects (`not_chain_end`)."""
    name, report = member_store.store_name(me.code), SendReport()
    ready: list[tuple[UUID, bytes, bytes]] = []
    lines: set[tuple[object, ...]] = set()
    for row in await _unsent(conn, me.code, period):
        line = (row["member_key"], row["payer_side"], row["payer_code"], row["benefit"])
        if line in lines:  # a delta after an unsent one of its line: at the next sending
            report.left["after_previous"] = report.left.get("after_previous", 0) + 1
            continue
        lines.add(line)
        value = row["instruction"]
        if value is None:
            try:
                built = _instruction(me, cfg, period, row, row["base_date"])
            except NoEncryptionKey:
                report.left["payer_without_key"] = report.left.get("payer_without_key", 0) + 1
                continue
            value = await conn.fetchval(
                f"""UPDATE {name}.settlements SET instruction = coalesce(instruction, $2)
                    WHERE settlement_id = $1 RETURNING instruction""",
                row["settlement_id"], encode(built))
        key = f"{me.code}:{row['settlement_id']}".encode()
        ready.append((row["settlement_id"], key, bytes(value)))
    if ready:
        await send_encoded(me, namespace, EXCHANGE_SETTLEMENT, [(k, v) for _, k, v in ready])
        faults.reached("settlement.after-send")
        report.sent = await mark_sent(conn, me.code, [i for i, _, _ in ready])
    return report
