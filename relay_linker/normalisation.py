"""The DOMAIN.md §5a normalisation of identity items, with its variant-character table.

Used only to compare and hash (the match rule is `domain.matching`); filings keep items as filed.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from datetime import date, datetime
from enum import Enum
from functools import cache
from importlib import resources
from typing import NamedTuple, Protocol

ADDRESS_FIELDS: tuple[str, ...] = ("prefecture", "municipality", "town", "chome", "banchi", "go")
VARIANT_TABLE = "variant_kanji.csv"

_INVISIBLE = frozenset({"\u200b", "\u2060", "\ufeff"})
_HIRAGANA_TO_KATAKANA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)} | {
    0x309D: 0x30FD,
    0x309E: 0x30FE,
}
_VARIATION_SELECTORS = [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
_SEX_CODES = {
    "1": "male",
    "m": "male",
    "male": "male",
    "男": "male",
    "男性": "male",
    "2": "female",
    "f": "female",
    "female": "female",
    "女": "female",
    "女性": "female",
}
_KANJI_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "壱": 1,
    "二": 2,
    "弐": 2,
    "三": 3,
    "参": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000}
_KANJI_NUMERALS = "".join(_KANJI_DIGITS) + "".join(_KANJI_UNITS)
_UNIT_WORDS = re.compile(r"丁目|番地|番|号|の|ノ|[-‐‑‒–—―−ー─━]")
_NUMBER_TOKEN = re.compile(rf"[0-9]+|[{_KANJI_NUMERALS}]+|[^0-9{_KANJI_NUMERALS}]+")
_TOWN_PREFIXES = ("大字", "字")
_TOWN_NOTATIONS = str.maketrans({"ヶ": "ケ", "が": "ケ", "之": "ノ", "の": "ノ"})
_TOWN_WITH_CHOME = re.compile(rf"(?P<town>.+?)(?P<chome>[0-9{_KANJI_NUMERALS}]+)丁目")


class Revealable(Protocol):
    """A secret wrapper (e.g. `schemas.common.Secret`) that hands out its value on request."""

    def reveal(self) -> object: ...


class AddressLike(Protocol):
    """A structured address (e.g. `schemas.common.StructuredAddress`), duck-typed."""

    prefecture: object
    municipality: object
    town: object
    chome: object
    banchi: object
    go: object


class VariantRow(NamedTuple):
    """One row of the variant-character table: the variant, its standard form, a note."""

    variant: str
    standard: str
    note: str


def _plain(value: object) -> object:
    """The bare value behind a secret wrapper or an enum member."""
    if hasattr(value, "reveal"):
        value = value.reveal()
    if isinstance(value, Enum):
        value = value.value
    return value


def _text(value: object) -> str:
    plain = _plain(value)
    return "" if plain is None else str(plain)


def _compact(value: object) -> str:
    """NFKC with every space removed (NFKC again so that a detached voicing mark recombines)."""
    text = unicodedata.normalize("NFKC", _text(value))
    kept = "".join(ch for ch in text if not ch.isspace() and ch not in _INVISIBLE)
    return unicodedata.normalize("NFKC", kept)


def normalise_kana(s: str | Revealable | None) -> str:
    """Kana name: NFKC, no spaces, hiragana as katakana; small kana and ー are kept."""
    return _compact(s).translate(_HIRAGANA_TO_KATAKANA)


def load_variant_table() -> tuple[VariantRow, ...]:
    """The rows of the package's variant-character (異体字) table, in file order."""
    text = resources.files("relay_linker").joinpath(VARIANT_TABLE).read_text(encoding="utf-8")
    return tuple(VariantRow(**row) for row in csv.DictReader(text.splitlines()))


@cache
def _variant_fold() -> dict[int, str | None]:
    """str.translate table: each variant (and its NFKC form) to its standard; IVS dropped."""
    fold: dict[int, str | None] = dict.fromkeys(_VARIATION_SELECTORS)
    for row in load_variant_table():
        for form in {row.variant, unicodedata.normalize("NFKC", row.variant)}:
            if len(form) == 1 and form != row.standard:
                fold[ord(form)] = row.standard
    return fold


def normalise_kanji_name(s: str | Revealable | None) -> str:
    """Kanji name: NFKC, no spaces, variant characters folded through the project's table."""
    return _compact(s).translate(_variant_fold())


def normalise_birth_date(value: date | str | Revealable | None) -> str:
    """Date of birth as ISO 8601 (YYYY-MM-DD); accepts a date or an ISO 8601 string."""
    plain = _plain(value)
    if plain is None or plain == "":
        return ""
    if isinstance(plain, datetime):
        return plain.date().isoformat()
    if isinstance(plain, date):
        return plain.isoformat()
    if isinstance(plain, str):
        return _parse_iso_date(plain).isoformat()
    raise TypeError("birth date must be a date or an ISO 8601 string")


def _parse_iso_date(text: str) -> date:
    try:
        return date.fromisoformat(_compact(text))
    except ValueError:
        raise ValueError("birth date is not an ISO 8601 date") from None


def normalise_sex(value: str | Revealable | None) -> str:
    """Sex as `male` or `female` (also from 1/2, m/f, 男/女); anything else stays compacted."""
    text = _compact(value).casefold()
    return _SEX_CODES.get(text, text)


def kanji_number(run: str) -> int:
    """A run of kanji numerals as an integer: 十二 → 12, 二十三 → 23, 百五 → 105, 一〇五 → 105."""
    if not any(ch in _KANJI_UNITS for ch in run):
        return int("".join(str(_KANJI_DIGITS[ch]) for ch in run))
    total, digits = 0, 0
    for ch in run:
        if ch in _KANJI_UNITS:
            total += (digits or 1) * _KANJI_UNITS[ch]
            digits = 0
        else:
            digits = digits * 10 + _KANJI_DIGITS[ch]
    return total + digits


def _number_token(token: str) -> str:
    if token.isascii() and token.isdigit():
        return str(int(token))
    if all(ch in _KANJI_NUMERALS for ch in token):
        return str(kanji_number(token))
    return token


def address_numbers(value: object) -> list[str]:
    """The numbers of a 丁目/番/号 value in Arabic numerals, unit words and hyphens dropped."""
    pieces = _UNIT_WORDS.sub(" ", _compact(value)).split()
    return [_number_token(tok) for piece in pieces for tok in _NUMBER_TOKEN.findall(piece)]


def _split_town(town: str, chome: object) -> tuple[str, object]:
    """Move a trailing 〜丁目 out of the 町字 when the 丁目 field itself is empty."""
    match = _TOWN_WITH_CHOME.fullmatch(town)
    if _compact(chome) or match is None:
        return town, chome
    return match["town"], match["chome"]


def town_key(town: str) -> str:
    """The 町字 as compared: a leading 大字 or 字 left out, ヶ/ケ/が as ケ and 之/ノ/の as ノ
    (霞ヶ関 = 霞ケ関 = 霞が関, 一之江 = 一ノ江). Only the 町字 is folded: names keep が and の."""
    for prefix in _TOWN_PREFIXES:
        if town.startswith(prefix) and len(town) > len(prefix):
            town = town[len(prefix) :]
            break
    return town.translate(_TOWN_NOTATIONS)


def normalise_address(
    prefecture: object,
    municipality: object,
    town: object,
    chome: object,
    banchi: object,
    go: object,
    building: object = None,
) -> str:
    """Comparison key `prefecture+municipality+町字/丁目/番-号`; building and room are ignored.

    番 and 号 form one number sequence, so 番 "12-3" with no 号 equals 番 12, 号 3.
    """
    town_text, chome_value = _split_town(_compact(town), chome)
    place = _compact(prefecture) + _compact(municipality) + town_key(town_text)
    chome_key = "-".join(address_numbers(chome_value))
    lot_key = "-".join(address_numbers(banchi) + address_numbers(go))
    return f"{place}/{chome_key}/{lot_key}"


def normalise_structured_address(address: AddressLike | Revealable | None) -> str:
    """`normalise_address` over an object with the StructuredAddress attributes ('' if None)."""
    plain = _plain(address)
    if plain is None:
        return ""
    if isinstance(plain, str):
        raise TypeError("address must be structured, not a single line")
    return normalise_address(*(getattr(plain, name, None) for name in ADDRESS_FIELDS))
