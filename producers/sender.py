"""The thin Kafka adapter that publishes validated filings: an idempotent producer per broker
login, acks=all, each record signed with its filer's key (headers `shaho-signer`,
`shaho-signature`); a filer logs in as its own principal.

Uploading a file twice publishes the same event ids again; the relay applies each id once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from uuid import UUID

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from groundfloor.kafka_clients import KafkaLogin, idempotent_producer
from producers.routing import Outgoing, route
from schemas import Filing
from schemas.topics import Namespace
from trust.keys import FilerKeys
from trust.rules import role_of_topic

MAX_REQUEST_BYTES = 1024 * 1024  # aiokafka's default; larger filings are refused by validation
LINGER_MS = 5

Progress = Callable[[int], None]
Logins = Callable[[str, str], KafkaLogin]
"""The broker login of filer (role, code); raises MissingLogin for one this machine lacks."""


class MissingLogin(RuntimeError):
    """No broker credentials for a filer on this machine; nothing was published."""


def one_login(login: KafkaLogin) -> Logins:
    """Every filer through one login: the demo, the tests and the bench, which play them all."""
    return lambda role, code: login


@dataclass(frozen=True)
class Delivery:
    """Where the broker stored one filing (`topic` is the broker's name)."""

    event_id: UUID
    filing_reference: str
    topic: str
    partition: int
    offset: int


class PublishFailed(RuntimeError):
    """Some filings were not acknowledged; publishing the same file again is safe."""

    def __init__(self, delivered: int, total: int, cause: BaseException) -> None:
        super().__init__(f"{delivered} of {total} filings acknowledged; then: {cause!r}")
        self.delivered = delivered
        self.total = total


class FilingPublisher:
    """Publishes filings to the ingestion topics of `namespace`, each signed by its filer's
    key from `keys` and sent under its filer's broker login from `logins` (one producer per
    login, connected before anything is sent); use as `async with FilingPublisher(...)`."""

    def __init__(self, logins: Logins | KafkaLogin, namespace: Namespace, keys: FilerKeys,
                 client_id: str = "shaho-publish") -> None:
        self._namespace, self._keys, self._client_id = namespace, keys, client_id
        self._logins = one_login(logins) if isinstance(logins, KafkaLogin) else logins
        self._producers: dict[str | None, AIOKafkaProducer] = {}

    async def start(self) -> None:
        """Nothing to do before the first batch: producers connect for their filers."""

    async def stop(self) -> None:
        for producer in self._producers.values():
            await producer.stop()
        self._producers.clear()

    async def _producer(self, topic: str, filer_code: str) -> AIOKafkaProducer:
        login = self._logins(role_of_topic(topic) or "", filer_code)
        found = self._producers.get(login.principal)
        if found is None:
            found = idempotent_producer(login, client_id=self._client_id, acks="all",
                                        max_request_size=MAX_REQUEST_BYTES,
                                        linger_ms=LINGER_MS)
            try:
                await found.start()
            except BaseException:
                await found.stop()
                raise
            self._producers[login.principal] = found
        return found

    async def __aenter__(self) -> FilingPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(
        self, filings: Iterable[Filing | Outgoing], progress: Progress | None = None
    ) -> list[Delivery]:
        """Send every filing, in order, and await every acknowledgement.

        `progress(n)` is called with the number acknowledged so far. A retraction must come
        as an `Outgoing` (its topic depends on the filer). PublishFailed if any send fails.
        """
        records = [item if isinstance(item, Outgoing) else route(item) for item in filings]
        producers = [await self._producer(r.topic, r.filing.filer_code) for r in records]
        signed = [self._keys.headers(r.topic, r.key, r.value, r.filing.filer_code)
                  for r in records]
        done = 0

        def acknowledged(_: asyncio.Future) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done)

        futures = []
        try:
            for record, headers, producer in zip(records, signed, producers, strict=True):
                topic = self._namespace.physical(record.topic)
                future = await producer.send(topic, record.value, key=record.key,
                                             headers=headers)
                future.add_done_callback(acknowledged)
                futures.append(future)
            metadata = await asyncio.gather(*futures)
        except Exception as exc:
            await asyncio.gather(*futures, return_exceptions=True)
            raise PublishFailed(_succeeded(futures), len(records), exc) from exc
        return [_delivery(r, m) for r, m in zip(records, metadata, strict=True)]


def _succeeded(futures: list[asyncio.Future]) -> int:
    return sum(1 for f in futures if f.done() and not f.cancelled() and f.exception() is None)


def _delivery(record: Outgoing, metadata: RecordMetadata) -> Delivery:
    filing = record.filing
    return Delivery(
        event_id=filing.event_id,
        filing_reference=filing.filing_reference,
        topic=metadata.topic,
        partition=metadata.partition,
        offset=metadata.offset,
    )
