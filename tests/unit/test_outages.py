"""Outages told from input: what stops a processor (the database or the broker gone) and what
makes one record a dead letter (everything the record itself can cause)."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError

from groundfloor.outages import DatabaseUnavailable, is_outage

# asyncpg's client-side error for a query argument the value cannot fill (an InterfaceError and
# a ValueError); the public asyncpg.DataError is the server's SQLSTATE class 22
QueryArgumentError = asyncpg.exceptions._base.DataError

OUTAGES = [
    OSError("network unreachable"),
    ConnectionRefusedError(),
    ConnectionResetError(),
    TimeoutError(),
    DatabaseUnavailable("no database connection (ObjectNotInPrerequisiteStateError)"),
    KafkaConnectionError(),
    KafkaTimeoutError(),
    NotLeaderForPartitionError(),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),  # 08003
    asyncpg.exceptions.ConnectionFailureError("connection failure"),  # 08006
    asyncpg.exceptions.AdminShutdownError("terminating connection"),  # 57P01
    asyncpg.exceptions.CrashShutdownError("crash shutdown"),  # 57P02
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),  # 57P03
    asyncpg.exceptions.QueryCanceledError("canceling statement"),  # 57014
    asyncpg.exceptions.DiskFullError("could not extend file"),  # 53100
    asyncpg.exceptions.TooManyConnectionsError("too many clients"),  # 53300
    asyncpg.exceptions.InvalidPasswordError("password authentication failed"),  # 28P01
    asyncpg.exceptions.InvalidCatalogNameError("database does not exist"),  # 3D000
    asyncpg.exceptions.InternalServerError("internal error"),  # XX000
    asyncpg.exceptions.DataCorruptedError("invalid page in block"),  # XX001
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),  # 40P01
    asyncpg.exceptions.SerializationError("could not serialize access"),  # 40001
    asyncpg.exceptions.InsufficientPrivilegeError("permission denied"),  # 42501
    asyncpg.exceptions.UndefinedTableError("relation does not exist"),  # 42P01
]
RECORD_FAULTS = [
    ValueError("Exceeds the limit (4300 digits) for integer string conversion"),
    OverflowError("date value out of range"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    RecursionError(),
    KeyError("payload"),
    TypeError(),
    AssertionError(),
    asyncpg.exceptions.UniqueViolationError("duplicate key"),  # 23505
    asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence"),  # 22021
    asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape"),  # 22P05
    asyncpg.exceptions.DatetimeFieldOverflowError("date/time field value out of range"),  # 22008
    asyncpg.exceptions.NumericValueOutOfRangeError("value out of range"),  # 22003
    asyncpg.exceptions.DataError("invalid input value"),  # 22000
    QueryArgumentError("invalid input for query argument $1 (value out of int64 range)"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_the_database_or_the_broker_gone_is_an_outage(exc: BaseException):
    assert is_outage(exc)


@pytest.mark.parametrize("exc", RECORD_FAULTS, ids=lambda e: type(e).__name__)
def test_what_a_record_causes_is_no_outage(exc: BaseException):
    assert not is_outage(exc)


def test_a_database_that_cannot_be_reached_is_an_oserror():
    assert issubclass(DatabaseUnavailable, OSError)
