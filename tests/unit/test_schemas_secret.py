"""Secrets are masked in repr, str, logs and validation errors, and clear in JSON."""

from __future__ import annotations

import copy
import logging
import pickle
from datetime import date

import pytest
from pydantic import ValidationError

from schemas.common import IdentityItems, InsuredNumber, PersonReference
from schemas.secret import MASK, Secret, SecretDate, SecretNumber
from tests.fixtures.examples import identity, insured


def test_secret_is_masked_when_shown() -> None:
    secret = SecretNumber("12345678901")
    assert "12345678901" not in repr(secret)
    assert str(secret) == MASK
    assert f"{secret}" == MASK
    assert secret.reveal() == "12345678901"
    assert secret.get_secret_value() == "12345678901"


def test_secret_date_is_masked_when_shown() -> None:
    born = SecretDate(date(1980, 4, 2))
    assert "1980" not in repr(born)
    assert "1980" not in str(born)
    assert born.reveal() == date(1980, 4, 2)


def test_secrets_compare_by_value_and_type() -> None:
    assert Secret("山田太郎") == Secret("山田太郎")
    assert Secret("山田太郎") != Secret("山田花子")
    assert SecretNumber("0001") != Secret("0001")
    assert hash(Secret("a")) == hash(Secret("a"))
    assert SecretDate(date(2000, 1, 1)) == SecretDate(date(2000, 1, 1))


def test_secrets_are_immutable_and_survive_copy_and_pickle() -> None:
    secret = Secret("山田太郎")
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]
    assert copy.deepcopy(secret) == secret
    assert pickle.loads(pickle.dumps(secret)) == secret
    assert pickle.loads(pickle.dumps(SecretDate(date(1980, 4, 2)))).reveal() == date(1980, 4, 2)


def test_model_json_carries_clear_values_and_python_dump_keeps_masks() -> None:
    items = identity()
    wire = items.model_dump_json()
    assert "山田太郎" in wire and "ヤマダタロウ" in wire and "1980-04-02" in wire
    as_json = items.model_dump(mode="json")
    assert as_json["kanji_name"] == "山田太郎"
    assert as_json["birth_date"] == "1980-04-02"
    as_python = items.model_dump()
    assert isinstance(as_python["kanji_name"], Secret)
    assert "山田太郎" not in repr(as_python)
    assert IdentityItems.model_validate_json(wire) == items
    assert IdentityItems.model_validate(as_python) == items


def test_model_repr_str_and_logs_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    items = identity()
    log = logging.getLogger("shaho.test.secret")
    with caplog.at_level(logging.INFO, logger="shaho.test.secret"):
        log.info("identity %s", items)
        log.info("identity %r", items)
        log.info("dump %s", items.model_dump())
    for text in (repr(items), str(items), caplog.text):
        for clear in ("山田太郎", "ヤマダタロウ", "1980-04-02", "霞が関"):
            assert clear not in text
    assert MASK in caplog.text


def test_validation_errors_never_echo_secret_input() -> None:
    with pytest.raises(ValidationError) as caught:
        PersonReference(resident_code="98765")  # type: ignore[arg-type]
    text = str(caught.value) + repr(caught.value)
    assert "98765" not in text
    assert caught.value.errors()[0]["loc"] == ("resident_code",)


def test_blank_and_control_characters_are_refused_without_echo() -> None:
    with pytest.raises(ValidationError) as caught:
        InsuredNumber(number="\u3000 ")  # type: ignore[arg-type]
    assert caught.value.errors()[0]["type"] == "blank"
    with pytest.raises(ValidationError) as caught:
        InsuredNumber(number="港\x00秘密")  # type: ignore[arg-type]
    assert caught.value.errors()[0]["type"] == "control_character"
    assert "秘密" not in str(caught.value)


@pytest.mark.parametrize("symbol", ["港いろは", "ｱｲｳ", "東京１２", "ABC-1"])
def test_kanji_and_kana_insured_symbols_are_accepted(symbol: str) -> None:
    number = InsuredNumber(symbol=symbol, number="１２３４", branch="01")  # type: ignore[arg-type]
    assert number.symbol is not None and number.symbol.reveal() == symbol
    assert InsuredNumber.model_validate_json(number.model_dump_json()) == number
    assert insured().number.reveal() == "１２３４"


def test_secret_dates_refuse_epoch_numbers() -> None:
    data = identity().model_dump(mode="json")
    data["birth_date"] = 323481600
    with pytest.raises(ValidationError) as caught:
        IdentityItems.model_validate(data)
    assert caught.value.errors()[0]["type"] == "date_format"
