"""Signed tree heads and their witnesses: a head verifies only with the relay's signature and
enough witness cosignatures over exactly its body; a witness cosigns a head that extends the
last one it cosigned and refuses a rollback, a fork or a rewritten and re-signed history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given
from hypothesis import strategies as st

from access_log.heads import Seen, cosigned, judge, signed_head
from access_log.merkle import Tree
from access_log.verifier import (
    DASH,
    EMPTY_ROOT,
    P256_ORDER,
    Head,
    HeadRefused,
    leaf_hash,
    parse_note,
    verify_head,
)

RELAY_KEY = ec.generate_private_key(ec.SECP256R1())
WITNESS_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
RELAY = ("relay-access-log", RELAY_KEY.public_key())
RELAY_SIGNER = ("relay-access-log", RELAY_KEY)
WITNESSES = {"insurer.01270016": WITNESS_KEY.public_key()}
ORIGIN = "shaho-relay access log 2026-12"


def _log(entries: list[bytes]) -> Tree:
    return Tree([leaf_hash(e) for e in entries])


NOW = datetime(2026, 12, 6, 3, 30, tzinfo=UTC)
T0 = "2026-12-06T03:00:00Z"


def _head(tree: Tree, size: int, time: str = "2026-12-06T03:00:00Z") -> Head:
    return Head(ORIGIN, size, tree.root(size), time)


ENTRIES = [f"entry {n}".encode() for n in range(11)]
TREE = _log(ENTRIES)


def test_a_cosigned_head_verifies_and_names_its_witnesses():
    note = cosigned(signed_head(_head(TREE, 7), *RELAY_SIGNER), "insurer.01270016", WITNESS_KEY)
    checked = verify_head(note, RELAY, WITNESSES)
    assert checked.head == _head(TREE, 7) and checked.witnesses == ("insurer.01270016",)


def test_a_head_without_a_cosignature_is_not_shown():
    note = signed_head(_head(TREE, 7), *RELAY_SIGNER)
    assert verify_head(note, RELAY, WITNESSES, cosignatures=0).witnesses == ()
    with pytest.raises(HeadRefused, match="0 witness cosignature"):
        verify_head(note, RELAY, WITNESSES)


def test_signatures_by_other_keys_or_over_other_bodies_are_refused():
    head = _head(TREE, 7)
    with pytest.raises(HeadRefused, match="relay's signature does not verify"):
        verify_head(cosigned(signed_head(head, "relay-access-log", OTHER_KEY),
                             "insurer.01270016", WITNESS_KEY), RELAY, WITNESSES)
    with pytest.raises(HeadRefused, match="missing"):
        verify_head(signed_head(head, "someone-else", RELAY_KEY), RELAY, WITNESSES)
    # a witness's cosignature by another key, or the relay's signature passed off as one
    with pytest.raises(HeadRefused, match="0 witness"):
        verify_head(cosigned(signed_head(head, *RELAY_SIGNER), "insurer.01270016", OTHER_KEY),
                    RELAY, WITNESSES)
    relay_line = signed_head(head, *RELAY_SIGNER).splitlines()[-1]
    posing = signed_head(head, *RELAY_SIGNER) + relay_line.replace(
        "relay-access-log", "insurer.01270016") + "\n"
    with pytest.raises(HeadRefused, match="0 witness"):
        verify_head(posing, RELAY, WITNESSES)
    # the body changed under good signatures
    note = cosigned(signed_head(head, *RELAY_SIGNER), "insurer.01270016", WITNESS_KEY)
    with pytest.raises(HeadRefused, match="does not verify"):
        verify_head(note.replace("\n7\n", "\n8\n", 1), RELAY, WITNESSES)


@given(st.text(max_size=400))
def test_any_text_is_a_head_or_refused_with_a_reason(text: str):
    try:
        head, signatures = parse_note(text)
    except HeadRefused as refused:
        assert str(refused)
    else:
        assert head.size >= 0 and len(head.root) == 32
        assert all(" " not in name for name, _ in signatures)


def test_malformed_notes_say_what_is_wrong():
    good = signed_head(_head(TREE, 3), *RELAY_SIGNER)
    cases = {
        "no body": "just one line",
        "4 lines": good.replace(ORIGIN + "\n", "", 1),
        "size": good.replace("\n3\n", "\n03\n", 1),
        "base64": good.replace(good.split("\n")[2], "not base64!", 1),
        "signature line": good + "- relay x\n",
    }
    for expected, note in cases.items():
        with pytest.raises(HeadRefused, match=expected):
            parse_note(note)
    assert DASH.startswith("\u2014")


def _note(tree: Tree, size: int) -> str:
    return signed_head(_head(tree, size), *RELAY_SIGNER)


def test_a_witness_cosigns_only_heads_that_extend_what_it_saw():
    first = judge(_note(TREE, 4), None, None, ORIGIN, RELAY, NOW)
    assert (first.cosign, first.reason, first.seen) == (True, "first_head",
                                                        Seen(4, TREE.root(4), T0))
    grown = judge(_note(TREE, 9), TREE.consistency(4, 9), first.seen, ORIGIN, RELAY, NOW)
    assert (grown.cosign, grown.reason, grown.seen) == (True, "extends",
                                                        Seen(9, TREE.root(9), T0))
    same = judge(_note(TREE, 9), [], grown.seen, ORIGIN, RELAY, NOW)
    assert (same.cosign, same.reason) == (True, "unchanged")
    back = judge(_note(TREE, 6), [], grown.seen, ORIGIN, RELAY, NOW)
    assert (back.cosign, back.seen) == (False, grown.seen) and back.reason.startswith("rollback")
    other = judge(signed_head(Head("another log", 9, TREE.root(9), T0), *RELAY_SIGNER), [],
                  grown.seen, ORIGIN, RELAY, NOW)
    assert not other.cosign and other.reason.startswith("other_log")
    forged = judge(signed_head(_head(TREE, 9), "relay-access-log", OTHER_KEY), [],
                   grown.seen, ORIGIN, RELAY, NOW)
    assert not forged.cosign and forged.reason.startswith("bad_head")
    assert judge(_note(TREE, 9), [], Seen(0, TREE.root(0)), ORIGIN, RELAY, NOW).cosign


@pytest.mark.parametrize("change", ["edit", "delete", "insert", "reorder"])
def test_a_rewritten_and_re_signed_history_is_refused(change: str):
    """The relay's store changed under entries a witness has seen: the relay rebuilds the tree,
    signs its head with its own key and proves consistency as well as it can."""
    seen = judge(_note(TREE, 8), None, None, ORIGIN, RELAY, NOW).seen
    entries = list(ENTRIES)
    if change == "edit":
        entries[3] = b"entry 3, edited"
    elif change == "delete":
        del entries[3]
    elif change == "insert":
        entries.insert(3, b"entry inserted")
    else:
        entries[2], entries[5] = entries[5], entries[2]
    rewritten = _log(entries)
    size = len(entries)
    verdict = judge(_note(rewritten, size), rewritten.consistency(8, size), seen, ORIGIN,
                    RELAY, NOW)
    assert not verdict.cosign and verdict.reason.startswith("fork"), verdict
    assert verdict.seen == seen
    # the same size as seen, but another root
    same_size = judge(_note(rewritten, 8), [], seen, ORIGIN, RELAY, NOW)
    assert not same_size.cosign and same_size.reason.startswith("fork")


def _note_times(tree: Tree, size: int, time: str) -> str:
    return signed_head(_head(tree, size, time), *RELAY_SIGNER)


def test_a_witness_refuses_heads_going_back_in_time_or_ahead_of_its_clock():
    seen = judge(_note(TREE, 4), None, None, ORIGIN, RELAY, NOW).seen
    back = judge(_note_times(TREE, 4, "2026-12-06T02:00:00Z"), [], seen, ORIGIN, RELAY, NOW)
    assert not back.cosign and back.reason.startswith("rollback: time")
    ahead = judge(_note_times(TREE, 9, "2099-01-01T00:00:00Z"), TREE.consistency(4, 9), seen,
                  ORIGIN, RELAY, NOW)
    assert not ahead.cosign and ahead.reason.startswith("future")
    later = judge(_note_times(TREE, 4, "2026-12-06T03:20:00Z"), [], seen, ORIGIN, RELAY, NOW)
    assert later.cosign and later.seen.relay_time == "2026-12-06T03:20:00Z"


def test_one_head_has_one_text():
    note = cosigned(_note(TREE, 7), "insurer.01270016", WITNESS_KEY)
    lines = note.split("\n")
    # a signer twice (a junk line before or after the real one) is refused, not resolved
    for junk in (f"{DASH}relay-access-log AAAA", f"{DASH}insurer.01270016 AAAA"):
        for at in (5, len(lines) - 1):
            with pytest.raises(HeadRefused, match="twice"):
                parse_note("\n".join([*lines[:at], junk, *lines[at:]]))
    # the root in another base64 spelling of the same bytes
    root_text = lines[2]
    last = root_text[-2]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    other = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(HeadRefused, match="canonical base64"):
        parse_note(note.replace(root_text, root_text[:-2] + other + "=", 1))
    # a cosignature rewritten to (r, n - s) verifies mathematically but is not the one form
    name, signature = parse_note(note)[1][-1]
    r, s = decode_dss_signature(signature)
    import base64
    flipped = encode_dss_signature(r, P256_ORDER - s)
    rewritten = note.replace(base64.b64encode(signature).decode(),
                             base64.b64encode(flipped).decode())
    with pytest.raises(HeadRefused, match="0 witness"):
        verify_head(rewritten, RELAY, WITNESSES)
    assert name == "insurer.01270016"


def test_an_empty_tree_has_one_root():
    fake = Head(ORIGIN, 0, bytes([0x11]) * 32, "2026-12-06T03:00:00Z")
    with pytest.raises(HeadRefused, match="empty tree"):
        parse_note(signed_head(fake, *RELAY_SIGNER))
    empty = judge(signed_head(Head(ORIGIN, 0, EMPTY_ROOT, "2026-12-06T03:00:00Z"),
                              *RELAY_SIGNER), None, None, ORIGIN, RELAY, NOW)
    assert empty.cosign and empty.seen == Seen(0, EMPTY_ROOT, "2026-12-06T03:00:00Z")


@pytest.mark.parametrize("time", ["2026-12-06T03:00:00", "2026-12-06 03:00:00Z",
                                  "2026-13-06T03:00:00Z", "garbage \u202e"])
def test_a_head_time_has_one_format(time: str):
    with pytest.raises(HeadRefused, match="relay time"):
        parse_note(signed_head(Head(ORIGIN, 3, TREE.root(3), time), *RELAY_SIGNER))


def test_signing_a_head_again_gives_the_same_note():
    tree = _log([b"a", b"b", b"c"])
    note = signed_head(_head(tree, 3), *RELAY_SIGNER)
    assert signed_head(_head(tree, 3), *RELAY_SIGNER) == note
    assert cosigned(note, "insurer.01270016", WITNESS_KEY) == \
        cosigned(note, "insurer.01270016", WITNESS_KEY)
    verify_head(cosigned(note, "insurer.01270016", WITNESS_KEY), RELAY, WITNESSES)
