"""The topic catalogue: every Kafka topic the relay uses, its key, partitions and policies.

It is the single source for `shaho topics`, the start-up topic creation and the AsyncAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PARTITIONS = 6
MAX_MESSAGE_BYTES = 1_000_000
DLQ_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    """One topic: its name, what its key means and how the broker keeps it."""

    name: str
    key: str
    key_meaning: str
    summary: str
    message: str
    message_version: int = 1
    partitions: int = PARTITIONS
    cleanup_policy: str = "delete"
    retention_ms: int = 4 * WEEK_MS
    max_message_bytes: int = MAX_MESSAGE_BYTES
    dlq: str | None = None
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        """The topic-level broker configuration."""
        cfg = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes),
        }
        cfg.update(self.extra_config)
        return cfg


@dataclass(frozen=True)
class Namespace:
    """A prefix put before every topic name (empty by default): lets several relays, or
    isolated test runs, share one broker. Given to whatever names topics on the broker."""

    prefix: str = ""

    def physical(self, topic: Topic | str) -> str:
        """The broker's name for the catalogue topic `topic` (a Topic or its name)."""
        return self.prefix + (topic if isinstance(topic, str) else topic.name)

    def logical(self, broker_name: str) -> str:
        """The catalogue name of the broker topic `broker_name`."""
        p = self.prefix
        return broker_name[len(p):] if p and broker_name.startswith(p) else broker_name


INGESTION_KEY = "<filer code>:<person token>"
INGESTION_KEY_MEANING = (
    "the filer's public code and the opaque token the filer assigns to the person; "
    "orders each filer's records about one person, never carries a secret number"
)


def _ingestion(name: str, filer: str) -> Topic:
    return Topic(
        name=name,
        key=INGESTION_KEY,
        key_meaning=INGESTION_KEY_MEANING,
        summary=f"Filings published by {filer}: every event type of that kind of filer.",
        message="Filing",
        dlq=f"{name}.dlq",
    )


def _dlq(source: Topic) -> Topic:
    return Topic(
        name=f"{source.name}.dlq",
        key="<filer code>",
        key_meaning="the filer's public code when it could be read, else 'unknown'",
        summary=(
            f"Dead letters of {source.name}: reason, source offset and the original "
            "bytes encrypted."
        ),
        message="DeadLetter",
        max_message_bytes=DLQ_MAX_MESSAGE_BYTES,
        retention_ms=8 * WEEK_MS,
    )


FILING_PENSION = _ingestion("filing.pension.v1", "the Japan Pension Service (日本年金機構)")
FILING_EMPLOYER = _ingestion("filing.employer.v1", "employers (事業主)")
FILING_MUNICIPALITY = _ingestion("filing.municipality.v1", "municipalities (市町村)")
FILING_INSURER = _ingestion("filing.insurer.v1", "insurers (保険者)")

LINK_CHANGE = Topic(
    name="relay.link-change.v1",
    key="<relay id>",
    key_meaning="the person's opaque relay id; orders one person's link changes",
    summary="Changes to the relay database of links; carries no insured number.",
    message="LinkChanged",
    dlq="relay.link-change.v1.dlq",
)
LINK_CHANGE_V2 = Topic(
    name="relay.link-change.v2",
    key="<relay id>",
    key_meaning="the person's opaque relay id; orders one person's link changes",
    summary=(
        "Relay-internal: link changes for the relay's own processors, with why a link ends, "
        "the pension type, the insured person and the type-3 spouse; no insured number. "
        "The relay clock's ticks too, forwarded by the linker."
    ),
    message="LinkChanged",
    message_version=2,
    dlq="relay.link-change.v2.dlq",
)
AGE_MILESTONE = Topic(
    name="relay.age-milestone.v1",
    key="<relay id>",
    key_meaning="the person's opaque relay id; orders one person's milestones",
    summary=(
        "Relay-internal: a person's age milestones (20, 60, 65, 70, 75) announced when the "
        "relay clock reaches their date; the dates reveal birth dates. The relay clock's "
        "ticks too, forwarded by the linker."
    ),
    message="AgeMilestoneReached",
    dlq="relay.age-milestone.v1.dlq",
)
PERSON_CHANGE = Topic(
    name="relay.person-change.v1",
    key="<relay id>",
    key_meaning="the person's opaque relay id; orders one person's changes",
    summary=(
        "Relay-internal: a person registered, their birth date changed, their death "
        "recorded or retracted, or their registration retracted; it carries birth dates, so "
        "only the relay's own processors read it. The relay clock's ticks too, forwarded by "
        "the linker."
    ),
    message="PersonChanged",
    partitions=LINK_CHANGE_V2.partitions,
    dlq="relay.person-change.v1.dlq",
)
FILING_OUTCOME = Topic(
    name="relay.filing-outcome.v1",
    key="<filer code>",
    key_meaning="the filer's public code; a filer reads its own outcomes in order",
    summary=(
        "Relay-internal: one outcome per filing (accepted, parked or refused with reasons and "
        "receipt id), in clear for the relay's own processors; filers read their outcomes "
        "sealed on outcome.<kind>.v1."
    ),
    message="FilingOutcome",
    dlq="relay.filing-outcome.v1.dlq",
)


def _outcome_topic(kind: str) -> Topic:
    return Topic(
        name=f"outcome.{kind}.v1",
        key="<filer code>",
        key_meaning=f"the {kind}'s public code; a filer reads its own outcomes in order",
        summary=(
            f"Each {kind}'s filing outcomes, sealed to that filer's encryption key: every "
            f"{kind} may read the topic, only the addressee opens a record."
        ),
        message="SealedOutcome",
    )


OUTCOME_EMPLOYER = _outcome_topic("employer")
OUTCOME_MUNICIPALITY = _outcome_topic("municipality")
OUTCOME_INSURER = _outcome_topic("insurer")
OUTCOME_PENSION = _outcome_topic("pension")
OUTCOME_TOPICS: dict[str, Topic] = {
    "employer": OUTCOME_EMPLOYER,
    "municipality": OUTCOME_MUNICIPALITY,
    "insurer": OUTCOME_INSURER,
    "pension": OUTCOME_PENSION,
}
"""The sealed outcome topic of each kind of filer (`schemas.relay.OutcomeAddressee`)."""

OUTBOX_POSITION = Topic(
    name="relay.outbox-position.v1",
    key="<lane>",
    key_meaning=("an outbox lane: the output topic and partition (`<topic>:<partition>`) "
                 "whose records it orders"),
    summary=(
        "The outbox publisher's position per lane, written inside the same Kafka transaction "
        "as the rows it published; compacted, read back on start."
    ),
    message="OutboxPosition",
    partitions=1,
    cleanup_policy="compact",
    retention_ms=-1,
)

RELAY_CLOCK = Topic(
    name="clock.relay-time.v1",
    key="relay-clock",
    key_meaning="always 'relay-clock': one partition, one sequence of ticks",
    summary=(
        "The relay clock's ticks, for every participant to read: the relay time every "
        "deadline of the relay is judged by. The same ticks are written onto every partition "
        "of the topics participants send to the relay."
    ),
    message="RelayTick",
    partitions=1,
    extra_config={"message.timestamp.type": "LogAppendTime"},
)
CLOCK_SOURCE = Topic(
    name="relay.clock-source.v1",
    key="relay-clock",
    key_meaning="always 'relay-clock'",
    summary=(
        "Internal to the relay clock: an empty record per production tick, whose broker "
        "append time (LogAppendTime) is the tick's relay time."
    ),
    message="empty",
    partitions=1,
    retention_ms=3600 * 1000,
    extra_config={"message.timestamp.type": "LogAppendTime"},
)

INGESTION_TOPICS: tuple[Topic, ...] = (
    FILING_PENSION,
    FILING_EMPLOYER,
    FILING_MUNICIPALITY,
    FILING_INSURER,
)

EXCHANGE_REQUEST = Topic(
    name="exchange.request.v1",
    key="<asker code>:<request id>",
    key_meaning="the asking insurer's public code and its id for the request",
    summary=(
        "Insurers' requests about their own members (the relayed exchange), signed by the "
        "asker; read by the relay only. The relay clock's ticks are written here too."
    ),
    message="ExchangeRequest",
    dlq="exchange.request.v1.dlq",
)
EXCHANGE_ANSWER = Topic(
    name="exchange.answer.v1",
    key="<provider code>:<routed id>",
    key_meaning="the answering insurer's public code and the routed request's id",
    summary=(
        "Insurers' answers to the requests the relay routed to them, signed by the provider "
        "and sealed for the asker; read by the relay only. The relay clock's ticks too."
    ),
    message="ExchangeAnswer",
    dlq="exchange.answer.v1.dlq",
)
ACCESS_LOG_COSIGNATURE = Topic(
    name="access-log.cosignature.v1",
    key="<witness code>:<log>:<month>",
    key_meaning="the witnessing insurer's public code, the access log and the month its head "
                "is of",
    summary=(
        "Witnesses' answers to the access logs' tree heads the relay sent them: each head "
        "cosigned with the witness's own key, or refused with why; signed by the witness, "
        "read by the relay only. The relay clock's ticks too."
    ),
    message="HeadCosignature",
    dlq="access-log.cosignature.v1.dlq",
)
EXCHANGE_SETTLEMENT = Topic(
    name="exchange.settlement.v1",
    key="<sender code>:<settlement id>",
    key_meaning="the base-date insurer's public code and its id for the settlement",
    summary=(
        "Settlement instructions of the 合算 (高額医療・高額介護合算): the base-date insurer "
        "tells each paying insurer its share, the amount sealed for the payer; signed by the "
        "sender, read by the relay only. The relay clock's ticks too."
    ),
    message="SettlementInstruction",
    dlq="exchange.settlement.v1.dlq",
)
EXCHANGE_TOPICS: tuple[Topic, ...] = (EXCHANGE_REQUEST, EXCHANGE_ANSWER, ACCESS_LOG_COSIGNATURE,
                                      EXCHANGE_SETTLEMENT)
"""What insurers send the exchange router: requests, answers, cosignatures of heads and
settlement instructions."""
CLOCKED_TOPICS: tuple[Topic, ...] = (*INGESTION_TOPICS, *EXCHANGE_TOPICS)
"""Every topic participants send to the relay: the relay clock writes its ticks onto each
partition of them."""
RELAY_TOPICS: tuple[Topic, ...] = (LINK_CHANGE, LINK_CHANGE_V2, AGE_MILESTONE, PERSON_CHANGE,
                                   FILING_OUTCOME)
FORWARDED_TICK_TOPICS: tuple[Topic, ...] = (LINK_CHANGE_V2, AGE_MILESTONE, PERSON_CHANGE)
"""The relay-internal topics a downstream processor reads in relay-clock order: the linker
writes the relay clock's tick k onto each of their partitions when it applies ClockAdvanced(k),
after every message of earlier relay time (consumers.clocked releases them)."""

CATALOGUE: tuple[Topic, ...] = (
    *(t for src in (*INGESTION_TOPICS, *EXCHANGE_TOPICS, *RELAY_TOPICS)
      for t in (src, _dlq(src))),
    *OUTCOME_TOPICS.values(),
    OUTBOX_POSITION,
    RELAY_CLOCK,
    CLOCK_SOURCE,
)

BY_NAME: dict[str, Topic] = {t.name: t for t in CATALOGUE}

PARTICIPANT_PREFIX = "participant."
PARTICIPANT_PARTITIONS = 3
CHANGES_STREAM = "changes.v1"
NOTICES = "notices.v1"


@dataclass(frozen=True)
class ParticipantStream:
    """One stream addressed to every participant: `participant.<code>.<stream>`."""

    stream: str
    message: str
    key: str
    key_meaning: str
    summary: str
    partitions: int = PARTITIONS
    dead_letters: bool = False
    """Whether its refused records go to `<topic>.dlq` (a stream of dead letters itself)."""
    is_dlq: bool = False


PARTICIPANT_STREAMS: tuple[ParticipantStream, ...] = (
    ParticipantStream(
        "requests.v1", "RoutedRequest", "<routed id>", "routed id: orders what concerns it",
        "Requests the relay routes to this insurer, signed by the relay, the insurer's own "
        "numbers sealed for it; only this participant reads them.",
    ),
    ParticipantStream(
        "replies.v1", "ExchangeReply", "<request id>", "request id: orders what concerns it",
        "The relay's replies to this insurer's requests, one per person: forwarded, refused "
        "with its reason, answered (sealed for it) or unavailable.",
    ),
    ParticipantStream(
        CHANGES_STREAM, "ChangeNotice", "<person pseudonym for the recipient>",
        "lowercase hex HMAC of the recipient's code and the person under a relay key: "
        "orders the notices about one person at this recipient, names them to it alone",
        "Change notices for one insurer (or the Japan Pension Service): a death, a change "
        "of name or address, or the end of a coverage of a person it knows or knew, each "
        "naming the person by the recipient's own number, sealed for it.",
        PARTICIPANT_PARTITIONS,
    ),
    ParticipantStream(
        "heads.v1", "TreeHeadForWitness", "<log>:<month>", "the access log and month the head "
        "is of: orders a month's heads",
        "The access logs' tree heads the relay asks this insurer to witness, each with the "
        "consistency proof from the last head of its month the insurer cosigned; signed by "
        "the relay.",
        1,
    ),
)
"""The streams addressed to one participant, in this order: the requests routed to it, the
replies to its own requests, the change notices about persons it knows, the access logs' heads
it witnesses."""
NOTICES_STREAM = ParticipantStream(
    NOTICES, "RelayNotice", "<person pseudonym for the recipient>",
    "lowercase hex HMAC of the recipient's code and the person under a relay key: orders the "
    "notices about one person at this recipient, names them to it alone",
    "Notices of the relay's notification rules for one insurer, the Japan Pension Service or "
    "one municipality: reminders to file, double-enrolment notices and age-milestone notices, "
    "and the follow-ups that close, withdraw or correct a reminder, each naming the person by "
    "the recipient's own number, sealed for it.",
    PARTICIPANT_PARTITIONS,
)
"""The notices stream: addressed to every insurer, the Japan Pension Service and every
municipality (a municipality has no other participant stream), so apart from
`PARTICIPANT_STREAMS`."""


PRIVATE_PREFIX = "private."
"""An insurer's private topics (its receipts): outside `participant.`, which the relay's
outbox publisher may write, so that no relay principal has any grant on them."""


def _participant_topic(code: str, s: ParticipantStream,
                       prefix: str = PARTICIPANT_PREFIX) -> Topic:
    name = f"{prefix}{code}.{s.stream}"
    dlq = {"max_message_bytes": DLQ_MAX_MESSAGE_BYTES, "retention_ms": 8 * WEEK_MS} \
        if s.is_dlq else {}
    return Topic(name=name, key=s.key, key_meaning=s.key_meaning, summary=s.summary,
                 message=s.message, partitions=s.partitions,
                 dlq=f"{name}.dlq" if s.dead_letters else None, **dlq)


def _checked(code: str) -> str:
    if not code or "." in code or "{" in code or "}" in code:
        raise ValueError("a participant code with topics of its own holds no '.'")
    return code


RECEIPTS = "receipts.v1"
RECEIPTS_STREAM = ParticipantStream(
    RECEIPTS, "ReceiptRecord", "<insurer number>:<first receipt id>",
    "the insurer's number and the id of the receipt first sent (its own, or the one a "
    "correction replaces): orders a receipt and its corrections, carries no number of a person",
    "The insurer's own receipts for the 合算 (高額医療・高額介護合算): medical receipts and "
    "months of care self-pay, written and read by this insurer's principal alone and loaded "
    "into its member store; the relay never reads them.",
    PARTICIPANT_PARTITIONS,
    dead_letters=True,
)
"""The receipts stream: an insurer's private input, apart from `PARTICIPANT_STREAMS` (the
Japan Pension Service and the municipalities have none, and test namespaces make it only
where a test asks for it)."""
RECEIPTS_DLQ_STREAM = ParticipantStream(
    RECEIPTS + ".dlq", "DeadLetter", "<insurer number>",
    "the insurer's number",
    "Dead letters of the insurer's receipts topic: reason, source offset and the original "
    "bytes sealed to the insurer's own encryption key (HPKE); written and read by this "
    "insurer's principal alone.",
    1,
    is_dlq=True,
)


SETTLEMENTS = "settlements.v1"
SETTLEMENTS_STREAM = ParticipantStream(
    SETTLEMENTS, "RoutedSettlement", "<person pseudonym for the recipient>",
    "lowercase hex HMAC of the payer's code and the person under a relay key: orders the "
    "settlements of one person at this payer, names them to it alone",
    "Settlements of the 合算 this insurer is told to pay, routed and signed by the relay: the "
    "person named by the payer's own number sealed for it, the amount sealed by the base-date "
    "insurer for it; only this participant reads them.",
    PARTICIPANT_PARTITIONS,
)
"""The settlements stream: addressed to insurers that pay a share of the 合算, apart from
`PARTICIPANT_STREAMS` (test namespaces make it only where a test asks for it)."""


NOTICES_TEMPLATE = _participant_topic("{code}", NOTICES_STREAM)
SETTLEMENTS_TEMPLATE = _participant_topic("{code}", SETTLEMENTS_STREAM)
RECEIPTS_TEMPLATES = (_participant_topic("{code}", RECEIPTS_STREAM, PRIVATE_PREFIX),
                      _participant_topic("{code}", RECEIPTS_DLQ_STREAM, PRIVATE_PREFIX))
"""The receipts topic and its dead letters, `{code}` for the insurer's number."""
PARTICIPANT_TEMPLATES: tuple[Topic, ...] = (
    *(_participant_topic("{code}", s) for s in PARTICIPANT_STREAMS), NOTICES_TEMPLATE,
    *RECEIPTS_TEMPLATES, SETTLEMENTS_TEMPLATE)
"""The per-participant topics, their names with `{code}` for the participant's code: the
AsyncAPI document describes them as parameterised channels."""


def participant_topics(code: str) -> tuple[Topic, ...]:
    """The topics addressed to participant `code` (an insurer or the Japan Pension Service),
    which only that participant's principal reads (and the lag monitor, for the records'
    timestamps alone): (requests, replies, changes, heads). Its
    notices topic, which municipalities have too, is `notices_topic`."""
    return tuple(_participant_topic(_checked(code), s) for s in PARTICIPANT_STREAMS)


def requests_topic(code: str) -> Topic:
    """`participant.<code>.requests.v1`: the requests the relay routes to `code`."""
    return _participant_topic(_checked(code), PARTICIPANT_STREAMS[0])


def replies_topic(code: str) -> Topic:
    """`participant.<code>.replies.v1`: the relay's replies to `code`'s own requests."""
    return _participant_topic(_checked(code), PARTICIPANT_STREAMS[1])


def changes_topic(code: str) -> Topic:
    """`participant.<code>.changes.v1`: the change notices addressed to `code`."""
    return _participant_topic(_checked(code), PARTICIPANT_STREAMS[2])


def heads_topic(code: str) -> Topic:
    """`participant.<code>.heads.v1`: the access logs' heads `code` witnesses."""
    return _participant_topic(_checked(code), PARTICIPANT_STREAMS[3])


def notices_topic(code: str) -> Topic:
    """`participant.<code>.notices.v1`: the relay notices addressed to `code` (an insurer, the
    Japan Pension Service or a municipality)."""
    return _participant_topic(_checked(code), NOTICES_STREAM)


def settlements_topic(code: str) -> Topic:
    """`participant.<code>.settlements.v1`: the settlements of the 合算 `code` is to pay."""
    return _participant_topic(_checked(code), SETTLEMENTS_STREAM)


def receipts_topics(code: str) -> tuple[Topic, Topic]:
    """`private.<code>.receipts.v1` and its `.dlq`: insurer `code`'s own receipts and the
    dead letters of those it refused."""
    return (_participant_topic(_checked(code), RECEIPTS_STREAM, PRIVATE_PREFIX),
            _participant_topic(_checked(code), RECEIPTS_DLQ_STREAM, PRIVATE_PREFIX))


def topic(name: str) -> Topic:
    """The catalogue entry for `name`, or the per-participant topic it names; KeyError names
    the unknown topic."""
    if name in BY_NAME:
        return BY_NAME[name]
    places = ((PARTICIPANT_PREFIX, (*PARTICIPANT_STREAMS, NOTICES_STREAM, SETTLEMENTS_STREAM)),
              (PRIVATE_PREFIX, (RECEIPTS_STREAM, RECEIPTS_DLQ_STREAM)))
    for prefix, streams in places:
        if not name.startswith(prefix):
            continue
        for s in streams:
            if name.endswith("." + s.stream):
                code = name[len(prefix):-len(s.stream) - 1]
                if code and "." not in code and "{" not in code and "}" not in code:
                    return _participant_topic(code, s, prefix)
    raise KeyError(name)
