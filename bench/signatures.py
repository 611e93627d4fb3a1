"""What checking filers' signatures costs per filing: the linker's decoder on the synthetic
population's records with admission (verify, then decode) and without (decode only), one run.

CPU only, in this process, so the ratio is not blurred by the broker or the database; the
linker's end-to-end figures are in `bench/linker.py`. Run: `python -m bench.signatures`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric import ec

from groundfloor.crypto import Keyring
from relay_linker.linker import Decoder, Incoming
from schemas import FilingRejected, decode_filing, encode
from schemas.topics import Namespace
from synthetic.population import Population, generate
from trust.directory import Signers, certify
from trust.keys import RecordSigner
from trust.pki import (
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    Participant,
    identity_of,
    issue,
    new_root,
)
from trust.rules import role_of_topic
from trust.signing import framed, signed_by, verifies

REPORTS = Path(__file__).with_name("reports")
NAMESPACE = Namespace("bench.")
ROUNDS = 5


def _signers(population: Population) -> tuple[Signers, dict[Participant, RecordSigner]]:
    """An in-memory root that certified every filer of the population."""
    root_key, root = new_root()
    keys, certs = {}, []
    for code, kind in population.filer_kinds.items():
        participant = Participant(kind.value, code)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issue(root_key, root, participant, key.public_key(), DEFAULT_NOT_BEFORE,
                     DEFAULT_NOT_AFTER)
        certs.append(cert)
        keys[participant] = RecordSigner(identity_of(cert), key)
    return Signers(certify(root, certs, {})), keys


def _records(population: Population,
             keys: dict[Participant, RecordSigner]) -> tuple[list[ConsumerRecord], float]:
    """The population's filings as the linker consumes them, signed; and seconds spent signing."""
    records, signing = [], 0.0
    for offset, f in enumerate(population.filings):
        topic, key, value = population.topic_of(f), f.kafka_key(), encode(f)
        role = role_of_topic(topic)
        assert role is not None
        signer = keys[Participant(role, f.filer_code)]
        began = time.perf_counter()
        headers = signer.headers(topic, key, value)
        signing += time.perf_counter() - began
        records.append(ConsumerRecord(
            topic=NAMESPACE.physical(topic), partition=0, offset=offset, timestamp=0,
            timestamp_type=0, key=key, value=value, checksum=None,
            serialized_key_size=len(key), serialized_value_size=len(value),
            headers=headers))
    return records, signing


def _decode_only(records: list[ConsumerRecord]) -> float:
    began = time.perf_counter()
    for r in records:
        with contextlib.suppress(FilingRejected):
            decode_filing(bytes(r.value), NAMESPACE.logical(r.topic))
    return time.perf_counter() - began


def _admitted(decoder: Decoder, records: list[ConsumerRecord]) -> tuple[float, int]:
    began = time.perf_counter()
    admitted = sum(1 for r in records
                   if isinstance(got := decoder(r), Incoming) and got.filing is not None)
    return time.perf_counter() - began, admitted


def _verify_only(records: list[ConsumerRecord], signers: Signers) -> float:
    """ECDSA verification alone over each record's framed bytes."""
    checks = []
    for r in records:
        found = signed_by(r.headers)
        assert found is not None
        certified = signers.lookup(found[0])
        assert certified is not None
        signature = found[1]
        found_key = certified.public_key
        checks.append((found_key, signature, NAMESPACE.logical(r.topic), r.key, r.value))
    began = time.perf_counter()
    for public_key, signature, topic, key, value in checks:
        verifies(public_key, signature, topic, key, value)
    return time.perf_counter() - began


def measure(population: Population) -> dict[str, Any]:
    """Per-filing microseconds of each step, the best of ROUNDS interleaved rounds."""
    signers, keys = _signers(population)
    records, signing = _records(population, keys)
    decoder = Decoder(NAMESPACE, Keyring.ephemeral(b"bench signatures"), signers)
    plain, checked, verify, admitted = [], [], [], 0
    for _ in range(ROUNDS):
        plain.append(_decode_only(records))
        seconds, admitted = _admitted(decoder, records)
        checked.append(seconds)
        verify.append(_verify_only(records, signers))
    n = len(records)
    probe = records[0]
    frame = framed(NAMESPACE.logical(probe.topic), probe.key, probe.value)
    per = {name: min(values) * 1e6 / n for name, values in (
        ("decode_only_us", plain), ("verify_then_decode_us", checked), ("verify_only_us", verify))}
    return {
        "filings": n, "admitted": admitted, "rounds": ROUNDS,
        "mean_value_bytes": statistics.fmean(len(r.value) for r in records),
        "framed_bytes_example": len(frame),
        "sign_us": signing * 1e6 / n,
        **per,
        "signature_overhead_us": per["verify_then_decode_us"] - per["decode_only_us"],
        "ratio": per["verify_then_decode_us"] / per["decode_only_us"],
    }


def markdown(result: dict[str, Any]) -> str:
    s = result["signatures"]
    return "\n".join([
        "# Cost of filers' signatures", "",
        f"Run {result['when']} on {result['machine']}; {s['filings']} filings of the synthetic "
        f"population (seed {result['seed']}, {result['persons']} persons), each signed by its "
        f"filer (ECDSA P-256, SHA-256), mean value {s['mean_value_bytes']:,.0f} bytes; best of "
        f"{s['rounds']} interleaved rounds, one process, no broker or database.", "",
        "| per filing | µs |", "|---|---|",
        f"| sign (filer side) | {s['sign_us']:,.1f} |",
        f"| verify the signature alone | {s['verify_only_us']:,.1f} |",
        f"| linker decode without checking signatures (`decode_filing`) | "
        f"{s['decode_only_us']:,.1f} |",
        f"| linker decode with admission (verify, then decode, then filer code and role) | "
        f"{s['verify_then_decode_us']:,.1f} |",
        f"| cost of the checks | {s['signature_overhead_us']:,.1f} |",
        f"| with ÷ without | {s['ratio']:.2f} |", "",
        f"All {s['admitted']} filings were admitted. The verify-alone row is the signature's "
        "own cost; the difference of the two decode rows adds reading the headers, finding "
        "the certificate and checking filer code and role, and whatever other processes on the "
        "machine took from this one between rounds. The linker's end-to-end rate is in "
        "`linker.md`.", "",
    ])


def run(persons: int = 2400, seed: int = 7, reports: Path = REPORTS) -> dict[str, Any]:
    population = generate(seed, persons, date(2025, 1, 1))
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seed": seed, "persons": persons,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "signatures": measure(population),
    }
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "signatures.json").write_text(json.dumps(result, indent=2) + "\n")
    (reports / "signatures.md").write_text(markdown(result))
    return result


if __name__ == "__main__":
    persons = int(sys.argv[1]) if len(sys.argv) > 1 else 2400
    print(markdown(run(persons)))
