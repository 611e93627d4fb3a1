"""What every faulted run of the linker and the outbox publisher must end with, whatever the
fault: the table equal to the pure fold over the relay's order, and every output published
once (counted by id, read read_committed) and exactly the fold's."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from uuid import UUID

from consumers.reading import read_committed
from infra.principals import TESTS
from infra.topics_admin import addressed_codes
from relay_clock.ticks import is_tick_record
from relay_linker.domain import effects as fx
from relay_linker.domain import history
from relay_linker.messages import link_changed_v2_id, recipient
from relay_linker.readback import load_all
from schemas import DeadLetter, Filing, FilingOutcome, LinkChanged, decode_relay
from schemas.internal import AgeMilestoneReached, LinkChangedV2, PersonChanged
from schemas.notices import ChangeNotice, notice_id_for
from schemas.relay import SealedOutcome
from schemas.topics import (
    AGE_MILESTONE,
    FILING_OUTCOME,
    INGESTION_TOPICS,
    LINK_CHANGE,
    LINK_CHANGE_V2,
    OUTCOME_TOPICS,
    PERSON_CHANGE,
    changes_topic,
)
from tests.integration.relay_env import RelayEnv
from trust.encryption_keys import NoEncryptionKey, PublicKeyDirectory
from trust.pki import list_participants


async def read_outputs(relay: RelayEnv, topics: list[str]) -> list[tuple[str, bytes]]:
    """(topic, value) of every record of `topics` a read_committed reader sees, the relay
    clock's ticks the linker forwards left out."""
    return [(r.topic, r.value) for r in await read_committed(relay.cfg.kafka(TESTS), topics)
            if not is_tick_record(r.headers)]


async def expected(relay: RelayEnv) -> tuple[tuple, set[UUID], dict[str, list[UUID]]]:
    """The fold's history, the outbox ids of every output it produces and each person's link
    changes in the order the fold emits them, over the relay's order read back from the topics."""
    state, decisions = await relay.fold()
    ids: set[UUID] = set()
    changes: dict[str, list[UUID]] = defaultdict(list)
    for decision in decisions:
        ids |= {e.outbox_id for e in decision.effects if isinstance(e, fx.OUTPUT_EFFECTS)
                and not isinstance(e, fx.ChangeNoticeDue)}  # published under ids of their own
        for e in decision.effects:
            if isinstance(e, fx.LinkChangeEmitted):
                changes[e.relay_id].append(e.outbox_id)
    return history(state, include_retracted=True), ids, dict(changes)


def changes_topics(relay: RelayEnv) -> list[str]:
    everyone = [(p.role, p.code) for p in list_participants(relay.cfg)]
    return [changes_topic(code).name for code in addressed_codes(everyone)]


async def notices_due(relay: RelayEnv) -> set[UUID]:
    """The ids of the change notices the fold makes due to recipients that hold a key."""
    keys = PublicKeyDirectory(relay.cfg)
    due: set[UUID] = set()
    for decision in (await relay.fold())[1]:
        for e in decision.effects:
            if isinstance(e, fx.ChangeNoticeDue):
                try:
                    keys.lookup(recipient(e.recipient_code))
                except NoEncryptionKey:
                    continue
                assert e.outbox_id is not None
                due.add(notice_id_for(e.outbox_id, e.recipient_code))
    return due


def each_persons_changes(messages: list[LinkChanged]) -> dict[str, list[UUID]]:
    """Each person's link changes in the order a reader of their partition reads them,
    checking on the way that the person's version never goes backwards."""
    changes: dict[str, list[UUID]] = defaultdict(list)
    versions: dict[str, int] = {}
    for m in messages:
        assert m.person_version >= versions.get(m.relay_id, 1), "a person's version went back"
        versions[m.relay_id] = m.person_version
        changes[m.relay_id].append(m.outbox_id)
    return dict(changes)


async def assert_converged(relay: RelayEnv, filings: Sequence[Filing], landed: int) -> None:
    """The relay's table and outputs are those of a run without faults: the table equals the
    pure fold's, and each output topic holds, for read_committed readers, every output the
    fold produces once and nothing else (change notices, sealed outcomes and dead letters too;
    `landed` malformed records were pushed besides `filings`)."""
    conn = await relay.connect()
    try:
        table = history(await load_all(conn, relay.keyring()), include_retracted=True)
    finally:
        await conn.close()
    expected_history, expected_ids, expected_changes = await expected(relay)
    assert table == expected_history

    models = {relay.topic(t.name): m for t, m in (
        (LINK_CHANGE, LinkChanged), (FILING_OUTCOME, FilingOutcome),
        (LINK_CHANGE_V2, LinkChangedV2), (AGE_MILESTONE, AgeMilestoneReached),
        (PERSON_CHANGE, PersonChanged))}
    outputs = await read_outputs(relay, list(models))
    published = [decode_relay(v, models[t]) for t, v in outputs]
    ids = [m.outbox_id for m in published]
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicated == [], f"{len(duplicated)} outputs published twice"
    messages = [m for m in published if type(m) in (LinkChanged, FilingOutcome)]  # v1 only
    filed = {f.event_id for f in filings}
    about_filings = {m.outbox_id for m in published if not isinstance(m, LinkChangedV2)
                     and (not isinstance(m, FilingOutcome) or m.event_id in filed)}
    assert about_filings == expected_ids
    assert any(isinstance(m, AgeMilestoneReached) for m in published), "no milestone reached"
    # every link change also once on the relay-internal v2 topic, under its derived id
    assert {m.outbox_id for m in published if isinstance(m, LinkChangedV2)} == {
        link_changed_v2_id(m.outbox_id) for m in messages if type(m) is LinkChanged}
    # a person's link changes all travel in one partition: read in that partition's order they
    # are the fold's 1st to n-th change of the person, none missing, none repeated
    assert each_persons_changes([m for m in messages if type(m) is LinkChanged]) == (
        expected_changes)
    # each outcome is sealed to its filer once as well, however often the processors died
    sealed = [decode_relay(v, SealedOutcome) for _, v in await read_outputs(
        relay, [relay.topic(t) for t in OUTCOME_TOPICS.values()])]
    clear = [m for m in published if isinstance(m, FilingOutcome)]
    assert len({m.outbox_id for m in sealed}) == len(sealed) == len(clear)
    broken = [m for m in messages if isinstance(m, FilingOutcome) and m.event_id not in filed]
    assert broken and all(m.status.value == "refused" for m in broken), "malformed filings"

    # each change notice due to an insurer holding a key is published once, on its topic
    notices = [decode_relay(v, ChangeNotice) for _, v in await read_outputs(
        relay, [relay.topic(t) for t in changes_topics(relay)])]
    assert notices and len({n.notice_id for n in notices}) == len(notices)
    assert {n.notice_id for n in notices} == await notices_due(relay)

    letters = await read_outputs(relay, [relay.topic(t.dlq) for t in INGESTION_TOPICS
                                         if t.dlq])
    assert len(letters) == landed
    assert all(decode_relay(v, DeadLetter).original.ciphertext for _, v in letters)


async def drained_and_converged(relay: RelayEnv, filings: Sequence[Filing], landed: int) -> None:
    """The linker and the publisher run once more until idle, each exiting cleanly, and then
    the relay converged (`assert_converged`)."""
    assert relay.run("relay-linker") == 0 and relay.run("outbox-publisher") == 0
    await assert_converged(relay, filings, landed)
