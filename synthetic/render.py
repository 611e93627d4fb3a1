"""Identity items, person references and insured numbers as one filer writes them.

Every notation here denotes the same person after normalisation (DOMAIN.md §5a).
"""

from __future__ import annotations

from schemas.common import IdentityItems, InsuredNumber, PersonReference, StructuredAddress
from schemas.employer import Dependant
from schemas.secret import Secret, SecretDate, SecretNumber
from synthetic.data import (
    FULL_WIDTH_DIGITS,
    STANDARD_FORMS,
    half_width,
    hiragana,
    kanji_numeral,
)
from synthetic.world import Address, InsuredParts, Person, Style


def kanji_name(person: Person, style: Style) -> str:
    """The kanji name: surname, separator, given name; variants typed as standard when so."""
    text = f"{person.surname[0]}{style.name_space}{person.given[0]}"
    return text.translate(STANDARD_FORMS) if style.standard_kanji else text


def kana_name(person: Person, style: Style) -> str:
    """The kana name in katakana, hiragana or half-width katakana."""
    text = f"{person.surname[1]}{style.name_space}{person.given[1]}"
    if style.kana == "hiragana":
        return hiragana(text)
    if style.kana == "half_width":
        return half_width(text)
    return text


Lot = tuple[str | None, str | None, str | None]  # 丁目, 番, 号


def _numbers(address: Address, style: str) -> Lot:
    chome, banchi, go = address.chome, address.banchi, address.go
    if style == "register":
        return (
            None if chome is None else f"{kanji_numeral(chome)}丁目",
            f"{banchi}番" if go is not None else f"{banchi}番地",
            None if go is None else f"{go}号",
        )
    if style == "hyphen":
        lot = f"{banchi}" if go is None else f"{banchi}-{go}"
        return (None if chome is None else str(chome), lot, None)
    arabic = (
        None if chome is None else f"{chome}丁目",
        str(banchi),
        None if go is None else str(go),
    )
    if style == "full_width":
        return _wide(arabic[0]), _wide(arabic[1]), _wide(arabic[2])
    return arabic


def _text(number: int | None) -> str | None:
    return None if number is None else str(number)


def _wide(text: str | None) -> str | None:
    return None if text is None else text.translate(FULL_WIDTH_DIGITS)


def structured(address: Address, style: str = "register") -> StructuredAddress:
    """`address` as a StructuredAddress in the filer's notation."""
    chome, banchi, go = _numbers(address, style)
    town = address.town
    if style == "town" and chome is not None:
        town, chome = f"{town}{kanji_numeral(address.chome or 0)}丁目", None
    return StructuredAddress(
        prefecture=Secret(address.prefecture),
        municipality=Secret(address.municipality),
        town=Secret(town),
        chome=None if chome is None else Secret(chome),
        banchi=None if banchi is None else Secret(banchi),
        go=None if go is None else Secret(go),
        building=None if address.building is None else Secret(address.building),
    )


def identity(person: Person, style: Style, address: Address | None = None) -> IdentityItems:
    """The five identity items of `person` today (or with `address`) in the filer's notation."""
    return IdentityItems(
        kanji_name=Secret(kanji_name(person, style)),
        kana_name=Secret(kana_name(person, style)),
        birth_date=SecretDate(person.born),
        sex=person.sex,
        address=structured(address or person.household.address, style.address),
    )


def pension_number(person: Person, style: Style) -> str:
    """The basic pension number as the filer writes it (with or without the hyphen)."""
    number = person.pension_number or ""
    return number if style.pension_hyphen else number.replace("-", "")


def by_number(person: Person, style: Style) -> PersonReference:
    """Resident code, or basic pension number for filers that prefer it."""
    if style.by_pension and person.pension_number:
        return PersonReference(basic_pension_number=SecretNumber(pension_number(person, style)))
    return PersonReference(resident_code=SecretNumber(person.resident_code))


def by_resident(person: Person) -> PersonReference:
    """The person by resident code (住民票コード)."""
    return PersonReference(resident_code=SecretNumber(person.resident_code))


def by_pension(person: Person, style: Style) -> PersonReference:
    """The person by basic pension number."""
    return PersonReference(basic_pension_number=SecretNumber(pension_number(person, style)))


def insured(person: Person, scope: str) -> InsuredNumber:
    """The person's insured symbol, number and branch issued under `scope`."""
    return insured_number(person.numbers[scope])


def insured_number(parts: InsuredParts) -> InsuredNumber:
    """An InsuredNumber from (symbol, number, branch)."""
    symbol, number, branch = parts
    return InsuredNumber(
        symbol=None if symbol is None else SecretNumber(symbol),
        number=SecretNumber(number),
        branch=None if branch is None else SecretNumber(branch),
    )


def by_insured(person: Person, scope: str) -> PersonReference:
    """The person by the insured number issued under `scope`."""
    return PersonReference(insured_number=insured(person, scope))


def member_ref(person: Person, style: Style, scope: str) -> PersonReference:
    """How an insurer's filer refers to its own member: insured number or a number."""
    return by_insured(person, scope) if style.by_insured else by_number(person, style)


def dependant(person: Person, style: Style, scope: str, added: bool = True) -> Dependant:
    """A dependant entry: by number when added, by insured number when removed."""
    ref = by_number(person, style) if added else by_insured(person, scope)
    return Dependant(
        person=ref, identity=identity(person, style), insured_number=insured(person, scope)
    )
