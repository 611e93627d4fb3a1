"""A broker login: SCRAM-SHA-512 over TLS for a principal, plaintext only without one (the
bench's baseline broker), and its password never in its repr or str."""

from __future__ import annotations

from pathlib import Path

from groundfloor.kafka_clients import KafkaLogin


def test_a_principals_login_is_scram_over_tls_and_hides_its_password():
    login = KafkaLogin("127.0.0.1:19092", "insurer.06135123", "s3cret-pw", Path("/ca.pem"))
    assert login.librdkafka() == {
        "bootstrap.servers": "127.0.0.1:19092", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "insurer.06135123",
        "sasl.password": "s3cret-pw", "ssl.ca.location": "/ca.pem"}
    assert "s3cret-pw" not in repr(login) and "s3cret-pw" not in str(login)
    assert str(login) == "insurer.06135123@127.0.0.1:19092"


def test_without_a_principal_the_login_is_plaintext():
    plain = KafkaLogin("127.0.0.1:59094")
    assert plain.settings() == {"bootstrap_servers": "127.0.0.1:59094"}
    assert plain.librdkafka() == {"bootstrap.servers": "127.0.0.1:59094"}
