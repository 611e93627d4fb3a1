"""The broker refuses what it should, on the real broker: a wrong password, a connection to the
controller listener without the node's certificate, a participant reading another's topic or
writing one it does not file to, each with a clear error within a bound, crashing nothing."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from confluent_kafka import KafkaError

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import (
    KafkaLogin,
    acl_admin,
    admin_client,
    idempotent_producer,
    read_to_end,
)
from infra import kafka_acl
from infra.broker_tls import node_pem
from infra.principals import OPERATOR, participant, participant_name, participant_topic_prefix
from schemas.topics import CATALOGUE, FILING_EMPLOYER, FILING_MUNICIPALITY
from tests.integration.relay_env import RelayEnv

pytestmark = pytest.mark.integration

BOUND = 30.0  # seconds: a refusal must come well within this, never as a hang
INSURER_A, INSURER_B = ("insurer", "AUTH-INS-A"), ("insurer", "AUTH-INS-B")
EMPLOYER = ("employer", "AUTH-EMP-1")
ONE_OF_EACH = [INSURER_A, INSURER_B, EMPLOYER, ("municipality", "AUTH-MUN-1"),
               ("pension", "AUTH-PEN-1"), ("medical", "AUTH-MED-1")]
RELAY_TOPICS = [t.name for t in CATALOGUE if t.name.startswith("relay.")]


def _notices(relay: RelayEnv, who: tuple[str, str]) -> str:
    return relay.topic(participant_topic_prefix(who[1]) + "notice.v1")


@pytest.fixture
async def participants(stack: StackConfig, relay: RelayEnv) -> AsyncIterator[RelayEnv]:
    """One participant of each role with its grants in the test's namespace, and a notice
    topic addressed to each insurer holding one record."""
    await asyncio.to_thread(kafka_acl.provision, stack, ONE_OF_EACH, relay.topics)
    admin = admin_client(stack.kafka(OPERATOR))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(_notices(relay, p), 1, 1)
                                   for p in (INSURER_A, INSURER_B)])
    finally:
        await admin.close()
    producer = idempotent_producer(relay.cfg.kafka("shaho-tests"))
    await producer.start()
    try:
        for who in (INSURER_A, INSURER_B):
            await producer.send_and_wait(_notices(relay, who), b"for " + who[1].encode(),
                                         key=b"person-token")
    finally:
        await producer.stop()
    yield relay
    await asyncio.to_thread(kafka_acl.revoke_namespace, stack, relay.topics,
                            [participant(*p) for p in ONE_OF_EACH])


def _login(relay: RelayEnv, who: tuple[str, str]) -> KafkaLogin:
    return relay.cfg.kafka(participant_name(*who))


async def _read(login: KafkaLogin, topic: str) -> list[bytes]:
    records = await asyncio.wait_for(read_to_end(login, [TopicPartition(topic, 0)], 20), BOUND)
    return [bytes(r.value) for r in records]


async def _write(login: KafkaLogin, topic: str) -> None:
    producer = idempotent_producer(login)
    await asyncio.wait_for(producer.start(), BOUND)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), BOUND)
    finally:
        await producer.stop()


async def test_a_wrong_password_is_refused_with_an_authentication_error(kafka: KafkaLogin):
    wrong = replace(kafka, password="not-the-password")
    producer = idempotent_producer(wrong)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(producer.start(), BOUND)
    await producer.stop()
    errors: list[KafkaError] = []
    admin = acl_admin(wrong, error_cb=errors.append, log_level=0)
    admin.describe_user_scram_credentials(None)
    deadline = asyncio.get_running_loop().time() + BOUND
    while not errors and asyncio.get_running_loop().time() < deadline:
        await asyncio.to_thread(admin.poll, 0.5)
    assert errors and errors[0].code() == KafkaError._AUTHENTICATION, errors
    assert "Authentication failed" in errors[0].str()
    right = admin_client(kafka)
    await right.start()
    try:
        assert FILING_EMPLOYER.name in await right.list_topics(), "the right password still works"
    finally:
        await right.close()


def _api_versions() -> bytes:
    client = b"shaho-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    return struct.pack(">i", len(body)) + body


def _controller_answers(stack: StackConfig, tls: ssl.SSLContext | None) -> bytes:
    """The first 8 bytes the controller listener answers an ApiVersions request with (fewer
    when it closes the connection); an SSL error raised on the way propagates."""
    with socket.create_connection(("127.0.0.1", stack.controller_port), timeout=10) as raw:
        sock = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
        sock.sendall(_api_versions())
        got = b""
        while len(got) < 8:
            more = sock.recv(8 - len(got))
            if not more:
                break
            got += more
        return got


def _refused(stack: StackConfig, tls: ssl.SSLContext | None) -> bool:
    """Whether the controller listener refuses the request: anything but a Kafka response to
    it (a TLS error or alert, a reset or a close); a timeout is no refusal."""
    try:
        return _controller_answers(stack, tls)[4:8] != struct.pack(">i", 7)
    except TimeoutError:
        return False
    except (ssl.SSLError, ConnectionError):
        return True


async def test_the_controller_listener_refuses_a_client_without_the_nodes_certificate(
    stack: StackConfig
):
    no_certificate = ssl.create_default_context(cafile=str(stack.kafka_ca_path))
    assert await asyncio.to_thread(_refused, stack, no_certificate)
    assert await asyncio.to_thread(_refused, stack, None), "plaintext is refused too"
    node = ssl.create_default_context(cafile=str(stack.kafka_ca_path))
    node.load_cert_chain(node_pem(stack))
    assert not await asyncio.to_thread(_refused, stack, node), "the node itself is answered"


async def test_an_insurer_reads_its_own_topic_and_not_another_insurers(
    participants: RelayEnv,
):
    relay = participants
    a = _login(relay, INSURER_A)
    assert await _read(a, _notices(relay, INSURER_A)) == [b"for AUTH-INS-A"]
    with pytest.raises(TopicAuthorizationFailedError):
        await _read(a, _notices(relay, INSURER_B))


async def test_a_process_serving_both_insurers_reads_each_topic_only_with_its_own_login(
    participants: RelayEnv,
):
    relay = participants
    logins = {INSURER_A: _login(relay, INSURER_A), INSURER_B: _login(relay, INSURER_B)}
    own = await asyncio.gather(*(_read(logins[w], _notices(relay, w)) for w in logins))
    assert own == [[b"for AUTH-INS-A"], [b"for AUTH-INS-B"]]
    crossed = await asyncio.gather(_read(logins[INSURER_A], _notices(relay, INSURER_B)),
                                   _read(logins[INSURER_B], _notices(relay, INSURER_A)),
                                   return_exceptions=True)
    assert all(isinstance(c, TopicAuthorizationFailedError) for c in crossed), crossed


async def test_no_participant_reads_or_writes_any_relay_topic(participants: RelayEnv):
    relay = participants
    for who in ONE_OF_EACH:
        login = _login(relay, who)
        for name in RELAY_TOPICS:
            # a participant that files nowhere (medical) may not even start an idempotent
            # producer: the broker refuses its producer id, an authorisation error too
            with pytest.raises((TopicAuthorizationFailedError, ClusterAuthorizationFailedError)):
                await _write(login, relay.topic(name))
            with pytest.raises(TopicAuthorizationFailedError):
                await _read(login, relay.topic(name))


async def test_an_employer_files_on_its_topic_and_not_on_the_municipalities(
    participants: RelayEnv,
):
    relay = participants
    employer = _login(relay, EMPLOYER)
    await _write(employer, relay.topic(FILING_EMPLOYER.name))
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(employer, relay.topic(FILING_MUNICIPALITY.name))
    # the refusals crashed nothing: the broker still takes the employer's filings
    await _write(employer, relay.topic(FILING_EMPLOYER.name))


def test_every_listener_of_the_running_broker_authenticates(stack: StackConfig):
    props = dict(line.split("=", 1) for line in
                 (stack.kafka_dir / "config" / "server.properties").read_text().splitlines()
                 if "=" in line)
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert protocols == {"CLIENT": "SASL_SSL", "CONTROLLER": "SSL"}
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    supers = props["super.users"].split(";")
    assert "User:ANONYMOUS" not in supers and "User:*" not in supers
    assert (stack.kafka_dir / "config" / "server.properties").stat().st_mode & 0o077 == 0
