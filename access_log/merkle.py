"""The relay's side of the access log's Merkle trees: roots, inclusion proofs and consistency
proofs over a month's leaf hashes, as RFC 9162 defines them (MTH, PATH and PROOF).

Plain functions over a list of leaf hashes; the hashing is the standalone verifier's, so what
the relay proves is checked by the same definitions anyone else uses. A `Tree` remembers the
hash of every complete subtree it has computed, so proofs after the first cost a logarithmic
number of hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

from access_log.verifier import EMPTY_ROOT, node_hash


def split(n: int) -> int:
    """The largest power of two smaller than `n` (n >= 2): where RFC 9162 splits D[n]."""
    if n < 2:
        raise ValueError("only a tree of two or more leaves splits")
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    """A tree over `leaves` (leaf hashes, in log order); its prefix of any size is a tree too."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._hashes: dict[tuple[int, int], bytes] = {}

    def _mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi])."""
        if hi - lo == 1:
            return self.leaves[lo]
        known = self._hashes.get((lo, hi))
        if known is None:
            k = split(hi - lo)
            known = node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))
            self._hashes[(lo, hi)] = known
        return known

    def _size(self, size: int | None) -> int:
        n = len(self.leaves) if size is None else size
        if not 0 <= n <= len(self.leaves):
            raise ValueError(f"the log holds {len(self.leaves)} leaves, not {n}")
        return n

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (all by default); the empty tree's is
        SHA-256 of nothing."""
        n = self._size(size)
        return EMPTY_ROOT if n == 0 else self._mth(0, n)

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]): the audit path of leaf `index` in the first `size` leaves."""
        n = self._size(size)
        if not 0 <= index < n:
            raise ValueError(f"leaf {index} is not in a tree of {n}")
        path: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:  # from the root down; the path lists siblings bottom-up
            k = split(hi - lo)
            if index < lo + k:
                path.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._mth(lo, lo + k))
                lo = lo + k
        return path[::-1]

    def consistency(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(size1, D[size2]): that the first `size2` leaves extend the first `size1`
        (0 < size1; empty when the sizes are equal)."""
        n = self._size(size2)
        if not 0 < size1 <= n:
            raise ValueError(f"no proof that a tree of {n} extends one of {size1}")
        if size1 == n:
            return []
        proof: list[bytes] = []
        m, lo, hi, whole = size1, 0, n, True
        while m != hi - lo:
            k = split(hi - lo)
            if m <= k:
                proof.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._mth(lo, lo + k))
                m, lo, whole = m - k, lo + k, False
        if not whole:
            proof.append(self._mth(lo, hi))
        return proof[::-1]
