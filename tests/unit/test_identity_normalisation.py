"""Tests of the identity normalisation (DOMAIN.md §5a), its variant table and the match on it.

Real notations that must and must not match go through what the relay runs, each with its reason.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from groundfloor.crypto import Keyring
from relay_linker.domain import apply_all, decide, new_state
from relay_linker.domain.commands import IDENTITY_ITEMS, LOOKALIKE_ITEMS, Identity, RegisterPerson
from relay_linker.domain.effects import AnomalyRecorded
from relay_linker.domain.matching import Located, Snapshot, locate, mismatches
from relay_linker.domain.model import Reason
from relay_linker.domain.verdict import Verdict
from relay_linker.linker import KeyringHasher
from relay_linker.normalisation import (
    ADDRESS_FIELDS,
    address_numbers,
    kanji_number,
    load_variant_table,
    normalise_address,
    normalise_birth_date,
    normalise_kana,
    normalise_kanji_name,
    normalise_sex,
    normalise_structured_address,
)
from relay_linker.translate import Translator, identity_of
from schemas.common import IdentityItems
from schemas.secret import Secret
from tests.unit.test_linker_support import Filer, at

KASUMIGASEKI = ("東京都", "千代田区", "霞が関")


def _address(parts: tuple[object, ...]) -> str:
    return normalise_address(*parts)


ITEMS = {
    "kanji": "kanji_name",
    "kana": "kana_name",
    "birth": "birth_date",
    "sex": "sex",
    "address": "address",
}
NORMALISERS: dict[str, Callable[..., str]] = {
    "kanji_name": normalise_kanji_name,
    "kana_name": normalise_kana,
    "birth_date": normalise_birth_date,
    "sex": normalise_sex,
    "address": _address,
}
CONTRACT_CARRIES_EVERY_NOTATION = ("kanji_name", "kana_name")
FILED: dict[str, object] = {
    "kanji_name": "髙橋 京子",
    "kana_name": "たかはし きょうこ",
    "birth_date": date(1980, 1, 2),
    "sex": "female",
    "address": {
        "prefecture": "東京都",
        "municipality": "千代田区",
        "town": "霞が関",
        "chome": "一丁目",
        "banchi": "2番",
        "go": "3号",
    },
}
RELAY_ID = "r-notation-pairs"

# (item, left notation, right notation, must match, reason)
PAIRS: list[tuple[str, object, object, bool, str]] = [
    ("kanji", "髙橋", "高橋", True, "はしごだか is a variant of 高"),
    ("kanji", "渡邉", "渡辺", True, "邉 is a variant of 辺"),
    ("kanji", "渡邊", "渡辺", True, "邊 is the old form of 辺"),
    ("kanji", "齋藤", "斎藤", True, "齋 is the old form of 斎"),
    ("kanji", "齊藤", "斉藤", True, "齊 is the old form of 斉 (DOMAIN §5a)"),
    ("kanji", "齊藤", "斎藤", False, "齊 is not a form of 斎 (DOMAIN §5a)"),
    ("kanji", "斉藤", "斎藤", False, "斉 and 斎 are different characters"),
    ("kanji", "山\ufa11", "山崎", True, "たつさき U+FA11 survives NFKC and is folded"),
    ("kanji", "山嵜", "山崎", True, "嵜 is a variant of 崎"),
    ("kanji", "大澤", "大沢", True, "澤 is the old form of 沢"),
    ("kanji", "長濱", "長浜", True, "濱 is the old form of 浜"),
    ("kanji", "德川", "徳川", True, "德 is a variant of 徳"),
    ("kanji", "廣田", "広田", True, "廣 is the old form of 広"),
    ("kanji", "中嶋", "中島", True, "嶋 is a variant of 島"),
    ("kanji", "小峯", "小峰", True, "峯 is a variant of 峰"),
    ("kanji", "舘野", "館野", True, "舘 is a variant of 館"),
    ("kanji", "\ufa6d野", "館野", True, "compatibility 舘 U+FA6D: NFKC then the table"),
    ("kanji", "冨田", "富田", True, "冨 is a variant of 富"),
    ("kanji", "櫻井", "桜井", True, "櫻 is the old form of 桜"),
    ("kanji", "𠮷田", "吉田", True, "つちよし is a variant of 吉"),
    ("kanji", "山田\u3000太郎", "山田 太郎", True, "full-width and half-width spaces removed"),
    ("kanji", "山田太郎", "山田\u3000太郎", True, "a space between surname and given name"),
    ("kanji", "辻\U000e0100", "辻", True, "an ideographic variation selector is dropped"),
    ("kanji", "髙橋", "高嶋", False, "folding variants never merges different names"),
    ("kanji", "田中", "田仲", False, "different surnames with the same reading"),
    ("kanji", "一之瀬", "一ノ瀬", False, "之/ノ fold in a 町字 only, never in a name"),
    ("kana", "やまだ たろう", "ヤマダ タロウ", True, "hiragana folded to katakana"),
    ("kana", "ｼﾞｭﾝ", "ジュン", True, "NFKC composes half-width ｼﾞ into ジ"),
    ("kana", "ﾔﾏﾀﾞ\u3000ﾀﾛｳ", "ヤマダタロウ", True, "half-width kana and U+3000 space"),
    ("kana", "ユｰコ", "ユーコ", True, "half-width long-vowel mark is ー"),
    ("kana", "ゔぁん", "ヴァン", True, "ゔ and small ぁ fold to ヴ and small ァ"),
    ("kana", "キョウコ", "キヨウコ", False, "small kana kept: ョ is not ヨ"),
    ("kana", "ショウ", "シヨウ", False, "small kana kept: ョ is not ヨ"),
    ("kana", "ユーコ", "ユウコ", False, "long-vowel mark kept: ー is not ウ"),
    ("kana", "ハシモト", "バシモト", False, "voicing marks are significant"),
    ("kana", "スガノ", "スケノ", False, "が/ケ fold in a 町字 only, never in a name"),
    ("birth", date(1980, 1, 2), "1980-01-02", True, "a date and its ISO string"),
    ("birth", "１９８０－０１－０２", "1980-01-02", True, "full-width digits and hyphens"),
    ("birth", "19800102", "1980-01-02", True, "ISO 8601 basic format"),
    ("birth", "1980-01-02", "1980-02-01", False, "month and day swapped"),
    ("sex", "男", "male", True, "男 is male"),
    ("sex", "2", "female", True, "code 2 is female"),
    ("sex", "male", "female", False, "different sex"),
    (
        "address",
        (*KASUMIGASEKI, "一丁目", "2番", "3号"),
        (*KASUMIGASEKI, "1", "2", "3"),
        True,
        "霞が関一丁目2番3号 is 霞が関1-2-3",
    ),
    (
        "address",
        (*KASUMIGASEKI, "１丁目", "２番", "３号"),
        (*KASUMIGASEKI, "1", "2", "3"),
        True,
        "full-width digits",
    ),
    (
        "address",
        (*KASUMIGASEKI, "1", "2", "3", "中央合同庁舎第5号館 501"),
        (*KASUMIGASEKI, "1", "2", "3", None),
        True,
        "building and room ignored",
    ),
    (
        "address",
        ("東京都", "千代田区", "霞が関一丁目", None, "2", "3"),
        (*KASUMIGASEKI, "1", "2", "3"),
        True,
        "丁目 written inside the 町字",
    ),
    (
        "address",
        ("大阪府", "大阪市北区", "梅田", "三丁目", "1番地", "3号"),
        ("大阪府", "大阪市北区", "梅田", "3", "1", "3"),
        True,
        "番地 and kanji 丁目",
    ),
    (
        "address",
        ("東京都", "新宿区", "西新宿", "二丁目", "十二番", "二十三号"),
        ("東京都", "新宿区", "西新宿", "2", "12", "23"),
        True,
        "kanji numerals 十二 and 二十三",
    ),
    (
        "address",
        ("北海道", "札幌市中央区", "北一条西", "二丁目", "百五番地", None),
        ("北海道", "札幌市中央区", "北一条西", "2", "105", None),
        True,
        "百五 is 105; numerals inside the 町字 untouched",
    ),
    (
        "address",
        ("長野県", "松本市", "大字里山辺", None, "1234-5", None),
        ("長野県", "松本市", "大字里山辺", None, "1234", "5"),
        True,
        "地番 with a hyphenated branch",
    ),
    (
        "address",
        ("長野県", "松本市", "大字里山辺", None, "1234番地の5", None),
        ("長野県", "松本市", "大字里山辺", "", "1234", "5"),
        True,
        "番地の5 notation",
    ),
    (
        "address",
        ("東京都", "千代田区", "一番町", "", "5番", None),
        ("東京都", "千代田区", "一番町", None, "5", None),
        True,
        "一番町 is a 町字 name, not a number",
    ),
    (
        "address",
        ("東京都", "千代田区", "霞ヶ関", "1", "2", "3"),
        (*KASUMIGASEKI, "1", "2", "3"),
        True,
        "霞ヶ関 is 霞が関: ヶ/ケ/が in a 町字 (DOMAIN §5a)",
    ),
    (
        "address",
        ("東京都", "千代田区", "霞ケ関", "1", "2", "3"),
        ("東京都", "千代田区", "霞ヶ関", "1", "2", "3"),
        True,
        "霞ケ関 is 霞ヶ関",
    ),
    (
        "address",
        ("東京都", "千代田区", "霞ｹ関", "1", "2", "3"),
        (*KASUMIGASEKI, "1", "2", "3"),
        True,
        "half-width ｹ is ケ after NFKC, then が",
    ),
    (
        "address",
        ("東京都", "世田谷区", "桜ヶ丘", "1", "2", "3"),
        ("東京都", "世田谷区", "桜丘", "1", "2", "3"),
        False,
        "桜ヶ丘 is not 桜丘: ヶ is folded, never dropped",
    ),
    (
        "address",
        ("岐阜県", "不破郡関ケ原町", "大字関ヶ原", None, "894", "58"),
        ("岐阜県", "不破郡関ケ原町", "関原", None, "894", "58"),
        False,
        "関ヶ原 is not 関原",
    ),
    (
        "address",
        ("東京都", "江戸川区", "一之江", "1", "2", "3"),
        ("東京都", "江戸川区", "一ノ江", "1", "2", "3"),
        True,
        "一之江 is 一ノ江: 之/ノ/の in a 町字 (issue 8)",
    ),
    (
        "address",
        ("東京都", "江戸川区", "一の江", "1", "2", "3"),
        ("東京都", "江戸川区", "一之江", "1", "2", "3"),
        True,
        "一の江 is 一之江",
    ),
    (
        "address",
        ("東京都", "江戸川区", "一之江", "1", "2", "3"),
        ("東京都", "江戸川区", "一江", "1", "2", "3"),
        False,
        "一之江 is not 一江: 之 is folded, never dropped",
    ),
    (
        "address",
        ("長野県", "松本市", "大字里山辺", None, "1234", None),
        ("長野県", "松本市", "里山辺", None, "1234", None),
        True,
        "a leading 大字 left out (DOMAIN §5a)",
    ),
    (
        "address",
        ("沖縄県", "島尻郡八重瀬町", "字富盛", None, "1234", None),
        ("沖縄県", "島尻郡八重瀬町", "富盛", None, "1234", None),
        True,
        "a leading 字 left out",
    ),
    (
        "address",
        ("群馬県", "吾妻郡草津町", "大字草津", None, "1", None),
        ("群馬県", "吾妻郡草津町", "字草津", None, "1", None),
        True,
        "大字 and 字 both left out",
    ),
    (
        "address",
        ("長野県", "松本市", "大字里山辺", None, "1234", None),
        ("長野県", "松本市", "大字里山辺", None, "1235", None),
        False,
        "another 地番 in the same 大字",
    ),
    (
        "address",
        ("宮城県", "仙台市泉区", "大字小角", None, "1", None),
        ("宮城県", "仙台市泉区", "小", None, "1", None),
        False,
        "only the prefix 大字 or 字 goes: 小角 is not 小",
    ),
    (
        "address",
        (*KASUMIGASEKI, "2丁目", "2", "3"),
        (*KASUMIGASEKI, "3丁目", "2", "3"),
        False,
        "2丁目 is not 3丁目",
    ),
    (
        "address",
        ("東京都", "千代田区", "永田町", "1", "2", "3"),
        (*KASUMIGASEKI, "1", "2", "3"),
        False,
        "different 町字",
    ),
    (
        "address",
        ("東京都", "府中市", "宮西町", "1", "2", "3"),
        ("広島県", "府中市", "宮西町", "1", "2", "3"),
        False,
        "same municipality name in another prefecture",
    ),
    (
        "address",
        (*KASUMIGASEKI, "1", "2", "3"),
        (*KASUMIGASEKI, "1", "23", None),
        False,
        "2番3号 is not 23番",
    ),
    (
        "address",
        (*KASUMIGASEKI, "1", "23", None),
        (*KASUMIGASEKI, "12", "3", None),
        False,
        "丁目 and 番 boundaries kept",
    ),
    (
        "address",
        ("長野県", "松本市", "大字里山辺", None, "1234甲", None),
        ("長野県", "松本市", "大字里山辺", None, "1234乙", None),
        False,
        "地番 suffixes 甲 and 乙 kept",
    ),
]


def _pair_id(pair: tuple[str, object, object, bool, str]) -> str:
    return f"{pair[0]}: {pair[4]}"


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    path: Path = tmp_path_factory.mktemp("keyring") / "keyring.json"
    return Keyring.create_if_missing(path)


@pytest.fixture(scope="module")
def hasher(keyring: Keyring) -> KeyringHasher:
    return KeyringHasher(keyring)


def _filed_items(**changes: object) -> IdentityItems:
    """The identity items of a filing: FILED with some items filed otherwise."""
    return IdentityItems.model_validate(FILED | changes)


def _identity_filed_as(item: str, notation: object) -> Identity:
    """The Identity the relay translates from FILED with `item` filed as `notation`.

    The contract refuses some notations the normalisation still folds (sex codes, basic-format
    dates, an empty 丁目); for those only the normalised `item` is put into the Identity."""
    filed = notation
    if item == "address":
        filed = dict(zip((*ADDRESS_FIELDS, "building")[: len(notation)], notation, strict=True))
    try:
        return identity_of(_filed_items(**{item: filed}))
    except ValidationError:
        if item in CONTRACT_CARRIES_EVERY_NOTATION:
            raise
    return replace(identity_of(_filed_items()), **{item: NORMALISERS[item](notation)})


def _registered(identity: Identity, hasher: KeyringHasher) -> Snapshot:
    """The snapshot of a person registered with `identity`: keyed hashes of its five items."""
    hashes = {
        item: hasher.identity_hash(RELAY_ID, item, identity.item(item)) for item in IDENTITY_ITEMS
    }
    return Snapshot(hashes, date.fromisoformat(identity.birth_date))


@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_notation_pairs(pair: tuple[str, object, object, bool, str], hasher: KeyringHasher) -> None:
    kind, left, right, must_match, _reason = pair
    item = ITEMS[kind]
    on_record = _registered(_identity_filed_as(item, right), hasher)
    wrong = mismatches(on_record, _identity_filed_as(item, left), RELAY_ID, hasher)
    assert wrong == ([] if must_match else [item])


def test_enough_real_pairs_both_ways() -> None:
    assert len(PAIRS) >= 25
    towns = [pair for pair in PAIRS if pair[0] == "address" and pair[1][2] != pair[2][2]]
    assert sum(1 for pair in towns if pair[3]) >= 6
    assert sum(1 for pair in towns if not pair[3]) >= 4
    assert sum(1 for pair in PAIRS if pair[3]) >= 10
    assert sum(1 for pair in PAIRS if not pair[3]) >= 10


def test_kana_forms() -> None:
    assert normalise_kana("ｼﾞｭﾝ") == "ジュン"
    assert normalise_kana("きょうこ") == "キョウコ"
    assert normalise_kana("ユーコ") == "ユーコ"
    assert normalise_kana("カ゛ンダ") == "ガンダ"
    assert normalise_kana(" やまだ\t\u3000たろう\u00a0") == "ヤマダタロウ"


def test_kanji_name_forms() -> None:
    assert normalise_kanji_name("髙橋\u3000一郎") == "高橋一郎"
    assert normalise_kanji_name("\uf9c4也") == "竜也"
    assert normalise_kanji_name(None) == ""


@pytest.mark.parametrize(
    ("run", "number"),
    [
        ("十", 10),
        ("十二", 12),
        ("二十三", 23),
        ("百五", 105),
        ("一〇五", 105),
        ("千二百三十四", 1234),
    ],
)
def test_kanji_numbers(run: str, number: int) -> None:
    assert kanji_number(run) == number


def test_address_numbers_strip_unit_words() -> None:
    assert address_numbers("一丁目") == ["1"]
    assert address_numbers("12番地の3") == ["12", "3"]
    assert address_numbers("12ー3") == ["12", "3"]
    assert address_numbers("０１２") == ["12"]
    assert address_numbers(None) == []


def test_address_key_shape() -> None:
    key = normalise_address("東京都", "千代田区", "霞が関", "一丁目", "2番", "3号", "ビル")
    assert key == "東京都千代田区霞ケ関/1/2-3"


def test_birth_date_forms() -> None:
    assert normalise_birth_date(date(1980, 1, 2)) == "1980-01-02"
    assert normalise_birth_date(None) == ""


def test_bad_birth_date_does_not_echo_the_value() -> None:
    with pytest.raises(ValueError) as raised:
        normalise_birth_date("1980/01/02")
    assert "1980" not in str(raised.value)


def test_sex_codes() -> None:
    assert normalise_sex("1") == normalise_sex("M") == normalise_sex("男性") == "male"
    assert normalise_sex("女") == "female"


@dataclass
class _Secret:
    value: object

    def reveal(self) -> object:
        return self.value

    def __repr__(self) -> str:
        return "Secret(***)"


@dataclass
class _Address:
    prefecture: object
    municipality: object
    town: object
    chome: object = None
    banchi: object = None
    go: object = None
    building: object = None


def test_structured_address_duck_typed_with_secrets() -> None:
    filed = _Address(
        _Secret("東京都"), _Secret("千代田区"), _Secret("霞が関"), _Secret("一丁目"), "2番", "3号"
    )
    assert normalise_structured_address(filed) == "東京都千代田区霞ケ関/1/2-3"
    assert normalise_structured_address(_Secret(filed)) == "東京都千代田区霞ケ関/1/2-3"
    assert normalise_structured_address(None) == ""


def test_structured_address_refuses_a_single_line() -> None:
    with pytest.raises(TypeError):
        normalise_structured_address("東京都千代田区霞が関1-2-3")


def test_identity_of_names_every_item() -> None:
    identity = identity_of(_filed_items(kanji_name=Secret("髙橋 京子")))
    assert tuple(f.name for f in fields(Identity)) == IDENTITY_ITEMS
    assert {item: identity.item(item) for item in IDENTITY_ITEMS} == {
        "kanji_name": "高橋京子",
        "kana_name": "タカハシキョウコ",
        "birth_date": "1980-01-02",
        "sex": "female",
        "address": "東京都千代田区霞ケ関/1/2-3",
    }


def test_mismatches_name_items_only(hasher: KeyringHasher) -> None:
    on_record = _registered(identity_of(_filed_items()), hasher)
    moved = {
        "prefecture": "東京都",
        "municipality": "港区",
        "town": "芝公園",
        "chome": "4",
        "banchi": "2",
        "go": "8",
    }
    other = identity_of(_filed_items(kanji_name="高橋恭子", address=moved))
    assert mismatches(on_record, other, RELAY_ID, hasher) == ["kanji_name", "address"]
    spaced = identity_of(_filed_items(kanji_name="高橋　京子"))
    assert mismatches(on_record, spaced, RELAY_ID, hasher) == []


def _located(keyring: Keyring, **changes: object) -> Located | Verdict:
    """`locate` on a person registered with FILED, for a filing whose items differ by `changes`."""
    hasher = KeyringHasher(keyring)
    ref = Translator(keyring).resident("10000000001")
    state = new_state()
    register = RegisterPerson(ref, identity_of(_filed_items()), date(2024, 1, 1), "go_live")
    apply_all(state, decide(state, Filer("131016").file("reg", register, when=at(4, 1)), hasher))
    filing = Filer("E0001").file("acq", when=at(4, 2))
    filed = identity_of(_filed_items(**changes))
    return locate(state, filing, ref, filed, date(2025, 4, 1), hasher)


def _anomalies(found: Located | Verdict) -> list[str]:
    assert isinstance(found, Verdict)
    return [e.anomaly.code for e in found.effects if isinstance(e, AnomalyRecorded)]


def test_lookalike_when_three_items_agree_and_another_differs(keyring: Keyring) -> None:
    other = _located(keyring, kanji_name="高橋恭子")
    assert _anomalies(other) == ["lookalike"]
    assert isinstance(other, Verdict)
    assert other.reasons == (Reason("identity_mismatch", "identity.kanji_name"),)
    assert isinstance(_located(keyring), Located)
    assert _anomalies(_located(keyring, kanji_name="高橋恭子", sex="male")) == []


@pytest.mark.parametrize("item", sorted(LOOKALIKE_ITEMS))
def test_no_lookalike_on_missing_core_items(item: str) -> None:
    """A filing without kana, birth date or sex is refused by the contract before any match."""
    with pytest.raises(ValidationError):
        _filed_items(**{item: None})


VARIANT_ROWS = load_variant_table()
SEEDED = {
    "髙": "高",
    "﨑": "崎",
    "邉": "辺",
    "邊": "辺",
    "齋": "斎",
    "齊": "斉",
    "澤": "沢",
    "濱": "浜",
    "德": "徳",
    "廣": "広",
    "嶋": "島",
    "峯": "峰",
    "舘": "館",
    "冨": "富",
    "國": "国",
    "櫻": "桜",
    "龍": "竜",
}


def test_table_has_the_seeded_pairs() -> None:
    table = {row.variant: row.standard for row in VARIANT_ROWS}
    assert {variant: table.get(variant) for variant in SEEDED} == SEEDED


def test_table_rows_are_single_characters() -> None:
    for row in VARIANT_ROWS:
        assert len(row.variant) == 1, row
        assert len(row.standard) == 1, row
        assert row.variant != row.standard, row


def test_table_has_no_duplicate_variants() -> None:
    variants = [row.variant for row in VARIANT_ROWS]
    assert len(variants) == len(set(variants))


def test_table_has_no_chains() -> None:
    variants = {row.variant for row in VARIANT_ROWS}
    assert not [row for row in VARIANT_ROWS if row.standard in variants]


def test_table_standards_are_stable_under_nfkc() -> None:
    for row in VARIANT_ROWS:
        assert unicodedata.normalize("NFKC", row.standard) == row.standard, row


def test_every_variant_folds_to_its_standard() -> None:
    for row in VARIANT_ROWS:
        assert normalise_kanji_name(row.variant) == row.standard, row
        assert normalise_kanji_name(row.standard) == row.standard, row


def test_sai_choice_is_recorded() -> None:
    """齊 is the old form of 斉, not of 斎 (DOMAIN §5a): 齊藤 = 斉藤 ≠ 斎藤."""
    notes = {row.variant: row.note for row in VARIANT_ROWS}
    assert "斉" not in notes
    assert "斎" in notes["齊"]
    assert normalise_kanji_name("齊藤") == normalise_kanji_name("斉藤") == "斉藤"
    assert normalise_kanji_name("斎藤") == "斎藤"


def test_town_notations_fold_in_the_town_only() -> None:
    assert normalise_address("東京都", "千代田区", "霞ヶ関", "1", "2", "3") == (
        "東京都千代田区霞ケ関/1/2-3"
    )
    ichinoe = normalise_address("東京都", "江戸川区", "一之江", "", "1", "")
    assert ichinoe == "東京都江戸川区一ノ江//1"
    assert normalise_address("長野県", "松本市", "大字里山辺", None, "1", None) == (
        "長野県松本市里山辺//1"
    )
    assert normalise_address("東京都", "千代田区", "大字", None, "1", None).endswith("大字//1")
    assert normalise_kanji_name("一之瀬") == "一之瀬"
    assert normalise_kana("スガノ") == "スガノ"
