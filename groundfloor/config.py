"""Settings of a local relay: where the stack keeps its state and which ports it listens on.

Every value can be overridden by an environment variable named in `StackConfig.from_env`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from groundfloor.kafka_clients import KafkaLogin

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFIX_ENV = "SHAHO_TOPIC_PREFIX"
DATABASE_ENV = "SHAHO_PG_DATABASE"
LINKER_BATCH_ENV = "SHAHO_LINKER_BATCH"
LINKER_BATCH = 500
KAFKA_AUTH_ENV = "SHAHO_KAFKA_AUTH"
METRICS_PORT_BASE_ENV = "SHAHO_METRICS_PORT_BASE"


def _state_dir(root: Path) -> Path:
    return Path(os.environ.get("SHAHO_STATE_DIR", root / ".cache"))


def _pg_data_dir(state: Path) -> Path:
    """PostgreSQL's data folder; as root it lives where the postgres user can reach it."""
    if "SHAHO_PG_DATA" in os.environ:
        return Path(os.environ["SHAHO_PG_DATA"])
    if os.geteuid() == 0:
        return _runtime_dir(state) / "pgdata"
    return state / "pg" / "data"


def _runtime_dir(state: Path) -> Path:
    """A folder keyed by the state folder's path that outlives it: what must be found again
    after a checkout is removed while its stack runs (the broker's pid, root's database)."""
    tag = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"shaho-relay-{tag}"


def _positive(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise ValueError(f"{name} must be a positive number")
    return value


def _port_base(text: str) -> int:
    value = int(text or "0")
    if not 0 <= value <= 65535 - 16:
        raise ValueError(f"{METRICS_PORT_BASE_ENV} must be 0 or a port below 65520")
    return value


@dataclass(frozen=True)
class StackConfig:
    """Where the local Kafka and PostgreSQL live and how to reach them, and the namespace (a
    topic prefix and a database) this relay uses on them."""

    root: Path
    state_dir: Path
    kafka_port: int
    controller_port: int
    pg_port: int
    pg_data: Path
    pg_user: str = "shaho"
    pg_database: str = "shaho_relay"
    kafka_heap: str = "-Xmx1g"
    topic_prefix: str = ""
    linker_batch: int = LINKER_BATCH
    kafka_auth: bool = True
    """False only for a broker of the bench's baseline: no TLS, no SASL, no ACLs."""
    metrics_port_base: int = 0
    """Processors serve their metrics on this port plus a fixed offset each
    (`groundfloor.metrics.PROCESSORS`); 0: on any free port, written to the run folder."""

    @classmethod
    def from_env(cls, root: Path = REPO_ROOT) -> StackConfig:
        state = _state_dir(root)
        return cls(
            root=root,
            state_dir=state,
            kafka_port=int(os.environ.get("SHAHO_KAFKA_PORT", "19092")),
            controller_port=int(os.environ.get("SHAHO_KAFKA_CONTROLLER_PORT", "19093")),
            pg_port=int(os.environ.get("SHAHO_PG_PORT", "15432")),
            pg_data=_pg_data_dir(state),
            pg_database=os.environ.get(DATABASE_ENV, "shaho_relay"),
            kafka_heap=os.environ.get("SHAHO_KAFKA_HEAP", "-Xmx1g"),
            topic_prefix=os.environ.get(PREFIX_ENV, ""),
            linker_batch=_positive(LINKER_BATCH_ENV, LINKER_BATCH),
            kafka_auth=os.environ.get(KAFKA_AUTH_ENV, "1") != "0",
            metrics_port_base=_port_base(os.environ.get(METRICS_PORT_BASE_ENV, "0")),
        )

    def with_linker_batch(self, batch: int) -> StackConfig:
        """The same settings with the linker deciding up to `batch` records per transaction."""
        if batch < 1:
            raise ValueError("a batch holds at least one record")
        return replace(self, linker_batch=batch)

    def namespaced(self, topic_prefix: str, pg_database: str) -> StackConfig:
        """The same stack seen from another namespace: its own topic prefix and database."""
        return replace(self, topic_prefix=topic_prefix, pg_database=pg_database)

    def namespace_env(self) -> dict[str, str]:
        """The variables that put a child process in this config's namespace."""
        return {PREFIX_ENV: self.topic_prefix, DATABASE_ENV: self.pg_database}

    def child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a child process: this one's, in this config's namespace, with
        `extra` on top."""
        return {**os.environ, **self.namespace_env(), **(extra or {})}

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def kafka_ca_path(self) -> Path:
        """The broker CA's certificate, which every client trusts (not the participants' PKI)."""
        return self.kafka_dir / "tls" / "ca.pem"

    @property
    def kafka_secrets_dir(self) -> Path:
        """One file per broker principal holding its SCRAM password (mode 0600)."""
        return self.state_dir / "secrets" / "kafka"

    def kafka(self, principal: str) -> KafkaLogin:
        """How `principal` logs in to this stack's broker, its password read from the state
        folder; FileNotFoundError names a principal this stack has not provisioned."""
        if not self.kafka_auth:
            return KafkaLogin(self.bootstrap_servers)
        if not principal or "/" in principal or principal.startswith("."):
            raise ValueError(f"{principal!r} is no principal name")
        try:
            password = (self.kafka_secrets_dir / principal).read_text().strip()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no Kafka credentials for {principal} under {self.kafka_secrets_dir}; "
                "`shaho up` provisions the relay's principals, `shaho participants add` "
                "a participant's") from None
        return KafkaLogin(self.bootstrap_servers, principal, password, self.kafka_ca_path)

    @property
    def runtime_dir(self) -> Path:
        return _runtime_dir(self.state_dir)

    @property
    def keyring_path(self) -> Path:
        return self.state_dir / "secrets" / "keyring.json"

    @property
    def pg_password_path(self) -> Path:
        return self.state_dir / "secrets" / "pg-password"

    def pg_password(self) -> str:
        return self.pg_password_path.read_text().strip()

    def pg_dsn(self, database: str | None = None) -> str:
        """The connection string of `database` (this stack's own by default)."""
        return (
            f"postgresql://{self.pg_user}:{self.pg_password()}@127.0.0.1:{self.pg_port}/"
            f"{database or self.pg_database}"
        )
