"""Numbers and answers of the relayed exchange sealed for the one insurer that may read them:
HPKE (RFC 9180) base mode to that insurer's P-256 encryption key, the request bound into `info`.

A provider's number is sealed by the relay for the provider, with the routed request's id, the
item's id, the provider's code and the purpose in `info`: moved into another request, to
another provider or under another purpose, it does not open. An answer is sealed by the
provider for the asker, with the request id, the item id, the asker and the provider in `info`;
the relay carries it without being able to open it.

A settlement of the 合算 carries the payer's number sealed by the relay for the payer, bound to
the settlement id and the payer, and its amount sealed by the sender for the payer, bound to
the settlement id, the sender and the payer: the relay never opens an amount.
"""

from __future__ import annotations

import struct
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric import ec

from schemas.settlements import SettlementAmount
from trust.sealing import SUITE, NotOpened

NUMBER_LABEL = b"shaho-relay/exchange-number/v1\x00"
ANSWER_LABEL = b"shaho-relay/exchange-answer/v1\x00"
MAX_NUMBER_BYTES = 200


def _framed(label: bytes, *items: bytes) -> bytes:
    parts = [label]
    for item in items:
        parts.append(struct.pack(">I", len(item)))
        parts.append(item)
    return b"".join(parts)


def number_context(routed_id: UUID, item_id: UUID, provider: str, purpose: str) -> bytes:
    """HPKE `info` of a sealed number: label, routed request id, item id, provider, purpose."""
    return _framed(NUMBER_LABEL, routed_id.bytes, item_id.bytes, provider.encode(),
                   purpose.encode())


def answer_context(request_id: UUID, item_id: UUID, asker: str, provider: str) -> bytes:
    """HPKE `info` of a sealed answer: label, request id, item id, asker, provider."""
    return _framed(ANSWER_LABEL, request_id.bytes, item_id.bytes, asker.encode(),
                   provider.encode())


def seal_number(number: str, provider_key: ec.EllipticCurvePublicKey, routed_id: UUID,
                item_id: UUID, provider: str, purpose: str) -> bytes:
    """The provider's own `number` (the relay's canonical text of it) sealed for the provider."""
    return SUITE.encrypt(number.encode(), provider_key,
                         number_context(routed_id, item_id, provider, purpose))


def open_number(sealed: bytes, provider_key: ec.EllipticCurvePrivateKey, routed_id: UUID,
                item_id: UUID, provider: str, purpose: str) -> str:
    """The number in `sealed`; NotOpened, saying nothing of it, whatever is wrong."""
    try:
        plain = SUITE.decrypt(sealed, provider_key,
                              number_context(routed_id, item_id, provider, purpose))
        if len(plain) > MAX_NUMBER_BYTES:
            raise ValueError("too long")
        return plain.decode("utf-8")
    except Exception as failure:  # the library raises several types for bad input
        raise NotOpened("the sealed number does not open for this request") from failure


def seal_answer(answer: bytes, asker_key: ec.EllipticCurvePublicKey, request_id: UUID,
                item_id: UUID, asker: str, provider: str) -> bytes:
    """`answer` (JSON) sealed by the provider for the asker."""
    return SUITE.encrypt(answer, asker_key, answer_context(request_id, item_id, asker, provider))


def open_answer(sealed: bytes, asker_key: ec.EllipticCurvePrivateKey, request_id: UUID,
                item_id: UUID, asker: str, provider: str) -> bytes:
    """The answer in `sealed`; NotOpened whatever is wrong with it."""
    try:
        return SUITE.decrypt(sealed, asker_key,
                             answer_context(request_id, item_id, asker, provider))
    except Exception as failure:
        raise NotOpened("the sealed answer does not open for this request") from failure


SETTLEMENT_NUMBER_LABEL = b"shaho-relay/settlement-number/v1\x00"
SETTLEMENT_AMOUNT_LABEL = b"shaho-relay/settlement-amount/v1\x00"
MAX_AMOUNT_BYTES = 200


def settlement_number_context(settlement_id: UUID, payer: str) -> bytes:
    """HPKE `info` of a payer's number in a routed settlement: label, settlement id, payer."""
    return _framed(SETTLEMENT_NUMBER_LABEL, settlement_id.bytes, payer.encode())


def settlement_amount_context(settlement_id: UUID, sender: str, payer: str) -> bytes:
    """HPKE `info` of a settlement's amount: label, settlement id, sender, payer."""
    return _framed(SETTLEMENT_AMOUNT_LABEL, settlement_id.bytes, sender.encode(),
                   payer.encode())


def seal_settlement_number(number: str, payer_key: ec.EllipticCurvePublicKey,
                           settlement_id: UUID, payer: str) -> bytes:
    """The payer's own `number` for the person, sealed by the relay for the payer."""
    return SUITE.encrypt(number.encode(), payer_key,
                         settlement_number_context(settlement_id, payer))


def open_settlement_number(sealed: bytes, payer_key: ec.EllipticCurvePrivateKey,
                           settlement_id: UUID, payer: str) -> str:
    """The number in `sealed`; NotOpened, saying nothing of it, whatever is wrong."""
    try:
        plain = SUITE.decrypt(sealed, payer_key,
                              settlement_number_context(settlement_id, payer))
        if len(plain) > MAX_NUMBER_BYTES:
            raise ValueError("too long")
        return plain.decode("utf-8")
    except Exception as failure:
        raise NotOpened("the sealed number does not open for this settlement") from failure


def seal_settlement_amount(amount_yen: int, total_yen: int,
                           payer_key: ec.EllipticCurvePublicKey, settlement_id: UUID,
                           sender: str, payer: str) -> bytes:
    """The sender's `amount_yen` (negative for a delta that lowers the share) and the payer's
    `total_yen` after it, as JSON sealed for the payer; the relay carries it unopened."""
    body = SettlementAmount(amount_yen=amount_yen, total_yen=total_yen)
    return SUITE.encrypt(body.model_dump_json().encode(), payer_key,
                         settlement_amount_context(settlement_id, sender, payer))


def open_settlement_amount(sealed: bytes, payer_key: ec.EllipticCurvePrivateKey,
                           settlement_id: UUID, sender: str, payer: str) -> SettlementAmount:
    """The amount in `sealed`, checked; NotOpened, saying nothing of it, whatever is wrong."""
    try:
        plain = SUITE.decrypt(sealed, payer_key,
                              settlement_amount_context(settlement_id, sender, payer))
        if len(plain) > MAX_AMOUNT_BYTES:
            raise ValueError("too long")
        return SettlementAmount.model_validate_json(plain, strict=True)
    except Exception as failure:
        raise NotOpened("the sealed amount does not open for this settlement") from failure
