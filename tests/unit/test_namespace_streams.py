"""Which per-participant topics a relay namespace gets: the standing streams always, those made
on request (the notices, the receipts) only where asked; `shaho up` makes every one."""

from __future__ import annotations

import pytest

from infra import namespace
from infra.principals import RECEIPT_ROLES
from infra.topics_admin import (
    NOTICE_ROLES,
    STREAM_ROLES,
    addressed_codes,
    addressed_topics,
    participants_topics,
    receipt_topics,
    settlement_topics,
    stream_topics,
)
from schemas.topics import (
    NOTICES,
    RECEIPTS,
    SETTLEMENTS,
    changes_topic,
    heads_topic,
    notices_topic,
    replies_topic,
    requests_topic,
)

REGISTRY = [("insurer", "06139018"), ("pension", "JPS"), ("municipality", "131016"),
            ("employer", "E0001"), ("relay", "relay-clock"), ("insurer", "bad.code")]


def _names(topics: tuple) -> set[str]:
    return {t.name for t in topics}


def test_every_stream_by_default_is_what_shaho_up_made_before() -> None:
    everything = _names(participants_topics(REGISTRY))
    assert everything == _names(addressed_topics(addressed_codes(REGISTRY),
                                                 addressed_codes(REGISTRY, NOTICE_ROLES))) | \
        _names(receipt_topics(addressed_codes(REGISTRY, RECEIPT_ROLES))) | \
        _names(settlement_topics(addressed_codes(REGISTRY, RECEIPT_ROLES)))
    assert len(participants_topics(REGISTRY)) == len(everything)


def test_a_new_namespace_leaves_the_notices_and_receipts_out_unless_asked() -> None:
    assert {NOTICES, RECEIPTS, SETTLEMENTS} <= namespace.ON_REQUEST_STREAMS <= set(STREAM_ROLES)
    standing = namespace.standing_streams()
    assert standing == [changes_topic("x").name.split(".", 2)[2], heads_topic("x").name.split(
        ".", 2)[2]], "the publisher writes change notices and heads in any test"
    assert {*namespace.EXCHANGE_STREAMS} == {requests_topic("x").name.split(".", 2)[2],
                                             replies_topic("x").name.split(".", 2)[2]}
    plain = _names(participants_topics(REGISTRY, standing))
    assert not [n for n in plain if n.endswith((".notices.v1", ".settlements.v1"))
                or "receipts" in n]
    assert not [n for n in plain if n.endswith((".requests.v1", ".replies.v1"))]
    assert not [n for n in plain if "131016" in n], "a municipality has notices alone"
    asked = _names(participants_topics(REGISTRY, namespace.standing_streams([NOTICES])))
    assert asked - plain == {notices_topic(c).name for c in ("06139018", "JPS", "131016")}
    every = namespace.standing_streams(namespace.ON_REQUEST_STREAMS)
    assert _names(participants_topics(REGISTRY, every)) == _names(participants_topics(REGISTRY))


def test_an_unknown_stream_is_refused() -> None:
    with pytest.raises(ValueError, match=r"settled\.v9"):
        namespace.standing_streams(["settled.v9"])
    with pytest.raises(KeyError):
        stream_topics("06139018", "settled.v9")
    with pytest.raises(ValueError):
        stream_topics("a.b", NOTICES)
