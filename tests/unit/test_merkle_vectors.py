"""The standalone verifier against an independent implementation's vectors: every inclusion and
consistency case of transparency-dev/merkle's testdata (tests/fixtures/merkle_vectors), the
happy paths accepted and every broken proof, root, size or leaf refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from access_log.verifier import ProofRefused, verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "merkle_vectors"


def _cases(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _proof(case: dict) -> list[bytes]:
    return [_b64(p) for p in case["proof"] or []]


def _name(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _expect(refused: bool, verify, *args) -> None:
    if refused:
        with pytest.raises(ProofRefused):
            verify(*args)
    else:
        assert verify(*args) is None


def test_every_vector_file_is_there():
    inclusion, consistency = _cases("inclusion"), _cases("consistency")
    assert len(inclusion) == 98 and len(consistency) == 98
    cases = [json.loads(p.read_text()) for p in inclusion + consistency]
    assert sum(not c["wantErr"] for c in cases) == 12 and sum(c["wantErr"] for c in cases) == 184


@pytest.mark.parametrize("path", _cases("inclusion"), ids=_name)
def test_inclusion_vector(path: Path):
    case = json.loads(path.read_text())
    _expect(case["wantErr"], verify_inclusion, case["leafIdx"], case["treeSize"],
            _b64(case["leafHash"]), _proof(case), _b64(case["root"]))


@pytest.mark.parametrize("path", _cases("consistency"), ids=_name)
def test_consistency_vector(path: Path):
    case = json.loads(path.read_text())
    _expect(case["wantErr"], verify_consistency, case["size1"], case["size2"], _proof(case),
            _b64(case["root1"]), _b64(case["root2"]))
