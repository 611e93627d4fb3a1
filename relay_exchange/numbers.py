"""The asker's number as the relay indexes it: the same kind and canonical text the linker's
translation gives a filing's number (`relay_linker.translate.Translator`), so both find one person.

A unit test holds the two to the same output.
"""

from __future__ import annotations

from typing import Any

from schemas.exchange import MemberNumber


def _clear(value: Any) -> str:
    return str(value.reveal() if hasattr(value, "reveal") else value)


def number_key(asker: str, member: MemberNumber) -> tuple[str, str]:
    """(kind, canonical text) of the asker's own number for its member."""
    if member.insured_number is not None:
        n = member.insured_number
        parts = (n.symbol, n.number, n.branch)
        return f"insured:{asker}", "|".join(_clear(p) if p else "" for p in parts)
    if member.care_insured_number is not None:
        return f"care_insured:{asker}", _clear(member.care_insured_number)
    assert member.basic_pension_number is not None
    return "basic_pension_number", _clear(member.basic_pension_number).replace("-", "")
