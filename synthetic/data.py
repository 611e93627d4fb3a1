"""Built-in tables of the synthetic population: places, names, insurers and notations.

Shaped like the real thing (DOMAIN.md §5, §5a) but invented; nothing in this module is random.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from schemas.checkdigits import with_check_digit


@dataclass(frozen=True)
class Place:
    """A municipality: code, prefecture, name, NHI symbol, 町字 (most 丁目) and a renaming."""

    code5: str
    prefecture: str
    name: str
    nhi_symbol: str
    towns: tuple[tuple[str, int], ...]
    renaming: tuple[str, str, int] | None = None  # old 町字, new 町字, 丁目 after 住居表示

    @property
    def code(self) -> str:
        """The 6-digit municipality code (全国地方公共団体コード, mod-11 check digit)."""
        total = sum(int(d) * w for d, w in zip(self.code5, (6, 5, 4, 3, 2), strict=True))
        return f"{self.code5}{(11 - total % 11) % 10}"

    @property
    def insurer(self) -> str:
        """The 6-digit NHI and long-term-care insurer number (prefecture, insurer, check)."""
        return with_check_digit(self.code5)

    @property
    def pref(self) -> str:
        """The 2-digit prefecture code."""
        return self.code5[:2]


PLACES: tuple[Place, ...] = (
    Place(
        "13101",
        "東京都",
        "千代田区",
        "千代田",
        (("霞が関", 3), ("永田町", 2), ("麹町", 6), ("神田錦町", 3), ("九段北", 4)),
    ),
    Place(
        "13112",
        "東京都",
        "世田谷区",
        "世田谷",
        (("太子堂", 5), ("三軒茶屋", 2), ("北沢", 5), ("成城", 9), ("桜丘", 5)),
    ),
    Place(
        "27203",
        "大阪府",
        "豊中市",
        "豊中",
        (("岡上の町", 4), ("螢池東町", 4), ("上野西", 4), ("服部元町", 2)),
    ),
    Place(
        "40203",
        "福岡県",
        "久留米市",
        "久留米",
        (("日吉町", 0), ("東町", 0), ("城南町", 0), ("大字山川", 0)),
        ("大字山川", "山川町", 3),
    ),
    Place("01204", "北海道", "旭川市", "旭川", (("宮下通", 20), ("神楽", 7), ("末広", 8))),
    Place(
        "11208",
        "埼玉県",
        "所沢市",
        "所沢",
        (("東町", 0), ("日吉町", 0), ("小手指町", 4), ("大字上新井", 0)),
        ("大字上新井", "上新井", 5),
    ),
)

# (insurer body without check digit, prefecture) — 協会けんぽ (law code 01) and 健保組合 (06)
KYOKAI: dict[str, str] = {p: f"01{p}001" for p in ("13", "27", "40", "01", "11")}
KUMIAI: tuple[tuple[str, str], ...] = (("0613512", "13"), ("0627034", "27"), ("0613801", "13"))
KUMIAI_SYMBOLS = ("港いろは", "東あおば", "阪にしき", "本社", "大阪支店", "千代田ほ")
BUILDINGS = ("コーポ山田", "メゾン桜", "グランドパレス", "ハイツ緑", "レジデンス南", "第二松風荘")


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """`kanji:kana` pairs separated by white space."""
    pairs = (item.split(":", 1) for item in text.split())
    return tuple((kanji, kana) for kanji, kana in pairs)


def late_stage_insurer(pref: str) -> str:
    """The 75+ scheme's insurer number of a prefecture's union (law code 39)."""
    return with_check_digit(f"39{pref}100")


SURNAMES = _pairs(
    """
    佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 髙橋:タカハシ 田中:タナカ 伊藤:イトウ
    渡辺:ワタナベ 渡邉:ワタナベ 渡邊:ワタナベ 渡部:ワタナベ 山本:ヤマモト
    中村:ナカムラ 小林:コバヤシ 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ
    佐々木:ササキ 山口:ヤマグチ 松本:マツモト 井上:イノウエ 斎藤:サイトウ
    齋藤:サイトウ 斉藤:サイトウ 山崎:ヤマザキ 山﨑:ヤマザキ 澤田:サワダ
    沢田:サワダ 濱田:ハマダ 長谷川:ハセガワ 廣瀬:ヒロセ 德永:トクナガ
    石川:イシカワ 中島:ナカジマ 前田:マエダ 藤原:フジワラ 後藤:ゴトウ
    近藤:コンドウ 村上:ムラカミ 遠藤:エンドウ 青木:アオキ 坂本:サカモト
    福田:フクダ 太田:オオタ 西村:ニシムラ 岡田:オカダ 千葉:チバ 東:アズマ
    今井:イマイ
    """
)
GIVEN: dict[tuple[str, bool], tuple[tuple[str, str], ...]] = {
    ("male", False): _pairs(
        """
        茂:シゲル 清:キヨシ 隆:タカシ 崇:タカシ 修:オサム 浩二:コウジ 浩司:コウジ
        康二:コウジ 健一:ケンイチ 賢一:ケンイチ 誠:マコト 真:マコト 一郎:イチロウ
        太郎:タロウ 譲治:ジョージ 正雄:マサオ 勝:マサル
        """
    ),
    ("male", True): _pairs(
        """
        翔太:ショウタ 将太:ショウタ 大輔:ダイスケ 陽翔:ハルト 悠真:ユウマ 蓮:レン
        湊:ミナト 勇気:ユウキ 雄基:ユウキ 拓海:タクミ 大翔:ヒロト 颯:ハヤテ
        """
    ),
    ("female", False): _pairs(
        """
        花子:ハナコ 華子:ハナコ 陽子:ヨウコ 洋子:ヨウコ 恵子:ケイコ 啓子:ケイコ
        由美子:ユミコ 和子:カズコ 幸子:サチコ 真由美:マユミ 京子:キョウコ
        優子:ユウコ 裕子:ユウコ 節子:セツコ
        """
    ),
    ("female", True): _pairs(
        """
        美咲:ミサキ 結衣:ユイ さくら:サクラ 陽菜:ヒナ 愛:アイ 凛:リン 芽依:メイ
        恵美里:エミリー 葵:アオイ 美羽:ミウ 千尋:チヒロ
        """
    ),
}
MODERN_FROM_YEAR = 1985

# the variant characters of DOMAIN.md §5a and the standard form a filer may type instead
STANDARD_FORMS = str.maketrans(
    {
        "髙": "高",
        "﨑": "崎",
        "邉": "辺",
        "邊": "辺",
        "齋": "斎",
        "齊": "斎",
        "澤": "沢",
        "濱": "浜",
        "德": "徳",
        "廣": "広",
    }
)
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_KANJI_DIGITS = "〇一二三四五六七八九"


def kanji_numeral(n: int) -> str:
    """1–99 in kanji numerals as addresses write them: 3 → 三, 12 → 十二, 20 → 二十."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else f"{_KANJI_DIGITS[tens]}十")
    return head + (_KANJI_DIGITS[ones] if ones else "")


def hiragana(katakana: str) -> str:
    """Katakana folded to hiragana (ー and characters without a hiragana form kept)."""
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in katakana)


@cache
def _half_width_table() -> dict[str, str]:
    table = {"\u3099": "\uff9e", "\u309a": "\uff9f", "\u3000": " "}
    for cp in range(0xFF61, 0xFF9E):
        full = unicodedata.normalize("NFKC", chr(cp))
        if len(full) == 1:
            table.setdefault(full, chr(cp))
    return table


def half_width(katakana: str) -> str:
    """Katakana as half-width katakana (ﾀﾞ for ダ), as older payroll systems print it."""
    table = _half_width_table()
    return "".join(table.get(c, c) for c in unicodedata.normalize("NFD", katakana))
