"""The relay linker's functional core: who a filing is about, and which links it opens or closes.

Pure functions over plain data; the database adapter applies the same effects to its tables."""

from relay_linker.domain.apply import apply, apply_all
from relay_linker.domain.clocking import CLOCK_RULES, advance
from relay_linker.domain.decide import decide
from relay_linker.domain.expiry import PARKING_BOUND, expire
from relay_linker.domain.fold import fold, history
from relay_linker.domain.milestones import announce
from relay_linker.domain.state import MissingFromSlice, RelayState, new_state

__all__ = [
    "CLOCK_RULES",
    "PARKING_BOUND",
    "MissingFromSlice",
    "RelayState",
    "advance",
    "announce",
    "apply",
    "apply_all",
    "decide",
    "expire",
    "fold",
    "history",
    "new_state",
]
