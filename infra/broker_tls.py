"""The broker's own TLS: a CA of the stack (separate from the participants' PKI) and the node's
certificate, which serves both listeners and is the controller's client certificate.

Made once under `<state>/kafka/tls/` with `cryptography`; private keys are 0600 from the start.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from groundfloor.config import StackConfig
from infra.principals import CONTROLLER

NOT_BEFORE = datetime(2000, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2100, 1, 1, tzinfo=UTC)
NODE_UNIT = "broker"
PRINCIPAL_RULE = rf"RULE:^CN=([A-Za-z0-9-]+),OU={NODE_UNIT},O=shaho-relay$/$1/"
"""`ssl.principal.mapping.rules`: a certificate of this CA's node unit names its principal by
its CN; any other subject matches no rule and is refused."""


def tls_dir(cfg: StackConfig) -> Path:
    return cfg.kafka_ca_path.parent


def node_pem(cfg: StackConfig) -> Path:
    """The node's key and certificate in one PEM file, as Kafka's PEM key store reads it."""
    return tls_dir(cfg) / "node.pem"


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _name(common: str, unit: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shaho-relay"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("shaho-relay broker CA", "broker-ca")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue_node(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, common: str,
               ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and a certificate for 127.0.0.1 and localhost, for serving and as a client."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (x509.CertificateBuilder().subject_name(_name(common, NODE_UNIT))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_tls(cfg: StackConfig) -> bool:
    """Create the broker CA and the node's certificate unless present; True if created."""
    ca_key_path = tls_dir(cfg) / "ca.key"
    if cfg.kafka_ca_path.exists() and ca_key_path.exists() and node_pem(cfg).exists():
        return False
    ca_key, ca = _ca()
    key, cert = issue_node(ca_key, ca, CONTROLLER)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    _write(ca_key_path, _pem(ca_key), private=True)
    _write(node_pem(cfg), _pem(key) + cert.public_bytes(serialization.Encoding.PEM) + ca_pem,
           private=True)
    _write(cfg.kafka_ca_path, ca_pem, private=False)
    return True
