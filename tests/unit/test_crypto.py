"""Tests of the keyring, AES-GCM sealing and the keyed hashes in `groundfloor.crypto`.

Sealing round trips, tamper detection, rotation, blind indexes, identity hashes, the key file.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from groundfloor.crypto import (
    KEY_BYTES,
    Keyring,
    KeyringError,
    Sealed,
    UnsealError,
    blind_index,
    candidate_hash,
    derive_relay_id,
    identity_hash,
    open_sealed,
    seal,
)

KEYRING = Keyring.ephemeral(b"unit-test seed")
OTHER = Keyring.ephemeral(b"another seed")


def _flip(raw: bytes, index: int = 0) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]


def test_round_trip() -> None:
    sealed = seal(KEYRING, "港いろは１２３４".encode(), b"relay.dlq")
    assert sealed.key_id == KEYRING.active_key_id
    assert len(sealed.nonce) == 12
    assert "港".encode() not in sealed.ciphertext
    assert open_sealed(KEYRING, sealed, b"relay.dlq") == "港いろは１２３４".encode()


def test_round_trip_without_associated_data_and_empty_plaintext() -> None:
    assert open_sealed(KEYRING, seal(KEYRING, b"")) == b""


def test_nonces_are_fresh() -> None:
    first, second = seal(KEYRING, b"same"), seal(KEYRING, b"same")
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_sealed_json_round_trip() -> None:
    sealed = seal(KEYRING, b"payload")
    as_json = json.loads(json.dumps(sealed.to_json_dict()))
    assert set(as_json) == {"key_id", "nonce", "ciphertext"}
    assert base64.b64decode(as_json["nonce"]) == sealed.nonce
    assert Sealed.from_json_dict(as_json) == sealed


def test_malformed_sealed_json_raises() -> None:
    with pytest.raises(UnsealError):
        Sealed.from_json_dict({"key_id": "k", "nonce": "not base64!", "ciphertext": ""})
    with pytest.raises(UnsealError):
        Sealed.from_json_dict({"key_id": "k"})


@pytest.mark.parametrize("index", [0, 5, -1])
def test_modified_ciphertext_raises(index: int) -> None:
    sealed = seal(KEYRING, b"payload", b"context")
    tampered = replace(sealed, ciphertext=_flip(sealed.ciphertext, index))
    with pytest.raises(UnsealError):
        open_sealed(KEYRING, tampered, b"context")


def test_modified_nonce_raises() -> None:
    sealed = seal(KEYRING, b"payload")
    with pytest.raises(UnsealError):
        open_sealed(KEYRING, replace(sealed, nonce=_flip(sealed.nonce)))


def test_other_associated_data_raises() -> None:
    sealed = seal(KEYRING, b"payload", b"relay.filing.employer.v1")
    with pytest.raises(UnsealError):
        open_sealed(KEYRING, sealed, b"relay.filing.insurer.v1")
    with pytest.raises(UnsealError):
        open_sealed(KEYRING, sealed)


def test_unknown_key_id_or_other_keyring_raises() -> None:
    sealed = seal(KEYRING, b"payload")
    with pytest.raises(UnsealError):
        open_sealed(KEYRING, replace(sealed, key_id="k-missing"))
    with pytest.raises(UnsealError):
        open_sealed(OTHER, sealed)


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old = seal(KEYRING, b"sealed before rotation")
    rotated = KEYRING.rotate()
    new = seal(rotated, b"sealed after rotation")
    assert rotated.active_key_id != KEYRING.active_key_id
    assert new.key_id == rotated.active_key_id
    assert old.key_id in rotated.encryption_keys
    assert open_sealed(rotated, old) == b"sealed before rotation"
    assert open_sealed(rotated, new) == b"sealed after rotation"


def test_rotation_keeps_hmac_keys() -> None:
    rotated = KEYRING.rotate().rotate()
    assert len(rotated.encryption_keys) == 3
    assert blind_index(rotated, "resident_code", "12345678901") == blind_index(
        KEYRING, "resident_code", "12345678901"
    )
    assert derive_relay_id(rotated, "seed") == derive_relay_id(KEYRING, "seed")


def test_rotation_does_not_change_the_original() -> None:
    before = dict(KEYRING.encryption_keys)
    KEYRING.rotate()
    assert dict(KEYRING.encryption_keys) == before


def test_blind_index_deterministic_per_value() -> None:
    first = blind_index(KEYRING, "basic_pension_number", "1234-567890")
    assert first == blind_index(KEYRING, "basic_pension_number", "1234-567890")
    assert len(first) == 32
    assert first != blind_index(KEYRING, "basic_pension_number", "1234-567891")


def test_blind_index_differs_per_kind() -> None:
    values = {
        blind_index(KEYRING, kind, "0123456789")
        for kind in ("resident_code", "care_insured:131011", "insured:06139999", "insured:01130012")
    }
    assert len(values) == 4


def test_blind_index_width_insensitive_and_keyed() -> None:
    full_width = blind_index(KEYRING, "insured:06139999", "港いろは１２３４")
    assert full_width == blind_index(KEYRING, "insured:06139999", "港いろは1234")
    assert full_width != blind_index(OTHER, "insured:06139999", "港いろは1234")


def test_separator_in_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        blind_index(KEYRING, "insured\x1fx", "1")


def test_identity_hashes_of_equal_values_differ_across_relay_ids() -> None:
    first = identity_hash(KEYRING, "RAAAA", "kana_name", "ヤマダタロウ")
    assert first == identity_hash(KEYRING, "RAAAA", "kana_name", "ヤマダタロウ")
    assert first != identity_hash(KEYRING, "RBBBB", "kana_name", "ヤマダタロウ")
    assert first != identity_hash(KEYRING, "RAAAA", "kanji_name", "ヤマダタロウ")


def test_candidate_hash_matches_on_the_three_items_only() -> None:
    first = candidate_hash(KEYRING, "ヤマダタロウ", "1980-01-02", "male")
    assert first == candidate_hash(KEYRING, "ヤマダタロウ", "1980-01-02", "male")
    assert first != candidate_hash(KEYRING, "ヤマダタロウ", "1980-01-02", "female")
    assert first != candidate_hash(KEYRING, "ヤマダタロウ", "1980-01-03", "male")
    assert first != identity_hash(KEYRING, "ヤマダタロウ", "1980-01-02", "male")


def test_relay_id_is_deterministic_and_opaque() -> None:
    relay_id = derive_relay_id(KEYRING, "JPS:person-0001")
    assert relay_id == derive_relay_id(KEYRING, "JPS:person-0001")
    assert re.fullmatch(r"R[A-Z2-7]{20}", relay_id)
    assert relay_id != derive_relay_id(KEYRING, "JPS:person-0002")
    assert relay_id != derive_relay_id(OTHER, "JPS:person-0001")
    assert "0001" not in relay_id


def test_ephemeral_keyring_is_deterministic() -> None:
    assert Keyring.ephemeral(b"unit-test seed") == KEYRING
    assert Keyring.ephemeral(b"another seed") != KEYRING


def test_repr_shows_no_key_material() -> None:
    text = repr(KEYRING)
    assert KEYRING.active_key_id in text
    for key in [*KEYRING.encryption_keys.values(), KEYRING.identity_key]:
        assert base64.b64encode(key).decode() not in text
        assert key.hex() not in text


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_created_0600_and_reloaded_equal(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "keyring.json"
    old_umask = os.umask(0)
    try:
        created = Keyring.create_if_missing(path)
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert Keyring.load(path) == created
    assert Keyring.create_if_missing(path) == created
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyring.json"]


def test_rotation_saved_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    created = Keyring.create_if_missing(path)
    old = seal(created, b"before")
    rotated = created.rotate()
    rotated.save(path)
    reloaded = Keyring.load(path)
    assert _mode(path) == 0o600
    assert reloaded == rotated
    assert open_sealed(reloaded, old) == b"before"


def test_keyring_file_holds_only_key_ids_and_base64_keys(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    Keyring.create_if_missing(path).rotate().save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {
        "active_encryption_key_id",
        "encryption_keys",
        "number_index_key",
        "identity_key",
        "candidate_key",
    }
    assert data["active_encryption_key_id"] in data["encryption_keys"]
    assert all(re.fullmatch(r"k[0-9a-f]{8}", key_id) for key_id in data["encryption_keys"])
    assert len(data["encryption_keys"]) == 2
    singles = [data["number_index_key"], data["identity_key"], data["candidate_key"]]
    for text in [*data["encryption_keys"].values(), *singles]:
        assert len(base64.b64decode(text, validate=True)) == KEY_BYTES


def test_malformed_keyring_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(KeyringError):
        Keyring.load(path)
    data = KEYRING.to_json_dict() | {"comment": "plain text"}
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(KeyringError):
        Keyring.load(path)
    short = KEYRING.to_json_dict() | {"identity_key": base64.b64encode(b"short").decode()}
    path.write_text(json.dumps(short), encoding="utf-8")
    with pytest.raises(KeyringError):
        Keyring.load(path)


def test_create_never_clobbers_a_keyring_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keyring.json"
    first = Keyring.create_if_missing(path)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert Keyring.create_if_missing(path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]
