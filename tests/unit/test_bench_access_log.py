"""The access-log bench's pure part runs on a tiny tree, and its proofs are the sizes RFC 9162
gives; the timings themselves are the bench's business, never asserted here."""

import random

from bench.access_log import _trim, leaf_size, proofs


def test_proofs_run_on_a_tiny_tree():
    result = proofs(100, 20, random.Random(1))
    assert result["size"] == 100 and result["samples"] == 20
    assert 1 <= result["inclusion"]["hashes"]["min"] <= result["inclusion"]["hashes"]["max"] <= 7
    assert result["inclusion"]["bytes_max"] == 32 * result["inclusion"]["hashes"]["max"]
    assert 1 <= result["consistency"]["hashes"]["min"] <= result["consistency"]["hashes"]["max"]
    assert result["first_root_s"] >= 0 and result["inclusion"]["verify_us"]["p50"] > 0


def test_a_typical_leaf_and_a_trimmed_profile():
    assert 300 < leaf_size() < 600
    text = ("  1 function calls\n\n   ncalls  tottime  filename:lineno(function)\n"
            "        1    0.001 /x/.venv/lib/python3.11/site-packages/asyncpg/pool.py:1(f)\n")
    assert _trim(text).splitlines() == ["   ncalls  tottime  filename:lineno(function)",
                                        "        1    0.001 asyncpg/pool.py:1(f)"]
