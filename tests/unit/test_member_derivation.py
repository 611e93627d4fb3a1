"""The insurers' member stores as derived from the synthetic population: they agree with the
relay's own fold of the same filings, share households, and are deterministic.

Pure: the fold runs in memory, no broker or database."""

from __future__ import annotations

import re
from datetime import UTC, date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundfloor.crypto import Keyring
from insurer_workers.members import (
    BenefitRecord,
    MemberPeriod,
    benefits_for,
    canonical_number,
    members_from_filings,
)
from relay_linker.domain import fold
from relay_linker.domain.commands import ClockAdvanced, CloseLink, Source, Step
from relay_linker.domain.state import RelayState
from relay_linker.linker import KeyringHasher
from relay_linker.translate import Translator
from schemas.common import InsuredNumber
from schemas.secret import SecretNumber
from synthetic.population import Population, generate

START = date(2025, 1, 1)
KEYRING = Keyring.generate()
WAITED_TOO_LONG = "no_open_link"
NUMBER_KINDS = {"medical": "insured:{}", "long_term_care": "care_insured:{}",
                "pension": "basic_pension_number"}


@pytest.fixture(scope="module", params=[(3, 60), (8, 60), (21, 60), (2, 300), (11, 300),
                                        (41, 800)])
def population(request: pytest.FixtureRequest) -> Population:
    """Small ones, and larger ones with an employee dead before the employer's month-end loss
    (seed 2), 任意継続 ended by death (11) and a loss refused after its parking (41)."""
    seed, persons = request.param
    return generate(seed, persons, START)


def _steps(population: Population) -> list[Step]:
    """The filings in publishing order, the relay clock at each one's filing time, and a last
    tick months on so that every parked filing is decided."""
    translator, steps, now = Translator(KEYRING), [], None
    for offset, filing in enumerate(population.filings):
        at = filing.occurred_at.astimezone(UTC)
        if now is None or at > now:
            steps.append(ClockAdvanced(at))
            now = at
        steps.append(translator.record(filing, Source(population.topic_of(filing), 0, offset),
                                       at))
    assert now is not None
    steps.append(ClockAdvanced(now.replace(year=now.year + 1)))
    return steps


def _folded(population: Population) -> tuple[RelayState, set[tuple[str, bytes]]]:
    """The relay's final state, and the numbers named by a loss it refused after waiting for
    its link past the parking bound."""
    steps = _steps(population)
    state = fold(steps, KeyringHasher(KEYRING))
    records = {s.event_id: s for s in steps if not isinstance(s, ClockAdvanced)}
    refused = {c.link.number.key for e in state.ledger.values()
               if e.status == "refused" and WAITED_TOO_LONG in {r.code for r in e.reasons}
               for c in records[e.event_id].commands if isinstance(c, CloseLink)}
    return state, refused


def _index(period: MemberPeriod) -> bytes:
    kind = NUMBER_KINDS[period.scheme].format(period.insurer_code)
    return Translator(KEYRING).number(kind, period.member_number).index


def test_every_link_of_the_fold_is_a_period_of_its_insurer(population: Population) -> None:
    """Compared: every link the relay holds at the end at a medical, care or pension insurer,
    except the Japan Pension Service's bare number links (category null: a number assigned
    is no qualification period, and the member store holds qualification periods), and the
    links of a number whose loss the relay refused for want of a link to end: a loss that
    waited for its acquisition longer than the parking bound (a late NHI notice) is refused
    and its link stays open at the relay, while the insurer that filed both knows the period
    ended. Losses refused for a typo (filed again) or filed after the death are compared: the
    relay ends those periods where the store does. Refused filings
    (typos, look-alikes, strays) open no link, so the direction is fold → stores: a store may
    know a member the relay refused to link (the look-alike's real employer does)."""
    stores = members_from_filings(population.filings)
    held = {(p.insurer_code, p.scheme, p.capacity, p.valid_from, p.valid_to, _index(p))
            for periods in stores.values() for p in periods}
    state, refused_losses = _folded(population)
    links = [x for links in state.links.values() for x in links
             if not x.retracted and x.scheme in NUMBER_KINDS
             and not (x.scheme == "pension" and x.category is None)]
    compared = [x for x in links if x.number_key not in refused_losses]
    assert len(compared) > 60 and len(links) - len(compared) <= len(links) // 50
    missing = [(x.insurer_number, x.scheme, x.capacity, x.valid_from, x.valid_to)
               for x in compared
               if (x.insurer_number, x.scheme, x.capacity, x.valid_from, x.valid_to,
                   x.number_key[1]) not in held]
    assert missing == []


def test_dependants_share_their_insured_persons_household(population: Population) -> None:
    stores = members_from_filings(population.filings)
    dependants = [p for ps in stores.values() for p in ps if p.capacity == "dependant"]
    assert dependants
    for d in dependants:
        head = d.member_number.rpartition("|")[0]
        insured = [p for p in stores[d.insurer_code] if p.capacity != "dependant"
                   and p.member_number.rpartition("|")[0] == head]
        assert insured, "a dependant's insured person is a member of the same insurer"
        assert {p.household for p in insured} == {d.household}
    tokens = {p.household for ps in stores.values() for p in ps}
    assert all(re.fullmatch(r"h[0-9]{5}", t) for t in tokens), "opaque: says nothing of anyone"
    nhi = [p for code, ps in stores.items() if len(code) == 6 for p in ps if p.scheme == "medical"]
    assert len({p.household for p in nhi}) < len({p.member_number for p in nhi})


def test_the_same_seed_gives_the_same_stores() -> None:
    first = members_from_filings(generate(5, 60, START).filings)
    again = members_from_filings(generate(5, 60, START).filings)
    assert first == again
    assert first != members_from_filings(generate(6, 60, START).filings)


def test_income_categories_follow_the_age_band(population: Population) -> None:
    labels = {p.income_category for ps in members_from_filings(population.filings).values()
              for p in ps}
    assert labels <= {"ア", "イ", "ウ", "エ", "オ", "現役並みⅢ", "現役並みⅡ", "現役並みⅠ",
                      "一般", "低所得Ⅱ", "低所得Ⅰ"}
    assert labels & {"ア", "イ", "ウ", "エ", "オ"}


def test_benefits_are_whole_yen_within_the_periods_and_deterministic(
        population: Population) -> None:
    members = [p for ps in members_from_filings(population.filings).values() for p in ps]
    benefits = benefits_for(members, 7)
    assert benefits and benefits == benefits_for(members, 7)
    assert benefits != benefits_for(members, 8)
    numbers = {p.member_number for p in members}
    for b in benefits:
        assert isinstance(b, BenefitRecord)
        assert type(b.self_pay_yen) is int and type(b.benefit_yen) is int
        assert b.self_pay_yen >= 0 and b.benefit_yen >= 0 and b.month.day == 1
        assert b.member_number in numbers
        assert any(p.member_number == b.member_number and p.valid_from.replace(day=1) <= b.month
                   and (p.valid_to is None or b.month < p.valid_to) for p in members)


def test_the_canonical_number_is_the_relays_text() -> None:
    number = InsuredNumber(symbol=SecretNumber("港いろは"), number=SecretNumber("１２３４"),
                           branch=SecretNumber("01"))
    text = canonical_number(number)
    assert text == "港いろは|１２３４|01"
    translator = Translator(KEYRING)
    assert translator.insured("06139018", number).index == translator.number(
        "insured:06139018", text).index
    bare = InsuredNumber(number=SecretNumber("13000001"))
    assert canonical_number(bare) == "|13000001|"
    assert canonical_number(basic_pension_number=SecretNumber("1234-567890")) == "1234567890"
    assert translator.pension(SecretNumber("1234-567890")).index == translator.number(
        "basic_pension_number", "1234567890").index
    assert canonical_number(care_insured_number=SecretNumber("1310100001")) == "1310100001"
    with pytest.raises(ValueError):
        canonical_number()


SYMBOLS = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1,
                  max_size=38).filter(str.strip)


@settings(max_examples=300, deadline=None)
@given(symbol=st.none() | SYMBOLS, number=SYMBOLS,
       branch=st.none() | st.from_regex(r"\A[0-9]{2}\Z"))
def test_any_insured_number_has_the_linkers_text(symbol: str | None, number: str,
                                                 branch: str | None) -> None:
    """Whatever an insured number holds (kanji, kana, full-width digits, no symbol or branch),
    the store's text finds the link the relay's translation indexed it under."""
    parsed = InsuredNumber.model_validate({"symbol": symbol, "number": number, "branch": branch})
    translator = Translator(KEYRING)
    text = canonical_number(parsed)
    assert translator.number("insured:06139018", text).index == translator.insured(
        "06139018", parsed).index
    if "|" not in number + (symbol or ""):
        assert text.split("|") == [symbol or "", number, branch or ""]


@settings(max_examples=200, deadline=None)
@given(digits=st.from_regex(r"\A[0-9]{10}\Z"), hyphen=st.booleans())
def test_any_pension_number_has_the_linkers_text(digits: str, hyphen: bool) -> None:
    written = f"{digits[:4]}-{digits[4:]}" if hyphen else digits
    number = SecretNumber(written)
    assert canonical_number(basic_pension_number=number) == digits
    translator = Translator(KEYRING)
    assert translator.pension(number).index == translator.number(
        "basic_pension_number", digits).index
