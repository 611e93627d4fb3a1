"""The relay's view of its participants: signer identity → certificate key and validity, and
the revocations, read from the PKI's files and read again when they change, so a participant
added, rotated or revoked on a running relay is seen without a restart."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from groundfloor.config import StackConfig
from trust.pki import (
    certificates,
    crl_path,
    generation,
    identity_of,
    list_participants,
    load_cert,
    pki_dir,
    registry_path,
)
from trust.rules import Refusal, Validity, standing
from trust.signing import SignerId

log = logging.getLogger("shaho.trust")


@dataclass(frozen=True)
class Certified:
    """A signer the root certified: its public key and when it may sign."""

    signer: SignerId
    public_key: ec.EllipticCurvePublicKey
    validity: Validity


def chain_ok(root: x509.Certificate, leaf: x509.Certificate) -> bool:
    """Whether `leaf` is a P-256 participant certificate the root issued (the X.509 path
    validator, at the leaf's own start of validity: its validity at a relay time is
    `rules.standing`'s)."""
    verifier = (PolicyBuilder().store(Store([root])).time(leaf.not_valid_before_utc)
                .build_client_verifier())
    try:
        verifier.verify(leaf, [])
    except VerificationError:
        return False
    key = leaf.public_key()
    return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)


def revocations(root: x509.Certificate, path: Path) -> dict[int, datetime]:
    """serial → relay time the revocation takes effect, from a CRL the root signed."""
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except FileNotFoundError:
        return {}
    public_key = root.public_key()
    if crl.issuer != root.subject or not isinstance(public_key, ec.EllipticCurvePublicKey) \
            or not crl.is_signature_valid(public_key):
        raise ValueError("the revocation list is not signed by the participants' root")
    return {entry.serial_number: entry.revocation_date_utc for entry in crl}


def certify(root: x509.Certificate, certs: list[x509.Certificate],
            revoked: dict[int, datetime]) -> dict[SignerId, Certified]:
    """The signers among `certs` that the root issued, with their validity and revocation."""
    signers: dict[SignerId, Certified] = {}
    for cert in certs:
        if not chain_ok(root, cert):
            log.error("a certificate that is not the root's was ignored")
            continue
        key = cert.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        signer = identity_of(cert)
        signers[signer] = Certified(signer, key, Validity(
            cert.not_valid_before_utc, cert.not_valid_after_utc,
            revoked.get(cert.serial_number)))
    return signers


class Signers:
    """Who may sign, held in memory: the base of the directory, and what unit tests use."""

    def __init__(self, signers: dict[SignerId, Certified] | None = None) -> None:
        self._signers = dict(signers or {})

    def refresh(self, force: bool = False) -> None:
        """Nothing to read again in memory."""

    def held(self) -> Signers:
        """The signers as they stand now, kept as they are while records are checked against
        them (in memory, these very signers)."""
        return self

    def lookup(self, signer: SignerId) -> Certified | None:
        """The certified signer, after reading the files again if they changed (a signer
        nobody certified costs no more than that check, however many records name one)."""
        self.refresh()
        return self._signers.get(signer)

    def keys_of(self, role: str, code: str) -> list[Certified]:
        """Every certified key of participant (`role`, `code`), the newest first."""
        self.refresh()
        return sorted((c for s, c in self._signers.items() if (s.role, s.code) == (role, code)),
                      key=lambda c: -c.signer.serial)

    def latest(self, role: str, code: str) -> Certified | None:
        """The certified key of participant (`role`, `code`) with the highest serial."""
        keys = self.keys_of(role, code)
        return keys[0] if keys else None

    def standing(self, signer: SignerId, relay_time: datetime) -> Refusal | None:
        """Why `signer` may not sign a record of `relay_time`, or None when it may."""
        self.refresh()
        found = self._signers.get(signer)
        if found is None:
            return Refusal.UNKNOWN_SIGNER
        return standing(found.validity, relay_time)


class Directory(Signers):
    """Every certified participant key of the stack's PKI, read from its files. Every change
    made through `trust.pki` raises its generation, written after the files, which says when
    to read them again: a signer nobody certified costs a look at three files, no reload."""

    def __init__(self, cfg: StackConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self._seen: tuple[int, float, float] | None = None

    def _stamp(self) -> tuple[int, float, float]:
        def mtime(path: Path) -> float:
            try:
                return path.stat().st_mtime_ns
            except FileNotFoundError:
                return 0.0
        return (generation(self.cfg), mtime(registry_path(self.cfg)),
                mtime(crl_path(self.cfg)))

    def held(self) -> Signers:
        """The signers as the files say now, not read again: a batch of records checked
        against them costs one look at the files, not one per record."""
        self.refresh()
        return Signers(self._signers)

    def refresh(self, force: bool = False) -> None:
        """Read the files again when the PKI's generation, the registry or the revocation
        list changed."""
        stamp = self._stamp()
        if stamp == self._seen and not force:
            return
        root = load_cert(pki_dir(self.cfg) / "root.pem")
        revoked = revocations(root, crl_path(self.cfg))
        certs = [cert for participant in list_participants(self.cfg)
                 for cert in certificates(self.cfg, participant)
                 if _names(cert) == (participant.role, participant.code)]
        signers = certify(root, certs, revoked)
        self._signers, self._seen = signers, stamp


def _names(cert: x509.Certificate) -> tuple[str, str]:
    signer = identity_of(cert)
    return signer.role, signer.code
