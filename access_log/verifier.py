"""A standalone verifier of the access log's Merkle proofs: RFC 9162 hashing, inclusion and
consistency proofs checked from hashes alone, never a database.

It imports nothing of the relay (the standard library, and `cryptography` for the heads'
signatures), so anyone holding a tree head can copy this one file and check what the relay
shows them. The algorithms are RFC 9162's
(sections 2.1.3.2 and 2.1.4.2), with the edge cases the RFC leaves to the caller made explicit:
a proof between equal sizes is empty and the roots are equal; a proof from the empty tree is
refused (it proves nothing); a smaller tree never extends a larger one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofRefused(ValueError):
    """A proof that does not prove what it claims; the message says what was wrong."""


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash of one leaf."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an inner node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofRefused(f"the {what} is not a whole number")
    return value


def _checked(proof: list[bytes] | None) -> list[bytes]:
    if proof is not None and not isinstance(proof, list | tuple):
        raise ProofRefused("a proof is a list of hashes")
    nodes = list(proof or [])
    for n, node in enumerate(nodes):
        if not isinstance(node, bytes) or len(node) != HASH_SIZE:
            raise ProofRefused(f"proof node {n} is not a {HASH_SIZE}-byte hash")
    return nodes


def _shift_while(fn: int, sn: int, keep_going) -> tuple[int, int]:
    while keep_going(fn):
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes] | None) -> bytes:
    """The root that `proof` gives for leaf hash `leaf` at `index` in a tree of `size`
    (RFC 9162 2.1.3.2, steps 1-4); ProofRefused when the proof cannot be one for them."""
    index, size = _size(index, "leaf index"), _size(size, "tree size")
    if not 0 <= index < size:
        raise ProofRefused(f"leaf index {index} is not in a tree of size {size}")
    if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
        raise ProofRefused(f"the leaf hash is not {HASH_SIZE} bytes")
    fn, sn, r = index, size - 1, leaf
    for p in _checked(proof):
        if sn == 0:
            raise ProofRefused("the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _shift_while(fn, sn, lambda f: f != 0 and not f & 1)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofRefused("the proof is shorter than the path to the root")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes] | None,
                     root: bytes) -> None:
    """Nothing when `proof` shows leaf hash `leaf` at `index` in the tree of `size` whose root
    is `root`; ProofRefused saying what is wrong otherwise."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofRefused("the proof leads to another root: the entry is not in this tree")


def verify_consistency(size1: int, size2: int, proof: list[bytes] | None, root1: bytes,
                       root2: bytes) -> None:
    """Nothing when `proof` shows the tree of `size2` with root `root2` to extend the tree of
    `size1` with root `root1` (RFC 9162 2.1.4.2); ProofRefused saying what is wrong otherwise:
    a fork, a rewritten or truncated history, or a malformed proof."""
    nodes = _checked(proof)
    size1, size2 = _size(size1, "earlier size"), _size(size2, "later size")
    if size1 < 0 or size2 < size1:
        raise ProofRefused(f"a tree of size {size2} cannot extend one of size {size1}")
    if size1 == 0:
        raise ProofRefused("a proof from the empty tree proves nothing: a witness starts from "
                           "the first head it sees")
    if size1 == size2:
        if nodes:
            raise ProofRefused("equal sizes take an empty proof")
        if root1 != root2:
            raise ProofRefused("two different roots for the same size: the log forked")
        return
    if not nodes:
        raise ProofRefused("an empty proof between different sizes")
    if size1 & (size1 - 1) == 0:  # an exact power of 2: its root is the first node
        nodes = [root1, *nodes]
    fn, sn = size1 - 1, size2 - 1
    fn, sn = _shift_while(fn, sn, lambda f: f & 1)
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofRefused("the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                fn, sn = _shift_while(fn, sn, lambda f: f != 0 and not f & 1)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofRefused("the proof is shorter than the path to the root")
    if fr != root1:
        raise ProofRefused("the proof does not lead to the earlier root: history was rewritten")
    if sr != root2:
        raise ProofRefused("the proof does not lead to the later root: the log forked")


# -- signed tree heads ---------------------------------------------------------------------
#
# A head is a signed note: its body (origin, tree size, root in canonical base64, relay time
# as YYYY-MM-DDTHH:MM:SSZ; one per line), an empty line, then one line per signer, "— <signer>
# <base64 DER ECDSA P-256 SHA-256 signature, s in the lower half>"; a signer signs once. The
# relay signs the head label and the body; a witness signs the cosignature label and the body,
# so neither signature can stand for the other.

HEAD_LABEL = b"shaho-relay/tree-head/v1\n"
ORIGIN = re.compile(r"[!-~][ -~]{0,98}[!-~]")
SIGNER = re.compile(r"[!-~]{1,64}")
RELAY_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
COSIGNATURE_LABEL = b"shaho-relay/witness-cosignature/v1\n"
DASH = "\u2014 "
MAX_NOTE = 64 * 1024


class HeadRefused(ValueError):
    """A tree head that cannot be trusted; the message says why."""


@dataclass(frozen=True)
class Head:
    """What a head says: the log (one per month), how many entries, their root, and when."""

    origin: str
    size: int
    root: bytes
    relay_time: str

    def body(self) -> bytes:
        return (f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
                f"{self.relay_time}\n").encode()


@dataclass(frozen=True)
class CheckedHead:
    head: Head
    witnesses: tuple[str, ...]


def parse_note(text: str) -> tuple[Head, list[tuple[str, bytes]]]:
    """The head and its (signer, signature) lines; HeadRefused when the note is malformed."""
    if len(text) > MAX_NOTE or "\n\n" not in text:
        raise HeadRefused("not a signed head: no body and signatures")
    body, _, rest = text.partition("\n\n")
    lines = body.split("\n")
    if len(lines) != 4:
        raise HeadRefused("the head's body has 4 lines: origin, size, root, relay time")
    origin, size_text, root_text, relay_time = lines
    if not ORIGIN.fullmatch(origin):
        raise HeadRefused("the head's origin is printable ASCII, without a signature dash")
    if not size_text.isascii() or not size_text.isdigit() or \
            (size_text != "0" and size_text.startswith("0")) or len(size_text) > 19:
        raise HeadRefused("the head's size is not a whole number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (ValueError, binascii.Error):
        raise HeadRefused("the head's root is not base64") from None
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_text:
        raise HeadRefused(f"the head's root is not a {HASH_SIZE}-byte hash in canonical base64")
    if size_text == "0" and root != EMPTY_ROOT:
        raise HeadRefused("an empty tree has one root: SHA-256 of nothing")
    if not RELAY_TIME.fullmatch(relay_time):
        raise HeadRefused("the head's relay time is written YYYY-MM-DDTHH:MM:SSZ")
    try:
        datetime.strptime(relay_time, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise HeadRefused("the head's relay time is no date and time") from None
    signatures = []
    for line in rest.split("\n"):
        if not line:
            continue
        if not line.startswith(DASH) or line.count(" ") != 2:
            raise HeadRefused("a signature line is '— <signer> <signature>'")
        name, encoded = line[len(DASH):].split(" ")
        if not SIGNER.fullmatch(name):
            raise HeadRefused("a signer's name is printable ASCII without spaces")
        if name in {n for n, _ in signatures}:
            raise HeadRefused(f"{name} signs the head twice")
        try:
            signatures.append((name, base64.b64decode(encoded, validate=True)))
        except (ValueError, binascii.Error):
            raise HeadRefused(f"the signature of {name} is not base64") from None
    return Head(origin, int(size_text), root, relay_time), signatures


def low_s(signature: bytes) -> bytes:
    """The DER signature with s in the lower half of the group order: the one form of it a
    head carries, so a cosignature cannot be rewritten into another valid one."""
    r, s = decode_dss_signature(signature)
    return encode_dss_signature(r, s if s <= P256_ORDER // 2 else P256_ORDER - s)


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if low_s(signature) != signature:
            return False
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_head(text: str, relay: tuple[str, ec.EllipticCurvePublicKey],
                witnesses: dict[str, ec.EllipticCurvePublicKey],
                cosignatures: int = 1) -> CheckedHead:
    """The head in `text` when the relay (its name and key) signed it and at least
    `cosignatures` of `witnesses` cosigned it; HeadRefused saying what is missing otherwise."""
    head, signatures = parse_note(text)
    body = head.body()
    signed = dict(signatures)
    relay_name, relay_key = relay
    if relay_name not in signed:
        raise HeadRefused("the relay's signature is missing")
    if not _verifies(relay_key, signed[relay_name], HEAD_LABEL + body):
        raise HeadRefused("the relay's signature does not verify")
    good = tuple(sorted(name for name, key in witnesses.items() if name in signed
                        and _verifies(key, signed[name], COSIGNATURE_LABEL + body)))
    if len(good) < cosignatures:
        raise HeadRefused(f"{len(good)} witness cosignature(s) verify; {cosignatures} needed")
    return CheckedHead(head, good)
