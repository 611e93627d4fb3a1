"""Deterministic, valid example filings and relay messages for tests of every component.

The people are synthetic (山田太郎/ヤマダタロウ …); every number has a valid check digit.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import date, datetime
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel

from schemas.cards import CardIssued, CardRevoked
from schemas.common import (
    Capacity,
    IdentityItems,
    InsuredNumber,
    PensionCategory,
    PersonReference,
    Scheme,
    Sex,
    StructuredAddress,
)
from schemas.employer import (
    Dependant,
    DependantChange,
    DependantChanged,
    EmployeeInsuranceAcquired,
    EmployeeInsuranceLost,
)
from schemas.envelope import JST, Filing, event_id_for, new_filing
from schemas.filings import EVENT_TYPES, FilingRetracted, filer_of
from schemas.insurer import MemberLoaded, VoluntaryContinuationElected
from schemas.municipality import (
    AddressChanged,
    AddressRenamed,
    ArrivalFromAbroadRegistered,
    BirthRegistered,
    CorrectedItems,
    DeathRegistered,
    LateStageElderlyQualificationAcquired,
    LateStageElderlyQualificationLost,
    LongTermCareQualificationAcquired,
    LongTermCareQualificationLost,
    MovedIn,
    MovedOut,
    NameChanged,
    NhiQualificationAcquired,
    NhiQualificationLost,
    ResidentRecordCorrected,
    ResidentRegistered,
)
from schemas.payload import FilerKind, Payload
from schemas.pension import (
    BasicPensionNumberAssigned,
    PensionQualificationAcquired,
    PensionQualificationLost,
)
from schemas.relay import (
    DeadLetter,
    EncryptedBlob,
    FilingOutcome,
    LinkChange,
    LinkChanged,
    OutcomeStatus,
    Reason,
)
from schemas.secret import Secret, SecretDate, SecretNumber, iter_secrets

OCCURRED_AT = datetime(2025, 4, 10, 9, 0, tzinfo=JST)
APRIL_1 = date(2025, 4, 1)

EMPLOYEE_INSURER = "01130012"  # 協会けんぽ 東京: 01 13 001 + check 2
MUNICIPAL_INSURER = "131011"  # 千代田区 NHI / 介護保険: 13 101 + check 1
LATE_STAGE_INSURER = "39131008"  # 75+ scheme, Tokyo: 39 13 100 + check 8
PUBLIC_EXPENSE_PAYER = "12136016"  # 公費: 12 13 601 + check 6
RECIPIENT_NUMBER = "1234566"  # 受給者番号: 123456 + check 6

FILER_CODES: dict[FilerKind, str] = {
    FilerKind.PENSION: "JPS",
    FilerKind.EMPLOYER: "EMP-0001",
    FilerKind.INSURER: EMPLOYEE_INSURER,
    FilerKind.MUNICIPALITY: "131016",
    FilerKind.ANY: "EMP-0001",
}


def address(town: str = "霞が関", chome: str = "一丁目") -> StructuredAddress:
    """A structured address in 千代田区, as filed."""
    return StructuredAddress(
        prefecture=Secret("東京都"),
        municipality=Secret("千代田区"),
        town=Secret(town),
        chome=Secret(chome),
        banchi=Secret("2"),
        go=Secret("3"),
    )


def identity(
    kanji: str = "山田太郎",
    kana: str = "ヤマダタロウ",
    born: date = date(1980, 4, 2),
    sex: Sex = Sex.MALE,
) -> IdentityItems:
    """The five identity items of a synthetic person (山田太郎 by default)."""
    return IdentityItems(
        kanji_name=Secret(kanji),
        kana_name=Secret(kana),
        birth_date=SecretDate(born),
        sex=sex,
        address=address(),
    )


HANAKO = {"kanji": "山田花子", "kana": "ヤマダハナコ", "born": date(1982, 7, 15), "sex": Sex.FEMALE}
ICHIRO = {"kanji": "山田一郎", "kana": "やまだいちろう", "born": date(2015, 5, 5)}
SUZUKI = {"kanji": "鈴木一郎", "kana": "スズキイチロウ", "born": date(1960, 4, 2)}
SATO = {"kanji": "佐藤 花", "kana": "サトウ　ハナ", "born": date(1950, 4, 10), "sex": Sex.FEMALE}


def resident(code: str = "12345678901") -> PersonReference:
    """A person referred to by resident code."""
    return PersonReference(resident_code=SecretNumber(code))


def pensioner(number: str = "1234-567890") -> PersonReference:
    """A person referred to by basic pension number."""
    return PersonReference(basic_pension_number=SecretNumber(number))


def insured(branch: str = "00") -> InsuredNumber:
    """An insured number whose symbol and number contain kanji, kana and full-width digits."""
    return InsuredNumber(
        symbol=SecretNumber("港いろは"),
        number=SecretNumber("１２３４"),
        branch=SecretNumber(branch),
    )


def member(branch: str = "00") -> PersonReference:
    """A person referred to by insured number."""
    return PersonReference(insured_number=insured(branch))


def _pension() -> dict[str, Callable[[], Payload]]:
    return {
        "BasicPensionNumberAssigned": lambda: BasicPensionNumberAssigned(
            person=resident(),
            identity=identity(),
            basic_pension_number=SecretNumber("1234-567890"),
            assigned_on=APRIL_1,
        ),
        "PensionQualificationAcquired": lambda: PensionQualificationAcquired(
            person=pensioner(),
            identity=identity(),
            category=PensionCategory.EMPLOYEE_PENSION,
            acquired_on=APRIL_1,
        ),
        "PensionQualificationLost": lambda: PensionQualificationLost(
            person=pensioner(),
            identity=identity(),
            category=PensionCategory.NATIONAL_TYPE1,
            lost_on=APRIL_1,
        ),
    }


def _dependant(**who: object) -> Dependant:
    return Dependant(
        person=resident("23456789012"), identity=identity(**who), insured_number=insured("01")
    )


def _employer() -> dict[str, Callable[[], Payload]]:
    common = {"identity": identity(), "insurer_number": EMPLOYEE_INSURER}
    return {
        "EmployeeInsuranceAcquired": lambda: EmployeeInsuranceAcquired(
            person=resident(),
            insured_number=insured(),
            acquired_on=APRIL_1,
            dependants=[_dependant(**HANAKO)],
            **common,
        ),
        "EmployeeInsuranceLost": lambda: EmployeeInsuranceLost(
            person=member(),
            insured_number=insured(),
            last_day_of_employment=date(2025, 3, 31),
            lost_on=APRIL_1,
            **common,
        ),
        "DependantChanged": lambda: DependantChanged(
            person=member(),
            change=DependantChange.ADDED,
            dependant=_dependant(**ICHIRO),
            changed_on=APRIL_1,
            **common,
        ),
    }


def _insurer() -> dict[str, Callable[[], Payload]]:
    return {
        "MemberLoaded": lambda: MemberLoaded(
            person=resident(),
            identity=identity(),
            scheme=Scheme.MEDICAL,
            insurer_number=EMPLOYEE_INSURER,
            insured_number=insured(),
            capacity=Capacity.INSURED,
            valid_from=date(2020, 4, 1),
        ),
        "VoluntaryContinuationElected": lambda: VoluntaryContinuationElected(
            person=member(),
            identity=identity(),
            insurer_number=EMPLOYEE_INSURER,
            insured_number=insured(),
            lost_on=APRIL_1,
            elected_on=date(2025, 4, 8),
        ),
    }


def _registrations() -> dict[str, Callable[[], Payload]]:
    baby = identity("山田次郎", "ヤマダジロウ", date(2025, 4, 1))
    return {
        "ResidentRegistered": lambda: ResidentRegistered(
            resident_code=SecretNumber("12345678901"),
            identity=identity(),
            registered_on=date(2020, 1, 6),
        ),
        "BirthRegistered": lambda: BirthRegistered(
            resident_code=SecretNumber("45678901234"), identity=baby, registered_on=date(2025, 4, 7)
        ),
        "ArrivalFromAbroadRegistered": lambda: ArrivalFromAbroadRegistered(
            resident_code=SecretNumber("12345678901"),
            identity=identity(),
            registered_on=date(2025, 4, 3),
        ),
        "DeathRegistered": lambda: DeathRegistered(
            person=resident(), identity=identity(), died_on=date(2025, 4, 5)
        ),
    }


def _moves() -> dict[str, Callable[[], Payload]]:
    moved = {
        "person": resident(),
        "identity": identity(),
        "new_address": address("永田町", "２丁目"),
        "moved_on": APRIL_1,
    }
    return {
        "MovedIn": lambda: MovedIn(**moved),
        "MovedOut": lambda: MovedOut(**moved),
        "AddressChanged": lambda: AddressChanged(**moved),
        "AddressRenamed": lambda: AddressRenamed(**moved),
        "NameChanged": lambda: NameChanged(
            person=resident(),
            identity=identity(),
            new_kanji_name=Secret("佐藤太郎"),
            new_kana_name=Secret("サトウタロウ"),
            changed_on=APRIL_1,
        ),
        "ResidentRecordCorrected": lambda: ResidentRecordCorrected(
            person=resident(),
            identity=identity(kanji="山田太朗"),
            corrected=CorrectedItems(kanji_name=Secret("山田太郎")),
            corrected_from=date(1980, 4, 2),
        ),
    }


def _qualifications() -> dict[str, Callable[[], Payload]]:
    nhi = {"person": resident(), "identity": identity(), "insured_number": insured()}
    care = {
        "person": PersonReference(care_insured_number=SecretNumber("1310100001")),
        "identity": identity(**SUZUKI),
        "care_insured_number": SecretNumber("1310100001"),
    }
    late = {"person": resident("34567890123"), "identity": identity(**SATO)}
    return {
        "NhiQualificationAcquired": lambda: NhiQualificationAcquired(
            insurer_number=MUNICIPAL_INSURER, acquired_on=APRIL_1, **nhi
        ),
        "NhiQualificationLost": lambda: NhiQualificationLost(
            insurer_number=MUNICIPAL_INSURER, lost_on=APRIL_1, **nhi
        ),
        "LongTermCareQualificationAcquired": lambda: LongTermCareQualificationAcquired(
            insurer_number=MUNICIPAL_INSURER, acquired_on=APRIL_1, **care
        ),
        "LongTermCareQualificationLost": lambda: LongTermCareQualificationLost(
            insurer_number=MUNICIPAL_INSURER, lost_on=date(2025, 4, 6), **care
        ),
        "LateStageElderlyQualificationAcquired": lambda: LateStageElderlyQualificationAcquired(
            insurer_number=LATE_STAGE_INSURER,
            insured_number=insured(),
            acquired_on=date(2025, 4, 10),
            **late,
        ),
        "LateStageElderlyQualificationLost": lambda: LateStageElderlyQualificationLost(
            insurer_number=LATE_STAGE_INSURER,
            insured_number=insured(),
            lost_on=date(2025, 4, 6),
            **late,
        ),
    }


CARD_PRIVATE_VALUE = 0x5EED_CA2D_0001  # fixed, so the example card key never changes


def card_public_key(private_value: int = CARD_PRIVATE_VALUE) -> bytes:
    """The DER SubjectPublicKeyInfo of a deterministic EC P-256 card key."""
    key = ec.derive_private_key(private_value, ec.SECP256R1()).public_key()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def card_fingerprint(der: bytes) -> str:
    """Lowercase hex SHA-256 of a card's DER public key."""
    return hashlib.sha256(der).hexdigest()


def _cards() -> dict[str, Callable[[], Payload]]:
    der = card_public_key()
    return {
        "CardIssued": lambda: CardIssued(
            person=resident(),
            identity=identity(),
            public_key=base64.b64encode(der).decode(),
            issued_on=APRIL_1,
        ),
        "CardRevoked": lambda: CardRevoked(
            person=resident(),
            identity=identity(),
            fingerprint=card_fingerprint(der),
            revoked_on=date(2025, 4, 9),
        ),
    }


def _builders() -> dict[str, Callable[[], Payload]]:
    return {
        **_pension(),
        **_employer(),
        **_insurer(),
        **_registrations(),
        **_moves(),
        **_qualifications(),
        **_cards(),
        "FilingRetracted": lambda: FilingRetracted(
            retracted_filing_reference=reference_for("EmployeeInsuranceAcquired")
        ),
    }


def reference_for(event_type: str) -> str:
    """The filing reference the example of `event_type` uses."""
    return f"EX-{event_type}-0001"


def example_payload(event_type: str) -> Payload:
    """A valid payload of `event_type` (KeyError for an unknown event type)."""
    return _builders()[event_type]()


def example_filing(event_type: str, occurred_at: datetime = OCCURRED_AT) -> Filing:
    """A valid Filing of `event_type`, deterministic, addressed from its filer kind."""
    filer_code = FILER_CODES[filer_of(event_type)]
    return new_filing(
        example_payload(event_type),
        filer_code=filer_code,
        filing_reference=reference_for(event_type),
        person_token="tok-yamada-taro",
        occurred_at=occurred_at,
    )


def all_examples() -> dict[str, Filing]:
    """A valid example Filing for every event type, by event type."""
    return {event_type: example_filing(event_type) for event_type in EVENT_TYPES}


def example_link_changed() -> LinkChanged:
    """A LinkChanged opening the link of the EmployeeInsuranceAcquired example."""
    return LinkChanged(
        relay_id="r-0001",
        person_version=1,
        change=LinkChange.OPENED,
        scheme=Scheme.MEDICAL,
        insurer_number=EMPLOYEE_INSURER,
        capacity=Capacity.INSURED,
        valid_from=APRIL_1,
        source_event_id=event_id_for("EMP-0001", reference_for("EmployeeInsuranceAcquired")),
        outbox_id=UUID("00000000-0000-5000-8000-000000000001"),
    )


def example_filing_outcome(status: OutcomeStatus = OutcomeStatus.REFUSED) -> FilingOutcome:
    """A FilingOutcome for the EmployeeInsuranceAcquired example; refused with one reason."""
    reference = reference_for("EmployeeInsuranceAcquired")
    reasons = [] if status is OutcomeStatus.ACCEPTED else [example_reason()]
    return FilingOutcome(
        event_id=event_id_for("EMP-0001", reference),
        filer_code="EMP-0001",
        filing_reference=reference,
        receipt_id="RCPT-20250410-000001",
        status=status,
        reasons=reasons,
        outbox_id=UUID("00000000-0000-5000-8000-000000000002"),
    )


def example_reason() -> Reason:
    """A reason naming a field, as the decoder gives it."""
    return Reason(code="invalid", field="payload.identity.kana_name", message="Field required")


def example_dead_letter() -> DeadLetter:
    """A DeadLetter of a record from filing.employer.v1 (the blob is not real ciphertext)."""
    return DeadLetter(
        source_topic="filing.employer.v1",
        source_partition=3,
        source_offset=42,
        reason=Reason(code="not_json", message="not JSON: Expecting value at line 1 column 1"),
        filer_code=None,
        original=EncryptedBlob(key_id="dlq-2025-04", nonce=b"\x00" * 12, ciphertext=b"\x01\x02"),
    )


def secret_values(model: BaseModel) -> list[str]:
    """The clear text of every secret in `model` (dates in ISO 8601), for leak assertions."""
    values = []
    for _, secret in iter_secrets(model):
        clear = secret.reveal()
        values.append(clear if isinstance(clear, str) else clear.isoformat())
    return values


LEAK_MIN_CHARS = 3  # shorter values ("2", "00") occur in ordinary text by chance


def leaks(values: list[str], *texts: str) -> list[str]:
    """Those of the secret `values` (of at least 3 characters) that occur in any of `texts`."""
    return sorted(
        {v for v in values if len(v) >= LEAK_MIN_CHARS and any(v in text for text in texts)}
    )
