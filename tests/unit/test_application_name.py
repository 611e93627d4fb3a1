"""The name each processor's database sessions carry."""

from __future__ import annotations

import pytest

from groundfloor.metrics import PROCESSORS
from shaho.bootstrap import application_name


def test_every_processor_names_its_sessions_after_itself():
    names = [application_name(p) for p in PROCESSORS]
    assert names == [f"shaho:{p}" for p in PROCESSORS]
    assert len(set(names)) == len(PROCESSORS)
    assert all(len(n.encode()) < 64 for n in names)  # PostgreSQL's NAMEDATALEN, not cut


@pytest.mark.parametrize("name", ["", "relay-linker ", "shaho:relay-linker", "x" * 80])
def test_a_name_that_is_no_processor_is_refused(name: str):
    with pytest.raises(ValueError):
        application_name(name)
