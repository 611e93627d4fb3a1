"""Access-log entries: a leaf names the person only by a commitment salted per person and bound
to the entry (two entries of one person share nothing), round-trips in one canonical form, and
a covert entry's leaf reveals nothing, not even its length, until its key is given out on the
disclosure date, while binding that date and that key and being proven all along."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from access_log.entries import (
    AccessEntry,
    AccessKind,
    disclosed,
    entry_of,
    new_salt,
    open_covert,
    person_commitment,
    sealed_leaf,
)
from access_log.merkle import Tree
from access_log.verifier import leaf_hash, verify_inclusion

RELAY_ID = "R6WATVTDXK4EOCWHS3MAN"


def _entry(salt: bytes, entry_id: str = "6d1f3c2a-8b0e-4f57-9a41-2c7e5b9d0a13",
           **changes) -> AccessEntry:
    values = dict(entry_id=entry_id, kind=AccessKind.RELAYED_QUERY, asker="01270016",
                  provider="06135123", person=person_commitment(salt, RELAY_ID, entry_id),
                  scheme="medical", category="self_pay_amounts", purpose="combined_high_cost",
                  policy_row="P05", relay_time="2026-12-06T03:00:00+00:00", outcome="forwarded")
    values.update(changes)
    return AccessEntry(**values)


def test_a_leaf_round_trips_and_names_no_one():
    salt = new_salt()
    entry = _entry(salt)
    leaf = entry.leaf()
    assert entry_of(leaf) == entry
    assert RELAY_ID.encode() not in leaf and salt.hex().encode() not in leaf
    assert leaf == _entry(salt).leaf(), "one canonical form"


def test_the_commitment_needs_the_salt_and_differs_per_entry():
    one, two = new_salt(), new_salt()
    assert person_commitment(one, RELAY_ID, "e1") == person_commitment(one, RELAY_ID, "e1")
    assert person_commitment(one, RELAY_ID, "e1") != person_commitment(two, RELAY_ID, "e1")
    assert person_commitment(one, RELAY_ID, "e1") != person_commitment(one, RELAY_ID + "X", "e1")
    # one person's two entries share nothing a reader of the leaves could link
    assert person_commitment(one, RELAY_ID, "e1") != person_commitment(one, RELAY_ID, "e2")
    # the parts are framed: moving a character from one to the next is another commitment
    assert person_commitment(one, "AB", "C") != person_commitment(one, "A", "BC")
    with pytest.raises(ValueError):
        person_commitment(b"short", RELAY_ID, "e1")


@pytest.mark.parametrize("change", [
    {"asker": 5}, {"asker": ""}, {"provider": "x" * 65}, {"person": b""}, {"kind": "read"},
    {"purpose": "請求"}, {"outcome": None}])
def test_an_entry_holds_only_what_it_should(change):
    with pytest.raises(ValueError):
        _entry(new_salt(), **change)


@given(st.binary(max_size=300))
def test_any_bytes_are_an_entry_or_refused(data: bytes):
    try:
        entry = entry_of(data)
    except ValueError:
        return
    assert entry.leaf() == data


def test_a_non_canonical_leaf_is_refused():
    leaf = _entry(new_salt()).leaf()
    with pytest.raises(ValueError):
        entry_of(leaf.replace(b'{"entry":', b'{ "entry":', 1))
    with pytest.raises(ValueError):
        entry_of(leaf.replace(b'"asker":"01270016"', b'"asker":5', 1))


def test_a_covert_entry_is_sealed_until_its_disclosure_date_and_proven_all_along():
    salt = new_salt()
    covert_entry = _entry(salt, purpose="criminal_investigation", policy_row="C01")
    covert = sealed_leaf(covert_entry, date(2027, 6, 1))
    for clear_text in (b"06135123", b"criminal", b"C01", b"01270016", b"2026-12-06"):
        assert clear_text not in covert.leaf
    assert disclosed(covert, date(2027, 5, 31)) is None
    key = disclosed(covert, date(2027, 6, 1))
    assert key is not None and open_covert(covert.leaf, key) == covert_entry
    with pytest.raises(TypeError):
        disclosed(covert, "2027-6-1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        open_covert(covert.leaf, bytes(32))
    with pytest.raises(ValueError):
        open_covert(covert.leaf.replace(b'"sealed":"', b'"sealed":"A', 1), key)
    # the date and the key are bound: a later date, or the leaf re-spaced, does not open
    with pytest.raises(ValueError):
        open_covert(covert.leaf.replace(b"2027-06-01", b"2028-06-01"), key)
    with pytest.raises(ValueError):
        open_covert(covert.leaf.replace(b'{"disclose_from"', b'{ "disclose_from"'), key)
    # the tree holds the sealed leaf from the start; its proof holds after disclosure
    leaves = [_entry(new_salt()).leaf(), covert.leaf, _entry(salt).leaf()]
    tree = Tree([leaf_hash(x) for x in leaves])
    verify_inclusion(1, 3, leaf_hash(covert.leaf), tree.inclusion(1), tree.root())
    verify_inclusion(2, 3, leaf_hash(leaves[2]), tree.inclusion(2), tree.root())
    # two seals of the same entry differ: equal accesses cannot be told apart by their leaves
    assert sealed_leaf(covert_entry, date(2027, 6, 1)).leaf != covert.leaf


def test_a_sealed_leafs_length_says_nothing_of_its_entry():
    salt = new_salt()
    entries = [_entry(salt), _entry(salt, asker=None), _entry(salt, purpose="x" * 64),
               _entry(salt, kind=AccessKind.RECONCILIATION_LOOKUP)]
    assert len({len(sealed_leaf(e, date(2027, 1, 1)).leaf) for e in entries}) == 1


@given(st.binary(min_size=32, max_size=32), st.dates(date(2000, 1, 1), date(2099, 12, 31)))
def test_a_covert_entry_sealed_with_its_own_key_is_the_same_leaf_every_time(key, on):
    entry = _entry(new_salt())
    first = sealed_leaf(entry, on, key)
    assert first.key == key and sealed_leaf(entry, on, key).leaf == first.leaf
    assert open_covert(first.leaf, key) == entry
    other = bytes([key[0] ^ 1]) + key[1:]
    assert sealed_leaf(entry, on, other).leaf != first.leaf


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(33), "x" * 32])
def test_a_covert_key_is_32_bytes(key):
    with pytest.raises(ValueError, match="32 bytes"):
        sealed_leaf(_entry(new_salt()), date(2027, 1, 1), key)
