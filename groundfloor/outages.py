"""Outages told from input: a database or broker outage stops a processor (it resumes from its
stored positions), whereas whatever a record itself causes makes that record a dead letter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiokafka.errors import KafkaError

OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "28", "3D", "40", "42", "53", "57", "58", "XX"})


class DatabaseUnavailable(ConnectionError):
    """No connection to the database could be had (the cause is chained)."""


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database or the broker is unavailable (stop, blame no input).

    An outage is anything that says the relay cannot reach, use or trust its database or broker
    right now, whichever record it was working on:

    - the network and the operating system: `OSError` (connection refused or reset, timeouts);
    - the broker: any `KafkaError`;
    - the database client: `asyncpg.InterfaceError` (the connection is closed or unusable),
      except its `ValueError`s (a query argument the record's values cannot fill), and any
      error while a connection is being acquired (`DatabaseUnavailable`: a database that does
      not accept connections, a password that no longer works, too many clients);
    - the database server, by SQLSTATE class: 08 connection exception, 28 invalid
      authorisation, 3D the database is gone, 53 insufficient resources (disk full, out of
      memory, too many connections), 57 operator intervention (admin or crash shutdown, cannot
      connect now, a cancelled query), 58 system error (I/O); and three classes that are no
      outage of the network but no fault of the record either, since every record would meet
      them alike: 40 transaction rollback (a deadlock or serialization failure with another
      session), 42 access rule or schema (a revoked grant, a missing table: the queries are
      fixed and take values only as parameters) and XX internal error (data or index
      corrupted). Setting good filings aside as dead letters for those would lose their
      answers; stopping keeps every record for after the repair.

    Everything else, SQLSTATE classes such as 22 (data exception) and 23 (integrity constraint)
    included, is a fault of the record at hand or of the code handling it, and the processor sets
    that one record aside."""
    if isinstance(exc, OSError | KafkaError):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return not isinstance(exc, ValueError)
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate[:2] in OUTAGE_SQLSTATE_CLASSES
    return False


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection from `pool`; any failure to get one is raised as DatabaseUnavailable."""
    try:
        conn = await pool.acquire()
    except Exception as exc:
        raise DatabaseUnavailable(f"no database connection ({type(exc).__name__})") from exc
    try:
        yield conn
    finally:
        await pool.release(conn)
