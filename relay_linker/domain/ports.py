"""What the linker needs from outside: keyed hashing of identity items and relay ids.

A real implementation keys these with the relay's secret; tests use a small honest fake."""

from typing import Protocol


class Hasher(Protocol):
    """Keyed one-way functions; equal inputs give equal outputs, nothing can be read back."""

    def identity_hash(self, relay_id: str, item: str, value: str) -> bytes:
        """The hash of one normalised identity item of one person."""
        ...

    def candidate_hash(self, kana: str, birth_date: str, sex: str) -> bytes:
        """The hash of the three items Japan once matched on, to spot look-alikes."""
        ...

    def relay_id_for(self, seed: str) -> str:
        """A new person's relay id, derived from a deterministic seed."""
        ...
