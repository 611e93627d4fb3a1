"""A verdict on a filing or one of its commands: accepted with effects, parked, or refused.

Parked and refused verdicts carry only anomalies; nothing else of theirs is applied."""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from relay_linker.domain.effects import Effect
from relay_linker.domain.model import ACCEPTED, PARKED, REFUSED, Reason


@dataclass(frozen=True)
class Verdict:
    status: str
    effects: tuple[Effect, ...] = ()
    reasons: tuple[Reason, ...] = ()
    wait_keys: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED

    def adding(self, effects: Iterable[Effect]) -> "Verdict":
        return replace(self, effects=(*self.effects, *effects))


def accepted(effects: Iterable[Effect]) -> Verdict:
    return Verdict(ACCEPTED, tuple(effects))


def parked(
    reasons: Iterable[Reason], wait_keys: Iterable[str], anomalies: Iterable[Effect] = ()
) -> Verdict:
    return Verdict(PARKED, tuple(anomalies), tuple(reasons), tuple(sorted(set(wait_keys))))


def refused(reasons: Iterable[Reason], anomalies: Iterable[Effect] = ()) -> Verdict:
    return Verdict(REFUSED, tuple(anomalies), tuple(reasons))
