"""`shaho participants`: list the relay's participants (codes and roles, never keys), onboard
one on a running relay, rotate its key, revoke it from a relay time on."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from groundfloor.config import StackConfig
from infra import kafka_acl
from infra.principals import FILER_ROLES, OPERATOR, participant_name
from infra.topics_admin import apply_participant_topics
from schemas.topics import Namespace
from shaho.registry import Registry, print_lines
from synthetic.population import generate
from trust.encryption_keys import ensure_encryption_keys, load_public_key
from trust.pki import (
    DEFAULT_NOT_AFTER,
    DEFAULT_NOT_BEFORE,
    RELAY_CLOCK,
    RELAY_EXCHANGE,
    Participant,
    PkiError,
    add_participant,
    ensure_participants,
    list_participants,
    revoke,
    rotate,
)
from trust.rules import ROLES

commands = Registry()
DEMO_SEED, DEMO_PERSONS = 7, 200


def demo_participants() -> list[Participant]:
    """The relay clock and the filers of the default synthetic population (`shaho demo`)."""
    from datetime import date

    population = generate(DEMO_SEED, DEMO_PERSONS, date(2025, 1, 1))
    filers = [Participant(kind.value, code) for code, kind in population.filer_kinds.items()]
    return [Participant(*RELAY_CLOCK), Participant(*RELAY_EXCHANGE), *filers]


def broker_participants(participants: list[Participant]) -> list[tuple[str, str]]:
    """The (role, code) pairs that get a broker principal: every participant but the relay's
    own processors (which have theirs) and codes no topic name can hold."""
    return [(p.role, p.code) for p in participants if p.role in FILER_ROLES and "." not in p.code]


def provision(cfg: StackConfig) -> str:
    """The root and the synthetic population's participants, created once, and a broker
    principal for every participant of the registry (`shaho up`)."""
    created = ensure_participants(cfg, demo_participants())
    everyone = list_participants(cfg)
    ensure_encryption_keys(cfg, everyone)  # participants provisioned before there were any
    line = (f"participants: {len(everyone)} ({len(created)} new), keys under "
            f"{cfg.state_dir / 'pki' / 'participants'}")
    if not cfg.kafka_auth:
        return line
    done = kafka_acl.provision(cfg, broker_participants(everyone))
    made = _own_topics(cfg, [(p.role, p.code) for p in everyone])
    topics = f"; participant topics created: {len(made)}" if made else ""
    return f"{line}; {done.line()}{topics}"


def _own_topics(cfg: StackConfig, participants: list[tuple[str, str]]) -> list[str]:
    """The topics addressed to the insurers and the Japan Pension Service among
    `participants`, and the municipalities' notices topics, created with their broker
    principals where missing."""
    return asyncio.run(apply_participant_topics(cfg.kafka(OPERATOR),
                                                Namespace(cfg.topic_prefix), participants))


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError("a relay time needs a UTC offset, e.g. +09:00")
    return when


def _options(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action")
    for name, text in (("add", "onboard a new participant: key, certificate, registry"),
                       ("rotate", "give a participant a new key; the old one stays valid "
                        "until it expires"),
                       ("revoke", "revoke a participant's certificates from a relay time on")):
        action = sub.add_parser(name, help=text)
        action.add_argument("--role", required=True, choices=ROLES)
        action.add_argument("--code", required=True)
        if name == "revoke":
            action.add_argument("--at", type=_instant, default=None,
                                help="relay time it takes effect, ISO 8601 with offset "
                                "(default: now)")
            action.add_argument("--serial", default=None,
                                help="one certificate's serial (hex); default: all of them")
        else:
            action.add_argument("--valid-from", type=_instant, default=None)
            action.add_argument("--valid-until", type=_instant, default=DEFAULT_NOT_AFTER)


@commands.command("participants", "list the participants (role, code); add, rotate or revoke "
                  "one", _options)
def _participants(args: argparse.Namespace, cfg: StackConfig) -> int:
    try:
        return _act(args, cfg)
    except PkiError as exc:
        print(f"shaho participants: {exc}")
        return 2


def _act(args: argparse.Namespace, cfg: StackConfig) -> int:
    if args.action is None:
        print_lines([f"{p.role:13} {p.code}" for p in list_participants(cfg)])
        return 0
    participant = Participant(args.role, args.code)
    if args.action == "add":
        cert = add_participant(cfg, participant, args.valid_from or DEFAULT_NOT_BEFORE,
                               args.valid_until)
        print(f"added {participant.role} {participant.code}: certificate {cert.serial_number:x}, "
              f"encryption key {load_public_key(cfg, participant).key_id[:16]}")
        if cfg.kafka_auth and broker_participants([participant]):
            kafka_acl.provision(cfg, broker_participants([participant]))
            if made := _own_topics(cfg, [(participant.role, participant.code)]):
                print(f"topics of its own: {', '.join(made)}")
            print(f"broker principal {participant_name(participant.role, participant.code)}: "
                  f"password in {cfg.kafka_secrets_dir}")
    elif args.action == "rotate":
        cert = rotate(cfg, participant, args.valid_from or datetime.now(UTC), args.valid_until)
        print(f"rotated {participant.role} {participant.code}: new certificate "
              f"{cert.serial_number:x}")
    else:
        serial = int(args.serial, 16) if args.serial else None
        done = revoke(cfg, participant, args.at or datetime.now(UTC), serial)
        print(f"revoked {len(done)} certificate(s) of {participant.role} {participant.code}")
    return 0
