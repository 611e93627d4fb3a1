"""The broker principals' SCRAM passwords: one random password per principal, kept in its own
file under `<state>/secrets/kafka/` (mode 0600), made on first use and never logged.
"""

from __future__ import annotations

import os
import secrets as random
from pathlib import Path

from groundfloor.config import StackConfig


def password_path(cfg: StackConfig, principal: str) -> Path:
    if not principal or "/" in principal or principal.startswith("."):
        raise ValueError(f"{principal!r} is no principal name")
    return cfg.kafka_secrets_dir / principal


def stored(cfg: StackConfig, principal: str) -> str | None:
    """The principal's stored password, or None if it has none yet."""
    try:
        return password_path(cfg, principal).read_text().strip() or None
    except FileNotFoundError:
        return None


def password(cfg: StackConfig, principal: str) -> str:
    """The principal's password, created (random, 0600) if it has none yet."""
    found = stored(cfg, principal)
    if found is not None:
        return found
    path = password_path(cfg, principal)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = random.token_urlsafe(24)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(made + "\n")
    try:
        os.link(tmp, path)  # never replace one another process wrote first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
