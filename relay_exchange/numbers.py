"""The asker's number as the relay indexes it: the same kind and canonical text the linker's
translation gives a filing's number (`relay_linker.translate.Translator`), so both find one person.

A unit test holds the two to the same output.
"""

from __future__ import annotations

from typing import Any

from schemas.common import canonical_insured_number, canonical_pension_number
from schemas.exchange import MemberNumber


def _clear(value: Any) -> str:
    return str(value.reveal() if hasattr(value, "reveal") else value)


def number_key(asker: str, member: MemberNumber) -> tuple[str, str]:
    """(kind, canonical text) of the asker's own number for its member."""
    if member.insured_number is not None:
        n = member.insured_number
        return f"insured:{asker}", canonical_insured_number(
            _clear(n.symbol) if n.symbol else None, _clear(n.number),
            _clear(n.branch) if n.branch else None)
    if member.care_insured_number is not None:
        return f"care_insured:{asker}", _clear(member.care_insured_number)
    assert member.basic_pension_number is not None
    return "basic_pension_number", canonical_pension_number(_clear(member.basic_pension_number))
