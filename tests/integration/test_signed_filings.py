"""Hostile filers against the real broker and database: forged or misplaced signatures, unknown,
expired, revoked and rotated keys, another participant's code or topic, another filer's
retraction and forged ticks are each refused with their reason, dead-lettered and counted,
answered to the signer only when its signature verified, and the next good filing is linked."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric import ec

from consumers import dlq_tools
from groundfloor.kafka_clients import read_to_end
from infra.principals import TESTS
from relay_clock.ticks import headers as tick_headers
from relay_clock.ticks import new_tick
from relay_linker.domain.commands import LinkerRecord
from schemas import DeadLetter, Filing, FilingOutcome, decode_relay, encode, event_id_for
from schemas.envelope import new_filing
from schemas.filings import FilingRetracted
from schemas.topics import FILING_OUTCOME
from tests.fixtures.examples import all_examples
from tests.integration.relay_env import RelayEnv
from tests.integration.test_identity_cases import MUNICIPALITY as IDENTITY_MUNICIPALITY
from tests.integration.test_identity_cases import Who, _acquisition, _registration
from trust.keys import RecordSigner, participant_signer
from trust.pki import Participant, add_participant, certificates, ensure_participants, revoke
from trust.pki import rotate as rotate_key
from trust.rules import Refusal
from trust.signing import SignerId, sign, signature_headers

pytestmark = pytest.mark.integration

EXAMPLES = all_examples()
EMPLOYER, MUNICIPALITY = "filing.employer.v1", "filing.municipality.v1"
ACQUISITION = EXAMPLES["EmployeeInsuranceAcquired"]
REGISTRATION = EXAMPLES["ResidentRegistered"]
DAY = timedelta(days=1)
T0 = datetime(2026, 2, 1, tzinfo=UTC)
FORGED_TICK = "forged_tick"
NO_ANSWER = {Refusal.UNSIGNED.value, Refusal.UNKNOWN_SIGNER.value,
             Refusal.BAD_SIGNATURE.value, FORGED_TICK}
"""Refusals of records whose signer is not known for sure: dead letters, answered to nobody."""


def _filing(example: Filing, filer: str, reference: str, when: datetime,
            payload: object = None) -> Filing:
    return new_filing(payload or example.payload, filer_code=filer, filing_reference=reference,
                      person_token=example.person_token, occurred_at=when)


def _signed(signer: RecordSigner, topic: str, filing: Filing) -> tuple:
    """(topic, key, value, headers) of `filing` signed by `signer` over exactly those bytes."""
    key, value = filing.kafka_key(), encode(filing)
    return topic, key, value, signer.headers(topic, key, value)


def _signer(relay: RelayEnv, role: str, code: str, serial: int | None = None) -> RecordSigner:
    participant = Participant(role, code)
    ensure_participants(relay.cfg, [participant])
    return participant_signer(relay.cfg, participant, serial)


async def _fetch(relay: RelayEnv, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await relay.connect()
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _ledger(relay: RelayEnv, filer: str) -> dict[str, str]:
    rows = await _fetch(relay, "SELECT filing_reference, status FROM filing_ledger "
                        "WHERE filer_code = $1", filer)
    return {r["filing_reference"]: r["status"] for r in rows}


async def _letters(relay: RelayEnv) -> list[DeadLetter]:
    rows = await _fetch(relay, "SELECT value FROM outbox WHERE topic LIKE '%.dlq' ORDER BY seq")
    return [decode_relay(bytes(r["value"]), DeadLetter) for r in rows]


async def _refusals(relay: RelayEnv) -> dict[tuple[str, str], list[str]]:
    """(filer, reference) → reason codes of the refused outcomes the relay answered."""
    rows = await _fetch(relay, "SELECT value FROM outbox WHERE topic = $1 ORDER BY seq",
                        relay.topic(FILING_OUTCOME))
    found: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        outcome = decode_relay(bytes(row["value"]), FilingOutcome)
        if outcome.status == "refused":
            found.setdefault((outcome.filer_code, outcome.filing_reference), []).extend(
                r.code for r in outcome.reasons)
    return found


async def _links_of(relay: RelayEnv, opened_by: object) -> list[tuple[object, object]]:
    rows = await _fetch(relay, "SELECT link_id, retracted_by FROM links WHERE opened_by = $1 "
                        "ORDER BY link_id", opened_by)
    return [(r["link_id"], r["retracted_by"]) for r in rows]


def _dead(letters: list[DeadLetter], code: str) -> Counter[str]:
    """Dead letters by reason code, for the filer `code` or for nobody (unanswered)."""
    return Counter(d.reason.code for d in letters if d.filer_code in (code, None))


async def test_forged_misplaced_and_unknown_signatures_are_refused_and_the_next_filing_linked(
    relay: RelayEnv, unique: str,
) -> None:
    employer, other, town = f"E{unique.upper()}", f"F{unique.upper()}", f"M{unique.upper()}"
    signer = _signer(relay, "employer", employer)
    _signer(relay, "employer", other)
    _signer(relay, "municipality", town)
    when = T0 - DAY
    good_before = _signed(signer, EMPLOYER, _filing(ACQUISITION, employer, "OK-1", when))

    forged_filing = _filing(ACQUISITION, employer, "FORGED", when)
    stranger = ec.generate_private_key(ec.SECP256R1())
    key, value = forged_filing.kafka_key(), encode(forged_filing)
    forged = (EMPLOYER, key, value, signature_headers(
        signer.signer, sign(stranger, EMPLOYER, key, value)))

    topic, key, value, headers = _signed(signer, EMPLOYER,
                                         _filing(ACQUISITION, employer, "SIGNED", when))
    changed = (topic, key, encode(_filing(ACQUISITION, employer, "CHANGED", when)), headers)

    unknown_filing = _filing(ACQUISITION, employer, "UNKNOWN", when)
    key, value = unknown_filing.kafka_key(), encode(unknown_filing)
    nobody = SignerId("employer", employer, signer.signer.serial ^ 0x5A5A)
    unknown = (EMPLOYER, key, value, signature_headers(nobody, sign(stranger, EMPLOYER, key,
                                                                     value)))
    unsigned = (EMPLOYER, key, value, [])

    claims_town = _signed(signer, EMPLOYER, _filing(ACQUISITION, town, "CLAIM", when))
    on_town_topic = _signed(signer, MUNICIPALITY,
                            _filing(REGISTRATION, employer, "TOWN-TOPIC", when))
    tick = encode(new_tick(relay.keyring(), 99, T0 + 300 * DAY))  # a valid MAC, wrong signer
    forged_tick = (EMPLOYER, b"relay-clock", tick,
                   tick_headers() + signer.headers(EMPLOYER, b"relay-clock", tick))
    good_after = _signed(signer, EMPLOYER, _filing(ACQUISITION, employer, "OK-2", when))

    await relay.tick(T0)
    await relay.send_records([good_before, forged, changed, unknown, unsigned, claims_town,
                              on_town_topic, forged_tick, good_after])
    await relay.tick(T0 + DAY)
    assert relay.run("relay-linker") == 0, relay.last_output

    assert set(await _ledger(relay, employer)) == {"OK-1", "OK-2"}
    assert await _ledger(relay, town) == {}
    letters = await _letters(relay)
    assert _dead(letters, employer) == Counter({
        Refusal.BAD_SIGNATURE.value: 2, Refusal.UNKNOWN_SIGNER.value: 1,
        Refusal.UNSIGNED.value: 1, Refusal.NOT_SIGNERS_FILER_CODE.value: 1,
        Refusal.ROLE_MAY_NOT_FILE.value: 1, FORGED_TICK: 1})
    assert all(d.filer_code is None for d in letters if d.reason.code in NO_ANSWER)
    assert {d.filer_code for d in letters if d.reason.code not in NO_ANSWER} == {employer}
    refusals = await _refusals(relay)
    assert refusals == {
        (employer, "CLAIM"): [Refusal.NOT_SIGNERS_FILER_CODE.value],
        (employer, "TOWN-TOPIC"): [Refusal.ROLE_MAY_NOT_FILE.value],
    }, "answered to the signer only; the forged, changed and unknown ones to nobody"


async def test_a_retraction_signed_by_another_employer_leaves_the_filing_standing(
    relay: RelayEnv, unique: str,
) -> None:
    """Employer B cannot reach employer A's filing: a retraction claiming A's code is refused
    as not B's own code; one under B's own code names B's reference space, where there is no
    such filing, so it waits for one (parked), and A's acquisition and the link it opened
    stay as they were."""
    first, second, town = f"A{unique.upper()}", f"B{unique.upper()}", IDENTITY_MUNICIPALITY
    a, b = _signer(relay, "employer", first), _signer(relay, "employer", second)
    municipality = _signer(relay, "municipality", town)
    registration, acquisition = _registration(0, Who()), _acquisition(0, Who())
    await relay.tick(T0)
    await relay.send_records([
        _signed(municipality, MUNICIPALITY,
                _filing(registration, town, "REG", registration.occurred_at)),
        _signed(a, EMPLOYER, _filing(acquisition, first, "ACQ", acquisition.occurred_at))])
    await relay.tick(T0 + DAY)
    assert relay.run("relay-linker") == 0, relay.last_output
    before = await _ledger(relay, first)
    assert before == {"ACQ": "accepted"}, "A's acquisition is linked to the registered person"
    links = await _links_of(relay, event_id_for(first, "ACQ"))
    assert links, "A's acquisition opened a link"

    withdraw = FilingRetracted(retracted_filing_reference="ACQ")
    await relay.send_records([
        _signed(b, EMPLOYER, _filing(ACQUISITION, first, "X-1", T0, withdraw)),
        _signed(b, EMPLOYER, _filing(ACQUISITION, second, "X-2", T0, withdraw)),
        _signed(a, EMPLOYER, _filing(ACQUISITION, first, "ACQ-2", T0))])
    await relay.tick(T0 + 2 * DAY)
    assert relay.run("relay-linker") == 0, relay.last_output

    after = await _ledger(relay, first)
    assert after == {**before, "ACQ-2": after["ACQ-2"]}, "A's filing is as it was"
    assert await _links_of(relay, event_id_for(first, "ACQ")) == links
    assert all(retracted_by is None for _, retracted_by in links)
    entry = await _fetch(relay, "SELECT entry->'retracted_by' AS by FROM filing_ledger "
                         "WHERE filer_code = $1 AND filing_reference = 'ACQ'", first)
    assert [r["by"] for r in entry] == ["null"], "A's ledger entry is not retracted"
    assert (await _refusals(relay)).get((second, "X-1")) == [
        Refusal.NOT_SIGNERS_FILER_CODE.value]
    assert (await _ledger(relay, second)) == {"X-2": "parked"}
    assert _dead(await _letters(relay), second) == Counter(
        {Refusal.NOT_SIGNERS_FILER_CODE.value: 1})


async def test_a_certificate_revoked_mid_stream_refuses_the_next_filing_it_signs(
    relay: RelayEnv, unique: str,
) -> None:
    """Standing is judged at each record's relay time (that of the tick before it on its
    partition), against the revocation list as the linker reads it when it admits the record.
    So: the filing before the revocation's relay time stays accepted, the next one is refused,
    and reading the topics again with today's list (the fold) gives those same answers; a
    copy of the old filing sent again after the revocation is a new record of a later relay
    time, refused, and the old answer is not changed."""
    employer, other = f"R{unique.upper()}", f"G{unique.upper()}"
    signer, bystander = _signer(relay, "employer", employer), _signer(relay, "employer", other)
    when = T0 - DAY
    first = _signed(signer, EMPLOYER, _filing(ACQUISITION, employer, "BEFORE", when))
    await relay.tick(T0)
    await relay.send_records([first])
    await relay.tick(T0 + DAY)
    assert relay.run("relay-linker") == 0, relay.last_output
    assert set(await _ledger(relay, employer)) == {"BEFORE"}

    revoke(relay.cfg, Participant("employer", employer), T0 + DAY)
    await relay.send_records([
        _signed(signer, EMPLOYER, _filing(ACQUISITION, employer, "AFTER", T0)),
        first,  # the old filing, sent again
        _signed(bystander, EMPLOYER, _filing(ACQUISITION, other, "NEXT", T0))])
    await relay.tick(T0 + 2 * DAY)
    assert relay.run("relay-linker") == 0, relay.last_output

    ledger = await _ledger(relay, employer)
    assert set(ledger) == {"BEFORE"}
    assert set(await _ledger(relay, other)) == {"NEXT"}, "the linker went on"
    assert _dead(await _letters(relay), employer) == Counter(
        {Refusal.REVOKED.value: 2})
    refusals = await _refusals(relay)
    assert refusals[(employer, "AFTER")] == [Refusal.REVOKED.value]
    assert refusals[(employer, "BEFORE")] == [Refusal.REVOKED.value], "the copy is answered"
    assert (await _ledger(relay, employer))["BEFORE"] == ledger["BEFORE"]

    replayed = [s.filing_reference for s in await relay.steps_in_relay_order()
                if isinstance(s, LinkerRecord) and s.filer_code == employer]
    assert replayed == ["BEFORE"]


async def test_a_rotated_key_is_accepted_during_the_overlap_and_refused_after_its_expiry(
    relay: RelayEnv, unique: str,
) -> None:
    employer = f"K{unique.upper()}"
    participant = Participant("employer", employer)
    add_participant(relay.cfg, participant, T0, T0 + 30 * DAY)
    old = certificates(relay.cfg, participant)[0].serial_number
    rotate_key(relay.cfg, participant, T0 + 20 * DAY, T0 + 400 * DAY)
    old_key = participant_signer(relay.cfg, participant, old)
    new_key = participant_signer(relay.cfg, participant)
    assert old_key.signer != new_key.signer

    overlap, expired = T0 + 25 * DAY, T0 + 31 * DAY
    await relay.tick(overlap)
    await relay.send_records([
        _signed(old_key, EMPLOYER, _filing(ACQUISITION, employer, "OLD-1", overlap - DAY)),
        _signed(new_key, EMPLOYER, _filing(ACQUISITION, employer, "NEW-1", overlap - DAY))])
    await relay.tick(expired)
    await relay.send_records([
        _signed(old_key, EMPLOYER, _filing(ACQUISITION, employer, "OLD-2", expired - DAY)),
        _signed(new_key, EMPLOYER, _filing(ACQUISITION, employer, "NEW-2", expired - DAY))])
    await relay.tick(expired + DAY)
    assert relay.run("relay-linker") == 0, relay.last_output

    assert set(await _ledger(relay, employer)) == {"OLD-1", "NEW-1", "NEW-2"}
    assert _dead(await _letters(relay), employer) == Counter({Refusal.EXPIRED.value: 1})
    assert (await _refusals(relay)).get((employer, "OLD-2")) == [Refusal.EXPIRED.value]


async def test_dlq_replay_resends_the_original_as_its_filer_signed_it(
    relay: RelayEnv, unique: str,
) -> None:
    """A filing refused because its filer's certificate was not yet valid at its relay time is
    replayed, once it is, with its key, value and headers as sent: the filer's signature still
    covers it and the relay admits it. A fixed record is refused: only its filer signs new
    bytes."""
    employer = f"N{unique.upper()}"
    participant = Participant("employer", employer)
    add_participant(relay.cfg, participant, T0 + 2 * DAY, T0 + 400 * DAY)
    signer = participant_signer(relay.cfg, participant)
    early = _signed(signer, EMPLOYER, _filing(ACQUISITION, employer, "EARLY", T0 - DAY))
    await relay.tick(T0)
    [offset] = await relay.send_records([early])
    await relay.tick(T0 + 3 * DAY)
    assert relay.run("relay-linker") == 0, relay.last_output
    assert relay.run("outbox-publisher") == 0, relay.last_output
    assert await _ledger(relay, employer) == {}

    letters = [x for x in await dlq_tools.read_letters(relay.cfg.kafka(TESTS), relay.topics)
               if x.letter.filer_code == employer]
    assert [(x.letter.reason.code, x.letter.source_offset) for x in letters] == [
        (Refusal.NOT_YET_VALID.value, offset)]
    with pytest.raises(dlq_tools.ReplayRefused, match="only its filer can sign"):
        await dlq_tools.replay(relay.cfg.kafka(TESTS), relay.keyring(), letters, b"{}")
    assert await dlq_tools.replay(relay.cfg.kafka(TESTS), relay.keyring(), letters) == 1
    await relay.tick(T0 + 4 * DAY)
    assert relay.run("relay-linker") == 0, relay.last_output
    assert set(await _ledger(relay, employer)) == {"EARLY"}

    again = await dlq_tools.source_record(relay.cfg.kafka(TESTS), letters[0].letter)
    assert again is not None and again.offset == offset
    copies = [r for r in await read_to_end(relay.cfg.kafka(TESTS), [TopicPartition(
        again.topic, again.partition)]) if r.key == again.key and r.value == again.value]
    assert len(copies) == 2
    assert [list(c.headers) for c in copies] == [list(again.headers)] * 2
