"""The relay's small PKI on disk: a local root, one P-256 signing key and certificate per
participant (role and code), key rotation, revocations (a CRL signed by the root, each entry
dated by the relay time it takes effect) and the registry of provisioned participants."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from groundfloor.config import StackConfig
from trust.rules import ROLES
from trust.signing import SignerId

DEFAULT_NOT_BEFORE = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_NOT_AFTER = datetime(2100, 1, 1, tzinfo=UTC)
"""A provisioned participant's certificate validity unless given: wide, because a simulated
relay calendar may run years before or after the machine's clock."""
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RELAY_CLOCK = ("relay", "relay-clock")
RELAY_EXCHANGE = ("relay", "relay-exchange")
"""The relayed exchange's router: it signs the requests it routes to insurers."""
RELAY_ACCESS_LOG = ("relay", "relay-access-log")
"""The access logs' tree heads: signed with this key of the relay's, never an insurer's."""
PARTICIPANT_URN = "urn:shaho-relay:participant:{role}:{code}"


class PkiError(RuntimeError):
    """A participant that cannot be provisioned, rotated or revoked as asked."""


@dataclass(frozen=True, order=True)
class Participant:
    """A participant of the relay: its role and its public code (the envelopes' filer code)."""

    role: str
    code: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise PkiError(f"unknown role {self.role!r}; roles: {', '.join(ROLES)}")
        if not CODE.match(self.code):
            raise PkiError("a participant code is 1-64 letters, digits, '.', '_' or '-'")


def pki_dir(cfg: StackConfig) -> Path:
    return cfg.state_dir / "pki"


def participant_dir(cfg: StackConfig, participant: Participant) -> Path:
    return pki_dir(cfg) / "participants" / participant.role / participant.code


def registry_path(cfg: StackConfig) -> Path:
    return pki_dir(cfg) / "participants.csv"


def crl_path(cfg: StackConfig) -> Path:
    return pki_dir(cfg) / "revocations.crl.pem"


def generation_path(cfg: StackConfig) -> Path:
    return pki_dir(cfg) / "generation"


def generation(cfg: StackConfig) -> int:
    """A number every change of the participants' keys or revocations raises: the relay reads
    the files again when it differs from the one it read them at."""
    try:
        return int(generation_path(cfg).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _changed(cfg: StackConfig) -> None:
    """Raise the generation (under the PKI's lock)."""
    _write(generation_path(cfg), f"{generation(cfg) + 1}\n".encode())


@contextlib.contextmanager
def _locked(cfg: StackConfig) -> Iterator[None]:
    """One writer of the PKI's files at a time (processes included)."""
    pki_dir(cfg).mkdir(parents=True, exist_ok=True)
    with open(pki_dir(cfg) / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    """Write atomically; a private key is readable by its owner only (0600) from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{path.name} is not an elliptic-curve key")
    return key


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ensure_root(cfg: StackConfig) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The root key and certificate, created once."""
    key_path, cert_path = pki_dir(cfg) / "root.key", pki_dir(cfg) / "root.pem"
    if key_path.exists() and cert_path.exists():
        return load_key(key_path), load_cert(cert_path)
    key, cert = new_root()
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, _cert_pem(cert))
    return key, cert


def new_root() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new root: a P-256 key and its self-signed CA certificate (held in memory)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shaho-relay"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "shaho-relay participants root")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(DEFAULT_NOT_BEFORE).not_valid_after(DEFAULT_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(root_key: ec.EllipticCurvePrivateKey, root: x509.Certificate,
          participant: Participant, public_key: ec.EllipticCurvePublicKey,
          not_before: datetime, not_after: datetime) -> x509.Certificate:
    """A certificate for `public_key` naming the participant's role (OU) and code (CN)."""
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shaho-relay"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, participant.role),
                      x509.NameAttribute(NameOID.COMMON_NAME, participant.code)])
    urn = PARTICIPANT_URN.format(role=participant.role, code=participant.code)
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (x509.CertificateBuilder().subject_name(name).issuer_name(root.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(urn)]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                root_ski), critical=False)
            .sign(root_key, hashes.SHA256()))


def identity_of(cert: x509.Certificate) -> SignerId:
    """The signer a participant certificate names: role, code and serial."""
    role = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    code = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return SignerId(str(role), str(code), cert.serial_number)


def _provision(cfg: StackConfig, participant: Participant, not_before: datetime,
               not_after: datetime) -> x509.Certificate:
    root_key, root = ensure_root(cfg)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue(root_key, root, participant, key.public_key(), not_before, not_after)
    folder = participant_dir(cfg, participant)
    _write(folder / "signing.key", _key_pem(key), private=True)
    _write(folder / "signing.pem", _cert_pem(cert))
    return cert


def list_participants(cfg: StackConfig) -> list[Participant]:
    """The provisioned participants, as the registry lists them (codes and roles only)."""
    try:
        text = registry_path(cfg).read_text()
    except FileNotFoundError:
        return []
    return sorted(Participant(row["role"], row["code"]) for row in csv.DictReader(
        io.StringIO(text)))


def _write_registry(cfg: StackConfig, participants: Iterable[Participant]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["role", "code"])
    writer.writerows((p.role, p.code) for p in sorted(set(participants)))
    _write(registry_path(cfg), out.getvalue().encode())


def ensure_participants(cfg: StackConfig, participants: Iterable[Participant],
                        not_before: datetime = DEFAULT_NOT_BEFORE,
                        not_after: datetime = DEFAULT_NOT_AFTER) -> list[Participant]:
    """Create the root and each participant's key and certificate unless present (a present
    one is left as it is); return the participants created."""
    wanted = sorted(set(participants))
    with _locked(cfg):
        ensure_root(cfg)
        known = set(list_participants(cfg))
        created = []
        for participant in wanted:
            folder = participant_dir(cfg, participant)
            if not (folder / "signing.key").exists() or not (folder / "signing.pem").exists():
                _provision(cfg, participant, not_before, not_after)
                created.append(participant)
        _encryption_keys(cfg, wanted)
        if created or not set(wanted) <= known:
            _write_registry(cfg, known | set(wanted))
            _changed(cfg)
    return created


def _encryption_keys(cfg: StackConfig, participants: list[Participant]) -> None:
    """Each participant's encryption key pair (trust.encryption_keys), made before the
    registry names it: a participant the relay knows can always be sealed to."""
    from trust.encryption_keys import ensure_encryption_keys
    ensure_encryption_keys(cfg, participants)


def add_participant(cfg: StackConfig, participant: Participant, not_before: datetime,
                    not_after: datetime) -> x509.Certificate:
    """Onboard a new participant on a running relay; PkiError if it is already provisioned."""
    with _locked(cfg):
        if participant in list_participants(cfg):
            raise PkiError(f"{participant.role} {participant.code} is already a participant")
        cert = _provision(cfg, participant, not_before, not_after)
        _encryption_keys(cfg, [participant])
        _write_registry(cfg, [*list_participants(cfg), participant])
        _changed(cfg)
    return cert


def rotate(cfg: StackConfig, participant: Participant, not_before: datetime,
           not_after: datetime) -> x509.Certificate:
    """Give the participant a new key and certificate; the old ones are kept under
    `retired/<serial>` and stay valid until their own expiry (the overlap)."""
    with _locked(cfg):
        if participant not in list_participants(cfg):
            raise PkiError(f"{participant.role} {participant.code} is not a participant")
        folder = participant_dir(cfg, participant)
        old = load_cert(folder / "signing.pem")
        if not_before > old.not_valid_after_utc:
            raise PkiError("the new key must be valid before the old one expires")
        retired = folder / "retired"
        serial = f"{old.serial_number:x}"
        _write(retired / f"{serial}.key", (folder / "signing.key").read_bytes(), private=True)
        _write(retired / f"{serial}.pem", _cert_pem(old))
        cert = _provision(cfg, participant, not_before, not_after)
        _changed(cfg)
    return cert


def certificates(cfg: StackConfig, participant: Participant) -> list[x509.Certificate]:
    """Every certificate the participant was given: the current one and the retired ones."""
    folder = participant_dir(cfg, participant)
    paths = [folder / "signing.pem", *sorted((folder / "retired").glob("*.pem"))]
    return [load_cert(p) for p in paths if p.exists()]


def signing_key(cfg: StackConfig, participant: Participant,
                serial: int | None = None) -> tuple[SignerId, ec.EllipticCurvePrivateKey]:
    """The participant's current signing key (or a retired one by serial) and its identity."""
    folder = participant_dir(cfg, participant)
    if serial is None:
        cert_path, key_path = folder / "signing.pem", folder / "signing.key"
    else:
        cert_path = folder / "retired" / f"{serial:x}.pem"
        key_path = folder / "retired" / f"{serial:x}.key"
    return identity_of(load_cert(cert_path)), load_key(key_path)


def revoke(cfg: StackConfig, participant: Participant, effective: datetime,
           serial: int | None = None) -> list[int]:
    """Revoke the participant's certificates (or the one of `serial`) from relay time
    `effective` on: a record of that relay time or later signed by them is refused. The
    root signs the new CRL. Returns the serials revoked."""
    if effective.tzinfo is None:
        raise PkiError("a revocation's relay time needs a UTC offset")
    with _locked(cfg):
        root_key, root = ensure_root(cfg)
        serials = [c.serial_number for c in certificates(cfg, participant)
                   if serial is None or c.serial_number == serial]
        if not serials:
            raise PkiError(f"{participant.role} {participant.code} has no such certificate")
        entries = {e.serial_number: e.revocation_date_utc for e in _crl_entries(cfg)}
        for number in serials:
            entries[number] = min(effective.astimezone(UTC), entries.get(number, effective))
        builder = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
                   .last_update(DEFAULT_NOT_BEFORE).next_update(DEFAULT_NOT_AFTER))
        for number, when in sorted(entries.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(number)
                .revocation_date(when).build())
        crl = builder.sign(root_key, hashes.SHA256())
        _write(crl_path(cfg), crl.public_bytes(serialization.Encoding.PEM))
        _changed(cfg)
    return serials


def _crl_entries(cfg: StackConfig) -> list[x509.RevokedCertificate]:
    try:
        crl = x509.load_pem_x509_crl(crl_path(cfg).read_bytes())
    except FileNotFoundError:
        return []
    return list(crl)
