"""Properties of the batch reader: any bytes give rows or `BatchUnreadable`, never another error,
and no message it or the row checks print ever carries a cell's value."""

from __future__ import annotations

import csv
import io
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from producers import report
from producers.batch_rows import Batch, BatchUnreadable, parse_batch
from producers.validate import validate_batch
from tests.fixtures.examples import example_filing
from tests.fixtures.template import csv_row

EXAMPLE = csv_row(example_filing("EmployeeInsuranceAcquired"))
COLUMNS = [*EXAMPLE, "filer_kind", "identity.nickname", "dependants.1.person.resident_code"]
KANJI_KANA = "山田花子髙橋﨑邉齋澤濱德廣霞関ヤマダタロウｻｷｺﾀｶﾊｼあいう"


def _secret_text(rng: random.Random, serial: int) -> str:
    """A distinctive value no message could contain by chance: a name, a number, a date."""
    kind = rng.choice(["name", "number", "romaji", "date"])
    if kind == "name":
        tail = "".join(rng.choices(KANJI_KANA, k=rng.randint(2, 8)))
        return f"秘{serial:03d}{tail}"
    if kind == "number":
        return f"{rng.randint(10**9, 10**11 - 1):011d}{serial:03d}"
    if kind == "romaji":
        return f"Zq{serial:03d} {rng.choice(['Yamada', 'Takahashi', 'Sato'])}"
    return f"19{rng.randint(10, 99)}年{serial + 1}月秘日"


@st.composite
def batch_files(draw: st.DrawFn) -> tuple[bytes, list[str], bool]:
    """(file bytes, the secret cell values in it, whether its first line is a header row).

    The shape is drawn; cell contents come from a drawn Random, which keeps 1,000 examples
    quick to generate."""
    rng = draw(st.randoms(use_true_random=False))
    secrets: list[str] = []

    def cell(column: str) -> str:
        choice = rng.choice(["example", "secret", "empty", "long"])
        if choice == "example":
            return EXAMPLE.get(column, "")
        if choice == "empty":
            return ""
        value = _secret_text(rng, len(secrets))
        if choice == "long":
            value = value + "長" * rng.randint(0, 300)
        secrets.append(value)
        return value

    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=12, unique=True))
    has_header = draw(st.booleans())
    rows = [[cell(c) for c in columns] for _ in range(draw(st.integers(0, 5)))]
    if has_header:
        lines = [columns, *rows]
    else:
        first = [cell(c) for c in columns]  # a data row where the header should be
        position = rng.randrange(len(first))
        first[position] = _secret_text(rng, len(secrets))
        secrets.append(first[position])
        lines = [first, *rows]
    out = io.StringIO()
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    csv.writer(out, lineterminator=newline).writerows(lines)
    encodings = [draw(st.sampled_from(["utf-8", "cp932"]))] * len(lines)
    if draw(st.booleans()):  # now and then one row in the other encoding
        encodings[rng.randrange(len(lines))] = rng.choice(["utf-8", "cp932"])
    raw = _encoded(out.getvalue(), newline, encodings)
    return raw, secrets, has_header


def _encoded(text: str, newline: str, encodings: list[str]) -> bytes:
    parts = text.split(newline)
    chosen = [*encodings, *[encodings[-1]] * (len(parts) - len(encodings))]
    return newline.encode().join(p.encode(e) for p, e in zip(parts, chosen, strict=False))


def _messages(raw: bytes, **options: str) -> tuple[Batch | None, list[str]]:
    try:
        batch = parse_batch(raw, **options)  # type: ignore[arg-type]
    except BatchUnreadable as exc:
        return None, [str(exc)]
    return batch, report.problem_lines(validate_batch(batch, filer=None))


@settings(max_examples=1000, deadline=None)
@given(
    raw=st.binary(max_size=400),
    format=st.sampled_from(["csv", "jsonl"]),
    encoding=st.sampled_from([None, "utf-8", "cp932"]),
)
def test_any_bytes_give_rows_or_an_unreadable_file(raw: bytes, format: str, encoding: str | None):
    options = {"format": format} if encoding is None else {"format": format, "encoding": encoding}
    batch, messages = _messages(raw, **options)
    if batch is not None:
        assert batch.format == format and all(r.line >= 1 for r in batch.rows)
        assert all(m.startswith("line ") for m in messages)


@settings(max_examples=1000, deadline=None)
@given(batch_files())
def test_no_message_carries_a_cell_value(case: tuple[bytes, list[str], bool]):
    raw, secrets, has_header = case
    batch, messages = _messages(raw)
    assert [s for s in secrets if any(s in m for m in messages)] == []
    if not has_header:  # refused as a whole: for its first line, or for its encodings
        assert batch is None
        assert "not a header row" in messages[0] or " text" in messages[0], messages
