"""The local single-node Apache Kafka broker (KRaft): jars from Maven Central, start, stop.

`ensure_running` resolves the pinned release with `mvn` into the state folder once, formats the
storage on first start and waits until the broker answers metadata requests.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import time
import uuid
from pathlib import Path

from groundfloor.config import StackConfig
from groundfloor.kafka_clients import SASL_MECHANISM
from infra import broker_tls, secrets
from infra.principals import BROKER, OPERATOR, SUPER_USERS
from infra.process import (
    pid_alive,
    port_open,
    proc_is_ours,
    processes_naming,
    read_pid,
    stop_pid,
    wait_for,
)

POM = Path(__file__).with_name("kafka") / "pom.xml"
LOG4J2 = Path(__file__).with_name("kafka") / "log4j2.xml"


class StackError(RuntimeError):
    """The local stack could not be brought to the asked state; the message says what to do."""


def _require(tool: str, install_hint: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise StackError(f"{tool} is not installed; install it with: {install_hint}")
    return found


def resolve_jars(cfg: StackConfig) -> Path:
    """Copy the broker's jars from Maven Central into the cache (once per pom content)."""
    lib = cfg.kafka_dir / "lib"
    stamp = lib / ".pom-sha256"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return lib
    mvn = _require("mvn", "apt-get update && apt-get install -y maven openjdk-17-jdk-headless")
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
           f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"mvn could not resolve the Kafka jars:\n{result.stdout[-2000:]}")
    stamp.write_text(digest)
    return lib


def _security(cfg: StackConfig) -> list[str]:
    """Every listener authenticated: clients by SCRAM-SHA-512 over TLS, the controller by
    mutual TLS with the node's own certificate; ACLs deny what they do not grant."""
    if not cfg.kafka_auth:
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},"
            f"CONTROLLER://127.0.0.1:{cfg.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
        ]
    broker = secrets.password(cfg, BROKER)
    return [
        f"listeners=CLIENT://127.0.0.1:{cfg.kafka_port},"
        f"CONTROLLER://127.0.0.1:{cfg.controller_port}",
        f"advertised.listeners=CLIENT://127.0.0.1:{cfg.kafka_port}",
        "listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name=CLIENT",
        f"sasl.enabled.mechanisms={SASL_MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={SASL_MECHANISM}",
        "listener.name.client.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{BROKER}" password="{broker}";',
        "listener.name.controller.ssl.client.auth=required",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={broker_tls.node_pem(cfg)}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={cfg.kafka_ca_path}",
        f"ssl.principal.mapping.rules={broker_tls.PRINCIPAL_RULE}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        "super.users=" + ";".join(f"User:{name}" for name in SUPER_USERS),
    ]


def _properties(cfg: StackConfig) -> str:
    data = cfg.kafka_dir / "data"
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        *_security(cfg),
        "controller.listener.names=CONTROLLER",
        f"controller.quorum.bootstrap.servers=127.0.0.1:{cfg.controller_port}",
        f"log.dirs={data}",
        "num.partitions=6",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=6",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=6",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "auto.create.topics.enable=false",
        "group.initial.rebalance.delay.ms=0",
        "message.max.bytes=2200000",
        "replica.fetch.max.bytes=2200000",
        "log.flush.interval.messages=9223372036854775807",
        "",
    ])


def _java() -> str:
    return _require("java", "apt-get update && apt-get install -y openjdk-17-jdk-headless")


def _classpath(lib: Path) -> str:
    return f"{lib}/*"


def _format_command(cfg: StackConfig, props: Path, lib: Path, cluster_id: str) -> list[str]:
    # One URL-safe id in 64 starts with "-": the "=" form keeps the tool's argument parser
    # from reading it as an option.
    return [_java(), "-cp", _classpath(lib), f"-Dlog4j2.configurationFile={LOG4J2}",
            f"-Dkafka.logs.dir={cfg.kafka_dir / 'logs'}",
            "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
            "-c", str(props), "--standalone", "--ignore-formatted", *_bootstrap_users(cfg)]


def _bootstrap_users(cfg: StackConfig) -> list[str]:
    """The SCRAM users that must exist before anyone can log in to create others: the
    broker's own and the operator's, written into the metadata log at format time."""
    if not cfg.kafka_auth:
        return []
    return [arg for name in (BROKER, OPERATOR) for arg in (
        "--add-scram", f"{SASL_MECHANISM}=[name={name},password={secrets.password(cfg, name)}]")]


def _auth_stamp(cfg: StackConfig) -> Path:
    return cfg.kafka_dir / "data" / ".shaho-scram-users"


def _format_storage(cfg: StackConfig, props: Path, lib: Path) -> None:
    data = cfg.kafka_dir / "data"
    if (data / "meta.properties").exists():
        if not cfg.kafka_auth or _auth_stamp(cfg).exists():
            return
        # Storage formatted before the broker authenticated holds no users to log in with.
        aside = cfg.kafka_dir / f"data.unauthenticated-{int(time.time())}"
        data.rename(aside)
        data.mkdir()
    cluster_file = cfg.kafka_dir / "cluster-id"
    if not cluster_file.exists():
        raw = uuid.uuid4().bytes
        cluster_file.write_text(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    cmd = _format_command(cfg, props, lib, cluster_file.read_text().strip())
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"Kafka storage format failed:\n{result.stdout}\n{result.stderr}")
    if cfg.kafka_auth:
        _auth_stamp(cfg).write_text(f"{BROKER} {OPERATOR}\n")


def pid_file(cfg: StackConfig) -> Path:
    return cfg.kafka_dir / "kafka.pid"


def _anchor_file(cfg: StackConfig) -> Path:
    """The broker's pid once more, outside the state folder, so it is found after that folder
    was removed with its checkout while the broker ran."""
    return cfg.runtime_dir / "kafka.pid"


def log_file(cfg: StackConfig) -> Path:
    return cfg.kafka_dir / "logs" / "server.out"


def is_running(cfg: StackConfig) -> bool:
    return pid_alive(read_pid(pid_file(cfg)))


def _broker_answers(cfg: StackConfig) -> bool:
    """True when the broker accepts a connection (TLS with its CA, when it authenticates)
    and answers an ApiVersions request, which Kafka serves before authentication."""
    if not port_open("127.0.0.1", cfg.kafka_port):
        return False
    client = b"shaho-ready"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client  # ApiVersions v0
    request = struct.pack(">i", len(body)) + body
    try:
        with socket.create_connection(("127.0.0.1", cfg.kafka_port), timeout=2) as raw:
            sock = raw
            if cfg.kafka_auth:
                tls = ssl.create_default_context(cafile=str(cfg.kafka_ca_path))
                sock = tls.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(request)
            header = sock.recv(4)
            return len(header) == 4
    except OSError:
        return False


def ensure_running(cfg: StackConfig, timeout: float = 120.0) -> str:
    """Start the broker unless ours already runs; return a one-line description."""
    if is_running(cfg) and _broker_answers(cfg):
        return f"Kafka already running (pid {read_pid(pid_file(cfg))}) on {cfg.bootstrap_servers}"
    _stop_strays(cfg)
    if port_open("127.0.0.1", cfg.kafka_port) or port_open("127.0.0.1", cfg.controller_port):
        raise StackError(
            f"ports {cfg.kafka_port}/{cfg.controller_port} are taken by another process; stop it "
            "or set SHAHO_KAFKA_PORT and SHAHO_KAFKA_CONTROLLER_PORT"
        )
    lib = resolve_jars(cfg)
    for sub in ("config", "logs", "data"):
        (cfg.kafka_dir / sub).mkdir(parents=True, exist_ok=True)
    if cfg.kafka_auth:
        broker_tls.ensure_tls(cfg)
    props = _properties_path(cfg)
    _write_private(props, _properties(cfg))
    _format_storage(cfg, props, lib)
    cmd = [_java(), cfg.kafka_heap, "-Xms256m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
           f"-Dlog4j2.configurationFile={LOG4J2}", f"-Dkafka.logs.dir={cfg.kafka_dir / 'logs'}",
           "-cp", _classpath(lib), "kafka.Kafka", str(props)]
    with open(log_file(cfg), "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file(cfg).write_text(str(proc.pid))
    _anchor_file(cfg).parent.mkdir(parents=True, exist_ok=True)
    _anchor_file(cfg).write_text(str(proc.pid))
    if not wait_for(lambda: _broker_answers(cfg) or proc.poll() is not None, timeout):
        stop(cfg)
        raise StackError(f"Kafka did not become ready in {timeout:.0f}s; see {log_file(cfg)}")
    if proc.poll() is not None:
        raise StackError(f"Kafka exited with code {proc.returncode}; see {log_file(cfg)}")
    time.sleep(0.5)
    return f"Kafka started (pid {proc.pid}) on {cfg.bootstrap_servers}; log {log_file(cfg)}"


def _write_private(path: Path, text: str) -> None:
    """The broker's properties hold its own SCRAM password: readable by their owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _properties_path(cfg: StackConfig) -> Path:
    return cfg.kafka_dir / "config" / "server.properties"


def _stop_strays(cfg: StackConfig) -> None:
    """Stop brokers started on this state folder whose pid file is gone (an earlier checkout at
    the same path, removed while its broker ran): they hold our ports and a stale cluster."""
    recorded = read_pid(pid_file(cfg))
    strays = set(processes_naming(str(_properties_path(cfg))))
    anchored = read_pid(_anchor_file(cfg))
    if anchored and pid_alive(anchored) and _names_our_broker(anchored, cfg):
        strays.add(anchored)
    stopped = sorted(strays - {recorded})
    for pid in stopped:
        stop_pid(pid, grace=30.0)
    _anchor_file(cfg).unlink(missing_ok=True)
    if stopped:  # a broker killed on a loaded machine may hold its ports a moment longer
        wait_for(lambda: not (port_open("127.0.0.1", cfg.kafka_port)
                              or port_open("127.0.0.1", cfg.controller_port)), 15.0)


def _names_our_broker(pid: int, cfg: StackConfig) -> bool:
    """Whether the pid recorded outside the state folder is still our broker: its command line
    says so where /proc can be read; elsewhere, that our broker's port is held."""
    if proc_is_ours():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        return str(_properties_path(cfg)).encode() in cmdline
    return port_open("127.0.0.1", cfg.kafka_port)


def stop(cfg: StackConfig) -> str:
    pid = read_pid(pid_file(cfg))
    if not pid_alive(pid):
        pid_file(cfg).unlink(missing_ok=True)
        _anchor_file(cfg).unlink(missing_ok=True)
        return "Kafka not running"
    stop_pid(pid, grace=30.0)
    pid_file(cfg).unlink(missing_ok=True)
    _anchor_file(cfg).unlink(missing_ok=True)
    return f"Kafka stopped (pid {pid})"
