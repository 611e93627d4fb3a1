"""The layout's rules, checked on every module's imports (function-level ones included):
the domain imports only the standard library and itself, and nobody but tests imports the roof.

`docs/architecture.md` lists the packages and what each may import; this keeps it true.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOF = "shaho"
INSURER_FLOOR = {"insurer_workers", "groundfloor", "schemas", "trust", "consumers", "synthetic",
                 "relay_clock", "access_log"}
"""access_log/ is pure (trees, heads, the witness's rule): what a witness runs, not the relay."""
VERIFIER = "access_log.verifier"
INFRA_FLOOR = {"infra", "groundfloor", "schemas", "trust"}
STAGERS = {"staging", ROOF, "bench", "tests"}
PURE_MEMBERS = ("insurer_workers.members", "insurer_workers.member_reading")
SKIP = {".venv", ".cache", ".git", "node_modules"}
POLICY = "relay_exchange.policy"
POLICY_MAY_IMPORT = {"schemas.exchange_terms"}
ROUTING = "relay_exchange.routing"
ROUTING_MAY_IMPORT = {"schemas.exchange_terms", "relay_exchange.policy"}
NOTIFICATION_RULES = "notification_streams.rules"
"""The notification streams' functional core: the standard library, the linker's pure domain."""
RECONCILIATION_CALCULATION = "reconciliation.calculation"
"""The 合算 calculation and statement: the standard library and themselves only."""
RECONCILIATION_SETTLING = "reconciliation.settling"
"""The answers read, the shares split per member, the ledger's rule: the standard library and
the calculation only."""
RECONCILIATION_SCHEDULE = "reconciliation.schedule"
"""When a period is closed and a right lapses: the standard library only."""
LAG_STATUS = "lag_monitor.status"
"""The lag monitor's judgement over its window: the standard library only."""
LAG_MONITOR_FLOOR = {"lag_monitor", "groundfloor", "schemas"}
"""The lag monitor reads the broker only: no database, no relay processor."""
PURE_RECONCILIATION = (RECONCILIATION_CALCULATION, RECONCILIATION_SETTLING,
                       RECONCILIATION_SCHEDULE)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def project_packages(root: Path) -> set[str]:
    return {p.parent.name for p in root.glob("*/__init__.py") if p.parent.name not in SKIP}


def _python_files(root: Path) -> list[Path]:
    """The tree's .py files, never entering SKIP's folders: the stack's state folder (`.cache`)
    holds the broker's data, whose deleted topics vanish while a walk is inside them."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in SKIP]
        found += [Path(folder) / f for f in files if f.endswith(".py")]
    return found


def modules(root: Path) -> dict[str, Path]:
    """Every module of the tree by dotted name (tests included)."""
    found = {}
    for path in sorted(_python_files(root)):
        rel = path.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in the module, wherever it stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.append((node.lineno, target))
    return names


def violations(root: Path) -> list[str]:
    """One line per import that breaks a rule of the layout."""
    packages = project_packages(root)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    found = []
    for module, path in modules(root).items():
        top = module.split(".")[0]
        for line, name in imported(module, path):
            first = name.split(".")[0]
            where = f"{path.relative_to(root)}:{line} imports {name}"
            if module.startswith("relay_linker.domain") and not (
                first in stdlib or name == "relay_linker.domain"
                or name.startswith("relay_linker.domain.")
            ):
                found.append(f"{where}: the domain imports only the standard library and itself")
            if _within(module, NOTIFICATION_RULES) and not (
                first in stdlib or _within(name, "relay_linker.domain")
                or _within(name, NOTIFICATION_RULES)
            ):
                found.append(f"{where}: the notification rules import only the standard "
                             "library, relay_linker.domain and themselves")
            if _within(module, RECONCILIATION_CALCULATION) and not (
                first in stdlib or _within(name, RECONCILIATION_CALCULATION)
            ):
                found.append(f"{where}: the 合算 calculation imports only the standard library "
                             "and itself")
            if _within(module, RECONCILIATION_SETTLING) and not (
                first in stdlib or _within(name, RECONCILIATION_CALCULATION)
            ):
                found.append(f"{where}: the 合算 settling imports only the standard library "
                             "and the calculation")
            if module == RECONCILIATION_SCHEDULE and first not in stdlib:
                found.append(f"{where}: the 合算 schedule imports only the standard library")
            if module == LAG_STATUS and first not in stdlib:
                found.append(f"{where}: the lag monitor's judgement imports only the standard "
                             "library")
            if top == "lag_monitor" and first in packages - LAG_MONITOR_FLOOR:
                found.append(f"{where}: lag_monitor/ reads the broker; it imports only "
                             "groundfloor/ and schemas/ of the project")
            if first == ROOF and top not in (ROOF, "tests"):
                found.append(f"{where}: {ROOF}/ is the roof; nothing below it imports it")
            if top == "groundfloor" and first in packages - {"groundfloor"}:
                found.append(f"{where}: the ground floor imports no other package of the project")
            if top == "trust" and first in packages - {"trust", "groundfloor", "schemas"}:
                found.append(f"{where}: trust/ is plumbing; it imports only groundfloor/ and "
                             "schemas/ of the project")
            if module == VERIFIER and first not in stdlib | {"cryptography"}:
                found.append(f"{where}: the standalone verifier imports only the standard "
                             "library and cryptography, nothing of the relay")
            if top == "access_log" and first not in stdlib | {"cryptography", "access_log"}:
                found.append(f"{where}: the access log's trees and heads are pure (the "
                             "standard library and cryptography)")
            if top == "infra" and first in packages - INFRA_FLOOR:
                found.append(f"{where}: infra/ is plumbing; it imports only groundfloor/, "
                             "schemas/ and trust/ of the project")
            if first == "staging" and top not in STAGERS:
                found.append(f"{where}: staging/ sets scenes for the roof and the benchmarks; "
                             "nothing else imports it")
            if (top == "insurer_workers" and first in packages - INSURER_FLOOR
                    and not any(_within(name, p) for p in PURE_RECONCILIATION)):  # pure
                found.append(f"{where}: insurer_workers/ is a participant, not the relay; it "
                             "imports no relay processor")
            if module in PURE_MEMBERS and not (
                first in stdlib | {"schemas", "synthetic"} or name in PURE_MEMBERS
            ):
                found.append(f"{where}: the member derivation is pure (the standard library, "
                             "schemas/, synthetic/)")
            if module == POLICY and not (first in stdlib or name in POLICY_MAY_IMPORT):
                found.append(f"{where}: the purpose policy imports only the standard library "
                             "and schemas.exchange_terms")
            if module == ROUTING and not (first in stdlib or name in ROUTING_MAY_IMPORT):
                found.append(f"{where}: the exchange's routing rule is pure (the standard "
                             "library, the policy, schemas.exchange_terms)")
            if top == "relay_exchange" and first == "relay_linker":
                found.append(f"{where}: the exchange reads the relay database, not the linker")
            if top == "outbox" and first == "relay_linker":
                found.append(f"{where}: outbox/ publishes any processor's rows, not the linker's")
    return found


def test_the_tree_keeps_its_layout():
    assert violations(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in ("shaho", "groundfloor", "outbox", "relay_linker", "relay_linker/domain",
                   "consumers"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").touch()
    return tmp_path


def test_the_guard_sees_trust_importing_a_processor(tmp_path: Path):
    root = _tree(tmp_path, {"trust/rules.py": "import schemas\nimport relay_linker.store\n",
                            "trust/__init__.py": "", "schemas/__init__.py": ""})
    assert violations(root) == [
        "trust/rules.py:2 imports relay_linker.store: trust/ is plumbing; it imports only "
        "groundfloor/ and schemas/ of the project"]


def test_the_guard_sees_the_notification_rules_importing_a_contract(tmp_path: Path):
    root = _tree(tmp_path, {
        "notification_streams/__init__.py": "",
        "notification_streams/rules/__init__.py": "",
        "notification_streams/rules/nhi.py": (
            "from relay_linker.domain.ages import birthday\n"
            "from notification_streams.rules import facts\n"
            "from schemas.internal import LinkChangedV2\n"),
    })
    assert violations(root) == [
        "notification_streams/rules/nhi.py:3 imports schemas.internal: the notification rules "
        "import only the standard library, relay_linker.domain and themselves"]


def test_the_guard_sees_the_reconciliation_calculation_importing_beyond_itself(
        tmp_path: Path):
    root = _tree(tmp_path, {
        "reconciliation/__init__.py": "",
        "reconciliation/calculation/__init__.py": "",
        "reconciliation/calculation/stages.py": (
            "from fractions import Fraction\n"
            "from reconciliation.calculation import inputs\n"
            "from relay_linker.domain.ages import birthday\n"
            "import reconciliation.store\n"),
    })
    assert violations(root) == [
        "reconciliation/calculation/stages.py:3 imports relay_linker.domain.ages: the 合算 "
        "calculation imports only the standard library and itself",
        "reconciliation/calculation/stages.py:4 imports reconciliation.store: the 合算 "
        "calculation imports only the standard library and itself"]


def test_the_guard_sees_the_reconciliation_settling_importing_beyond_the_calculation(
        tmp_path: Path):
    root = _tree(tmp_path, {
        "reconciliation/__init__.py": "",
        "reconciliation/calculation/__init__.py": "",
        "reconciliation/settling.py": (
            "from uuid import uuid5\n"
            "from reconciliation.calculation import calculate\n"
            "import asyncpg\n"
            "from insurer_workers import member_store\n"),
        "insurer_workers/__init__.py": "",
        "insurer_workers/closing.py": "from reconciliation.settling import read_answer\n",
    })
    assert violations(root) == [
        "reconciliation/settling.py:3 imports asyncpg: the 合算 settling imports only the "
        "standard library and the calculation",
        "reconciliation/settling.py:4 imports insurer_workers: the 合算 settling "
        "imports only the standard library and the calculation"]


def test_the_guard_sees_the_reconciliation_schedule_importing_beyond_the_standard_library(
        tmp_path: Path):
    root = _tree(tmp_path, {
        "reconciliation/__init__.py": "",
        "reconciliation/schedule.py": "from datetime import date\nimport schemas.base\n",
        "insurer_workers/__init__.py": "",
        "insurer_workers/reconciler.py": "from reconciliation.schedule import closes_due\n",
    })
    assert violations(root) == [
        "reconciliation/schedule.py:2 imports schemas.base: the 合算 schedule imports only the "
        "standard library"]


def test_the_guard_sees_a_domain_module_importing_a_library(tmp_path: Path):
    root = _tree(tmp_path, {"relay_linker/domain/rules.py": "import json\nimport asyncpg\n"})
    assert violations(root) == [
        "relay_linker/domain/rules.py:2 imports asyncpg: "
        "the domain imports only the standard library and itself"]


def test_the_guard_sees_an_insurer_importing_the_relay(tmp_path: Path):
    worker = "import trust\nimport relay_linker.store\n"
    root = _tree(tmp_path, {"insurer_workers/worker.py": worker,
                            "insurer_workers/__init__.py": "", "trust/__init__.py": ""})
    assert violations(root) == [
        "insurer_workers/worker.py:2 imports relay_linker.store: insurer_workers/ is a "
        "participant, not the relay; it imports no relay processor"]


def test_the_guard_sees_the_member_derivation_importing_a_library(tmp_path: Path):
    members = "import datetime\nimport asyncpg\nfrom insurer_workers.member_reading import read\n"
    root = _tree(tmp_path, {"insurer_workers/members.py": members,
                            "insurer_workers/member_reading.py": "import schemas\n",
                            "insurer_workers/member_store.py": "import asyncpg\n",
                            "insurer_workers/__init__.py": "", "schemas/__init__.py": ""})
    assert violations(root) == [
        "insurer_workers/members.py:2 imports asyncpg: the member derivation is pure (the "
        "standard library, schemas/, synthetic/)"]
    reading = "import insurer_workers.member_store\n"
    (root / "insurer_workers/member_reading.py").write_text(reading, encoding="utf-8")
    assert sorted(violations(root)) == [
        "insurer_workers/member_reading.py:1 imports insurer_workers.member_store: the member "
        "derivation is pure (the standard library, schemas/, synthetic/)",
        "insurer_workers/members.py:2 imports asyncpg: the member derivation is pure (the "
        "standard library, schemas/, synthetic/)"]


def test_the_guard_sees_an_import_hidden_inside_a_function(tmp_path: Path):
    root = _tree(tmp_path, {"consumers/reader.py": "def f():\n    from shaho.cli import main\n"})
    assert violations(root) == [
        "consumers/reader.py:2 imports shaho.cli: shaho/ is the roof; nothing below it imports it"]


def test_the_guard_sees_relative_imports_leaving_the_domain(tmp_path: Path):
    root = _tree(tmp_path, {"relay_linker/domain/rules.py": "from .. import store\n"
                                                           "from . import model\n"})
    assert violations(root) == [
        "relay_linker/domain/rules.py:1 imports relay_linker: "
        "the domain imports only the standard library and itself"]


def test_the_guard_sees_the_ground_floor_and_outbox_reaching_up(tmp_path: Path):
    root = _tree(tmp_path, {"groundfloor/config.py": "import consumers.lag\n",
                            "outbox/table.py": "from relay_linker.domain import effects\n"})
    assert violations(root) == [
        "groundfloor/config.py:1 imports consumers.lag: "
        "the ground floor imports no other package of the project",
        "outbox/table.py:1 imports relay_linker.domain: "
        "outbox/ publishes any processor's rows, not the linker's"]


def test_the_guard_sees_infra_reaching_up_and_staging_imported_from_below(tmp_path: Path):
    root = _tree(tmp_path, {"infra/__init__.py": "", "staging/__init__.py": "",
                            "insurer_workers/__init__.py": "", "relay_exchange/__init__.py": "",
                            "infra/setup.py": "import trust\nfrom insurer_workers import x\n",
                            "relay_exchange/router.py": "import staging.scene\n",
                            "staging/scene.py": "import infra\nimport insurer_workers\n",
                            "bench/run.py": "from staging import scene\n"})
    assert violations(root) == [
        "infra/setup.py:2 imports insurer_workers: infra/ is plumbing; it imports only "
        "groundfloor/, schemas/ and trust/ of the project",
        "relay_exchange/router.py:1 imports staging.scene: staging/ sets scenes for the roof "
        "and the benchmarks; nothing else imports it"]


def test_the_guard_sees_the_standalone_verifier_importing_the_relay(tmp_path: Path):
    root = _tree(tmp_path, {"access_log/__init__.py": "",
                            "access_log/verifier.py": "import hashlib\nimport access_log.merkle\n",
                            "access_log/merkle.py": "from access_log import verifier\n"
                                                    "import asyncpg\n"})
    assert violations(root) == [
        "access_log/merkle.py:2 imports asyncpg: the access log's trees and heads are pure "
        "(the standard library and cryptography)",
        "access_log/verifier.py:2 imports access_log.merkle: the standalone verifier imports "
        "only the standard library and cryptography, nothing of the relay"]


def test_the_guard_sees_the_purpose_policy_importing_more_than_the_exchange_terms(
        tmp_path: Path):
    policy = ("import csv\nfrom schemas.exchange_terms import Purpose\n"
              "from schemas import codec\nimport asyncpg\n")
    root = _tree(tmp_path, {"relay_exchange/__init__.py": "", "relay_exchange/policy.py": policy})
    assert violations(root) == [
        "relay_exchange/policy.py:3 imports schemas: the purpose policy imports only the "
        "standard library and schemas.exchange_terms",
        "relay_exchange/policy.py:4 imports asyncpg: the purpose policy imports only the "
        "standard library and schemas.exchange_terms"]


def test_the_guard_sees_the_lag_judgement_importing_beyond_the_standard_library(
    tmp_path: Path
):
    root = _tree(tmp_path, {
        "lag_monitor/status.py": "from dataclasses import dataclass\nimport aiokafka\n",
        "lag_monitor/monitor.py": "from lag_monitor.status import evaluate\n"
                                  "from consumers.lag import measure\n",
    })
    assert violations(root) == [
        "lag_monitor/monitor.py:2 imports consumers.lag: lag_monitor/ reads the broker; it "
        "imports only groundfloor/ and schemas/ of the project",
        "lag_monitor/status.py:2 imports aiokafka: the lag monitor's judgement imports only the "
        "standard library",
    ]


def test_a_clean_tree_passes_the_guard(tmp_path: Path):
    root = _tree(tmp_path, {"relay_linker/domain/rules.py": "from relay_linker.domain import x\n",
                            "shaho/cli.py": "import consumers\nimport groundfloor\n"})
    assert violations(root) == []


def test_the_package_map_names_every_package_and_no_other():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc.split("## Packages", 1)[1].split("\n## ", 1)[0]
    mapped = {name.rstrip("/") for row in section.splitlines() if row.startswith("| ")
              for name in re.findall(r"`([a-z_]+)/`", row.split("|")[2])}
    assert mapped == project_packages(ROOT)
