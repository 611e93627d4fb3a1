"""Filing (the wire contract) → LinkerRecord (what the decision function reads).

Numbers become keyed blind indexes plus sealed ciphertext, identity items their normalised form;
nothing in clear leaves this module except inside the masked `Identity`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from groundfloor.crypto import Keyring, blind_index, seal
from relay_linker.business_days import election_due
from relay_linker.domain.commands import (
    ChangeIdentity,
    CloseLink,
    Command,
    Election,
    Identity,
    InsuredPerson,
    IssueCard,
    JoinHousehold,
    LinkerRecord,
    LinkSpec,
    NumberRef,
    OpenLink,
    RecordDeath,
    RegisterPerson,
    Retract,
    RevokeCard,
    Source,
)
from relay_linker.normalisation import (
    normalise_birth_date,
    normalise_kana,
    normalise_kanji_name,
    normalise_sex,
    normalise_structured_address,
)
from schemas import Filing
from schemas.cards import public_key_der
from schemas.codec import content_hash
from schemas.common import (
    IdentityItems,
    InsuredNumber,
    PersonReference,
    canonical_insured_number,
    canonical_pension_number,
)

JPS = "JPS"
ONE_DAY = timedelta(days=1)
LATE_STAGE_LAW_CODE = "39"


def clear(value: Any) -> str:
    """The clear text of a secret wrapper (or of a plain value)."""
    return str(value.reveal() if hasattr(value, "reveal") else value)


def identity_of(items: IdentityItems) -> Identity:
    return Identity(
        kanji_name=normalise_kanji_name(items.kanji_name),
        kana_name=normalise_kana(items.kana_name),
        birth_date=normalise_birth_date(items.birth_date),
        sex=normalise_sex(items.sex.value),
        address=normalise_structured_address(items.address),
    )


class Translator:
    """Builds LinkerRecords with the relay's keyring (blind indexes, sealing)."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def number(self, kind: str, value: str) -> NumberRef:
        index = blind_index(self.keyring, kind, value)
        sealed = seal(self.keyring, value.encode(), kind.encode())
        return NumberRef(kind, index, json.dumps(sealed.to_json_dict()).encode())

    def insured(self, insurer: str, number: InsuredNumber) -> NumberRef:
        symbol, branch = number.symbol, number.branch
        text = canonical_insured_number(clear(symbol) if symbol else None, clear(number.number),
                                        clear(branch) if branch else None)
        return self.number(f"insured:{insurer}", text)

    def resident(self, code: Any) -> NumberRef:
        return self.number("resident_code", clear(code))

    def pension(self, number: Any) -> NumberRef:
        return self.number("basic_pension_number", canonical_pension_number(clear(number)))

    def care(self, insurer: str, number: Any) -> NumberRef:
        return self.number(f"care_insured:{insurer}", clear(number))

    def person(self, ref: PersonReference, insurer: str | None) -> NumberRef:
        if ref.resident_code is not None:
            return self.resident(ref.resident_code)
        if ref.basic_pension_number is not None:
            return self.pension(ref.basic_pension_number)
        if ref.insured_number is not None:
            return self.insured(insurer or "?", ref.insured_number)
        return self.care(insurer or "?", ref.care_insured_number)

    def record(self, filing: Filing, source: Source, relay_time: datetime) -> LinkerRecord:
        """The linker's view of `filing`, read at `source` when the relay clock said
        `relay_time`."""
        build = BUILDERS[filing.event_type]
        return LinkerRecord(
            event_id=filing.event_id,
            event_type=filing.event_type,
            filer_code=filing.filer_code,
            filing_reference=filing.filing_reference,
            content_hash=content_hash(filing),
            occurred_at=filing.occurred_at,
            effective_date=filing.effective_date,
            source=source,
            commands=(*build(self, filing.payload), *_household(self, filing)),
            relay_time=relay_time,
        )


def _household(t: Translator, filing: Filing) -> list[Command]:
    """The membership a municipality's filing tells (its optional `household`), after the
    filing's own commands: the token is the municipality's own, so it is indexed under its code;
    a move's identity items are those of the day before the move."""
    p = filing.payload
    household = getattr(p, "household", None)
    if household is None:
        return []
    number = t.number(f"household:{filing.filer_code}", clear(household.token))
    if hasattr(p, "resident_code"):
        who, on, identity_on = t.resident(p.resident_code), p.registered_on, p.registered_on
    elif hasattr(p, "moved_on"):
        who, on, identity_on = t.person(p.person, None), p.moved_on, p.moved_on - ONE_DAY
    else:
        who, on, identity_on = t.person(p.person, None), p.changed_on, p.changed_on
    return [JoinHousehold(who, identity_of(p.identity), filing.filer_code, number,
                          household.householder, on, identity_on, _household_reason(p))]


def _household_reason(p: Any) -> str:
    kind = getattr(p, "kind", None)
    return kind.value if kind is not None else p.EVENT_TYPE


def _household_only(t: Translator, p: Any) -> list[Command]:
    """HouseholdChanged has no command of its own: its membership is `_household`'s."""
    return []


def _medical_category(insurer: str) -> str:
    if len(insurer) == 6:
        return "nhi"
    return "late_stage_elderly" if insurer.startswith(LATE_STAGE_LAW_CODE) else "employee_insurance"


def _registration(reason: str) -> Callable[[Translator, Any], list[Command]]:
    def build(t: Translator, p: Any) -> list[Command]:
        return [RegisterPerson(t.resident(p.resident_code), identity_of(p.identity),
                               p.registered_on, reason)]

    return build


def _address_change(reason: str) -> Callable[[Translator, Any], list[Command]]:
    def build(t: Translator, p: Any) -> list[Command]:
        changes = {"address": normalise_structured_address(p.new_address)}
        return [ChangeIdentity(t.person(p.person, None), identity_of(p.identity), changes,
                               p.moved_on, reason)]

    return build


def _name_change(t: Translator, p: Any) -> list[Command]:
    changes = {"kanji_name": normalise_kanji_name(p.new_kanji_name),
               "kana_name": normalise_kana(p.new_kana_name)}
    return [ChangeIdentity(t.person(p.person, None), identity_of(p.identity), changes,
                           p.changed_on, "name_change")]


def _correction(t: Translator, p: Any) -> list[Command]:
    c = p.corrected
    normalisers: dict[str, Callable[[Any], str]] = {
        "kanji_name": normalise_kanji_name, "kana_name": normalise_kana,
        "birth_date": normalise_birth_date, "sex": lambda s: normalise_sex(s.value),
        "address": normalise_structured_address,
    }
    changes = {item: fn(getattr(c, item)) for item, fn in normalisers.items()
               if getattr(c, item) is not None}
    return [ChangeIdentity(t.person(p.person, None), identity_of(p.identity), changes,
                           p.corrected_from, "correction")]


def _death(t: Translator, p: Any) -> list[Command]:
    return [RecordDeath(t.person(p.person, None), identity_of(p.identity), p.died_on)]


def _pension_number(t: Translator, p: Any) -> list[Command]:
    spec = LinkSpec("pension", JPS, "insured", None, t.pension(p.basic_pension_number))
    return [OpenLink(t.person(p.person, None), identity_of(p.identity), spec, p.assigned_on)]


def _pension_spec(t: Translator, p: Any) -> LinkSpec:
    number = t.person(p.person, None)
    return LinkSpec("pension", JPS, "insured", p.category.value, number)


def _pension_acquired(t: Translator, p: Any) -> list[Command]:
    return [OpenLink(t.person(p.person, None), identity_of(p.identity), _pension_spec(t, p),
                     p.acquired_on)]


def _pension_lost(t: Translator, p: Any) -> list[Command]:
    return [CloseLink(t.person(p.person, None), identity_of(p.identity), _pension_spec(t, p),
                      p.lost_on)]


def _medical_spec(t: Translator, insurer: str, number: InsuredNumber,
                  capacity: str = "insured") -> LinkSpec:
    return LinkSpec("medical", insurer, capacity, _medical_category(insurer),
                    t.insured(insurer, number))


def _employee_acquired(t: Translator, p: Any) -> list[Command]:
    insurer = clear(p.insurer_number)
    insured = InsuredPerson(t.person(p.person, insurer), identity_of(p.identity))
    commands: list[Command] = [OpenLink(insured.person, insured.identity,
                                        _medical_spec(t, insurer, p.insured_number), p.acquired_on)]
    for d in p.dependants:
        spec = _medical_spec(t, insurer, d.insured_number, "dependant")
        commands.append(OpenLink(t.person(d.person, insurer), identity_of(d.identity), spec,
                                 p.acquired_on, insured_person=insured))
    return commands


def _employee_lost(t: Translator, p: Any) -> list[Command]:
    insurer = clear(p.insurer_number)
    return [CloseLink(t.person(p.person, insurer), identity_of(p.identity),
                      _medical_spec(t, insurer, p.insured_number), p.lost_on)]


def _dependant_changed(t: Translator, p: Any) -> list[Command]:
    insurer = clear(p.insurer_number)
    d = p.dependant
    spec = _medical_spec(t, insurer, d.insured_number, "dependant")
    who, identity = t.person(d.person, insurer), identity_of(d.identity)
    insured = InsuredPerson(t.person(p.person, insurer), identity_of(p.identity))
    if p.change.value == "added":
        return [OpenLink(who, identity, spec, p.changed_on, insured_person=insured)]
    return [CloseLink(who, identity, spec, p.changed_on, insured_person=insured)]


def _member_loaded(t: Translator, p: Any) -> list[Command]:
    insurer = clear(p.insurer_number)
    scheme = p.scheme.value
    if scheme == "medical":
        spec = _medical_spec(t, insurer, p.insured_number, p.capacity.value)
    elif scheme == "long_term_care":
        spec = LinkSpec(scheme, insurer, p.capacity.value, None,
                        t.care(insurer, p.care_insured_number))
    else:
        spec = LinkSpec(scheme, insurer, p.capacity.value, None,
                        t.number(f"recipient:{insurer}", clear(p.recipient_number)))
    insured = None
    if p.insured_person is not None:
        insured = InsuredPerson(t.person(p.insured_person.person, insurer),
                                identity_of(p.insured_person.identity))
    return [OpenLink(t.person(p.person, insurer), identity_of(p.identity), spec, p.valid_from,
                     p.valid_to, insured)]


def _voluntary(t: Translator, p: Any) -> list[Command]:
    """The window's last day is worked out here, from the national calendar (健保法37条)."""
    insurer = clear(p.insurer_number)
    spec = _medical_spec(t, insurer, p.insured_number, "voluntary_continuation")
    election = Election(p.elected_on, election_due(p.lost_on), p.late_reason is not None)
    return [OpenLink(t.person(p.person, insurer), identity_of(p.identity), spec, p.lost_on,
                     election=election)]


def _voluntary_ended(t: Translator, p: Any) -> list[Command]:
    insurer = clear(p.insurer_number)
    spec = _medical_spec(t, insurer, p.insured_number, "voluntary_continuation")
    return [CloseLink(t.person(p.person, insurer), identity_of(p.identity), spec, p.lost_on,
                      kind=p.reason.value)]


def _medical(acquired: bool) -> Callable[[Translator, Any], list[Command]]:
    def build(t: Translator, p: Any) -> list[Command]:
        insurer = clear(p.insurer_number)
        who, identity = t.person(p.person, insurer), identity_of(p.identity)
        spec = _medical_spec(t, insurer, p.insured_number)
        if acquired:
            return [OpenLink(who, identity, spec, p.acquired_on)]
        return [CloseLink(who, identity, spec, p.lost_on)]

    return build


def _care(acquired: bool) -> Callable[[Translator, Any], list[Command]]:
    def build(t: Translator, p: Any) -> list[Command]:
        insurer = clear(p.insurer_number)
        who, identity = t.person(p.person, insurer), identity_of(p.identity)
        spec = LinkSpec("long_term_care", insurer, "insured", None,
                        t.care(insurer, p.care_insured_number))
        if acquired:
            return [OpenLink(who, identity, spec, p.acquired_on)]
        return [CloseLink(who, identity, spec, p.lost_on)]

    return build


def _card_issued(t: Translator, p: Any) -> list[Command]:
    der = public_key_der(p.public_key)
    fingerprint = hashlib.sha256(der).hexdigest()
    return [IssueCard(t.person(p.person, None), identity_of(p.identity), fingerprint, der,
                      p.issued_on)]


def _card_revoked(t: Translator, p: Any) -> list[Command]:
    return [RevokeCard(t.person(p.person, None), identity_of(p.identity), p.fingerprint,
                       p.revoked_on)]


def _retraction(t: Translator, p: Any) -> list[Command]:
    return [Retract(p.retracted_filing_reference)]


BUILDERS: dict[str, Callable[[Translator, Any], list[Command]]] = {
    "ResidentRegistered": _registration("go_live"),
    "BirthRegistered": _registration("birth"),
    "ArrivalFromAbroadRegistered": _registration("arrival_from_abroad"),
    "DeathRegistered": _death,
    "MovedIn": _address_change("moved_in"),
    "MovedOut": _address_change("moved_out"),
    "AddressChanged": _address_change("address_changed"),
    "AddressRenamed": _address_change("address_renamed"),
    "NameChanged": _name_change,
    "ResidentRecordCorrected": _correction,
    "HouseholdChanged": _household_only,
    "BasicPensionNumberAssigned": _pension_number,
    "PensionQualificationAcquired": _pension_acquired,
    "PensionQualificationLost": _pension_lost,
    "EmployeeInsuranceAcquired": _employee_acquired,
    "EmployeeInsuranceLost": _employee_lost,
    "DependantChanged": _dependant_changed,
    "MemberLoaded": _member_loaded,
    "VoluntaryContinuationElected": _voluntary,
    "VoluntaryContinuationEnded": _voluntary_ended,
    "NhiQualificationAcquired": _medical(True),
    "NhiQualificationLost": _medical(False),
    "LongTermCareQualificationAcquired": _care(True),
    "LongTermCareQualificationLost": _care(False),
    "LateStageElderlyQualificationAcquired": _medical(True),
    "LateStageElderlyQualificationLost": _medical(False),
    "CardIssued": _card_issued,
    "CardRevoked": _card_revoked,
    "FilingRetracted": _retraction,
}
