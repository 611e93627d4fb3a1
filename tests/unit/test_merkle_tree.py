"""The relay's Merkle trees: roots and proofs equal to the independent implementation's on the
standard Certificate Transparency test leaves, and for any log, any sizes and any leaf, the
proofs the relay makes pass the standalone verifier while every change to them is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from access_log.merkle import Tree, split
from access_log.verifier import (
    EMPTY_ROOT,
    ProofRefused,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "merkle_vectors"
# the leaves RFC 6962's reference tests (and transparency-dev/merkle's testonly) build trees of
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
CT = Tree([leaf_hash(d) for d in CT_LEAVES])


def _happy(kind: str) -> list[dict]:
    """The accepted cases over the standard leaves (folders named by a number; the others
    use leaves of their own)."""
    paths = sorted(p for p in (VECTORS / kind).glob("*/*.json") if p.parent.name.isdigit())
    cases = [json.loads(p.read_text()) for p in paths]
    return [c for c in cases if not c["wantErr"]]


def _b64(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(v) for v in values or []]


def test_the_empty_tree_and_the_splits():
    assert Tree([]).root() == EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert [split(n) for n in (2, 3, 4, 5, 8, 9)] == [1, 2, 2, 4, 4, 8]
    with pytest.raises(ValueError):
        split(1)


@pytest.mark.parametrize("case", _happy("inclusion"),
                         ids=lambda c: f"{c['leafIdx']}/{c['treeSize']}")
def test_inclusion_proofs_equal_the_independent_ones(case: dict):
    root = base64.b64decode(case["root"])
    assert CT.root(case["treeSize"]) == root
    assert CT.leaves[case["leafIdx"]] == base64.b64decode(case["leafHash"])
    assert CT.inclusion(case["leafIdx"], case["treeSize"]) == _b64(case["proof"])


@pytest.mark.parametrize("case", _happy("consistency"),
                         ids=lambda c: f"{c['size1']}/{c['size2']}")
def test_consistency_proofs_equal_the_independent_ones(case: dict):
    assert CT.root(case["size1"]) == base64.b64decode(case["root1"])
    assert CT.root(case["size2"]) == base64.b64decode(case["root2"])
    assert CT.consistency(case["size1"], case["size2"]) == _b64(case["proof"])


def test_a_known_root():
    # RFC 6962's reference tests: the root of all eight standard leaves
    assert CT.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


logs = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


def _flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[(bit // 8) % len(changed)] ^= 1 << (bit % 8)
    return bytes(changed)


@settings(max_examples=300)
@given(logs, st.data())
def test_every_inclusion_proof_verifies_and_any_change_is_refused(entries, data):
    tree = Tree([leaf_hash(e) for e in entries])
    size = data.draw(st.integers(1, len(entries)), "size")
    index = data.draw(st.integers(0, size - 1), "index")
    proof, root = tree.inclusion(index, size), tree.root(size)
    verify_inclusion(index, size, leaf_hash(entries[index]), proof, root)
    assert len(proof) <= (size - 1).bit_length()
    bit = data.draw(st.integers(0, 255), "bit")
    with pytest.raises(ProofRefused):  # an edited entry
        verify_inclusion(index, size, leaf_hash(entries[index] + b"!"), proof, root)
    with pytest.raises(ProofRefused):  # another root
        verify_inclusion(index, size, leaf_hash(entries[index]), proof, _flip(root, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), "at")
        with pytest.raises(ProofRefused):  # a changed, dropped or added node
            verify_inclusion(index, size, leaf_hash(entries[index]),
                             [*proof[:at], _flip(proof[at], bit), *proof[at + 1:]], root)
        with pytest.raises(ProofRefused):
            verify_inclusion(index, size, leaf_hash(entries[index]), proof[:-1], root)
    with pytest.raises(ProofRefused):
        verify_inclusion(index, size, leaf_hash(entries[index]), [*proof, root], root)
    other = data.draw(st.integers(0, size - 1), "other")
    if entries[other] != entries[index]:  # the same proof for another position
        with pytest.raises(ProofRefused):
            verify_inclusion(other, size, leaf_hash(entries[index]), proof, root)


@settings(max_examples=300)
@given(logs, st.data())
def test_every_consistency_proof_verifies_and_a_rewritten_history_is_refused(entries, data):
    tree = Tree([leaf_hash(e) for e in entries])
    size2 = data.draw(st.integers(1, len(entries)), "size2")
    size1 = data.draw(st.integers(1, size2), "size1")
    proof = tree.consistency(size1, size2)
    root1, root2 = tree.root(size1), tree.root(size2)
    verify_consistency(size1, size2, proof, root1, root2)
    # an edited, deleted or reordered entry among the first size1: a fork
    at = data.draw(st.integers(0, size1 - 1), "at")
    edits = {"edited": [*entries[:at], entries[at] + b"!", *entries[at + 1:]],
             "deleted": [*entries[:at], *entries[at + 1:], b"pad"],
             "inserted": [*entries[:at], b"new", *entries[at:]]}
    if size2 > 1:
        j = data.draw(st.integers(0, size2 - 1), "j")
        swapped = list(entries)
        swapped[at], swapped[j] = swapped[j], swapped[at]
        edits["reordered"] = swapped
    for changed in edits.values():
        forged = Tree([leaf_hash(e) for e in changed])
        if forged.root(size1) == root1:
            continue  # the first size1 entries are as they were (equal entries moved)
        with pytest.raises(ProofRefused, match=r"rewritten|forked"):
            verify_consistency(size1, size2, forged.consistency(size1, size2), root1,
                               forged.root(size2))


def test_sizes_no_proof_joins():
    tree = Tree([leaf_hash(bytes([n])) for n in range(5)])
    with pytest.raises(ValueError):
        tree.consistency(0, 3)
    with pytest.raises(ValueError):
        tree.consistency(4, 3)
    with pytest.raises(ValueError):
        tree.inclusion(3, 3)
    with pytest.raises(ProofRefused):
        verify_consistency(4, 3, [], tree.root(4), tree.root(3))


@pytest.mark.parametrize("args", [
    (0.0, 2, bytes(32), [bytes(32)]), (0, "2", bytes(32), []), (True, 2, bytes(32), []),
    (0, 2, "leaf", []), (0, 2, bytes(32), 5), (0, 2, bytes(32), [b"short"]),
    (0, 2, bytes(32), ["text"])])
def test_the_verifier_refuses_what_is_no_inclusion_proof(args):
    with pytest.raises(ProofRefused):
        verify_inclusion(*args, root=bytes(32))


@pytest.mark.parametrize("args", [(4.0, 8, []), (1, 2.0, []), (1, 2, 5), (1, 2, [None])])
def test_the_verifier_refuses_what_is_no_consistency_proof(args):
    size1, size2, proof = args
    with pytest.raises(ProofRefused):
        verify_consistency(size1, size2, proof, bytes(32), bytes(32))
