"""Dotted column paths (`identity.address.prefecture`, `dependants.0.person.resident_code`).

Split, check, nest and flatten them, and find the date fields of a payload model; all pure.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Mapping
from datetime import date
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from schemas import SecretDate

Path = tuple[str | int, ...]
ANY_INDEX = "*"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_INDEX = re.compile(r"[0-9]{1,3}")


class PathError(ValueError):
    """A column name that is not a usable dotted path (the message names the column)."""


@cache
def split_path(column: str) -> Path:
    """`a.0.b` → ("a", 0, "b"); PathError when a part is neither a name nor an index."""
    parts: list[str | int] = []
    for part in column.split("."):
        if _INDEX.fullmatch(part) and parts:
            parts.append(int(part))
        elif _NAME.fullmatch(part):
            parts.append(part)
        else:
            raise PathError(f"column {column!r} is not a dotted path of names and list indexes")
    return tuple(parts)


def is_path(column: str) -> bool:
    """Whether `column` is a dotted path of names and list indexes (a usable column name)."""
    try:
        split_path(column)
    except PathError:
        return False
    return True


def join_path(path: Path) -> str:
    """("a", 0, "b") → `a.0.b`."""
    return ".".join(str(part) for part in path)


def check_columns(columns: list[str]) -> list[str]:
    """Problems of a header: duplicates, paths inside other paths, names mixed with indexes."""
    problems = [f"column {c!r} appears more than once" for c in _duplicates(columns)]
    paths = sorted({split_path(c) for c in columns}, key=lambda p: tuple(map(str, p)))
    known = set(paths)
    for path in paths:
        for cut in range(1, len(path)):
            if path[:cut] in known:
                problems.append(f"column {join_path(path[:cut])!r} also has sub-columns")
    problems.extend(_mixed_children(paths))
    return problems


def _duplicates(columns: list[str]) -> list[str]:
    seen: set[str] = set()
    return [c for c in columns if c in seen or seen.add(c)]


def _mixed_children(paths: list[Path]) -> list[str]:
    kinds: dict[Path, set[type]] = {}
    for path in paths:
        for cut in range(1, len(path)):
            kinds.setdefault(path[:cut], set()).add(type(path[cut]))
    return [
        f"column {join_path(parent)!r} has both named and numbered sub-columns"
        for parent, found in kinds.items()
        if len(found) > 1
    ]


def unflatten(cells: Mapping[Path, Any]) -> tuple[dict[str, Any], list[tuple[Path, str]]]:
    """Nest `cells` by path (indexes make lists); problems for lists with missing items."""
    tree: dict[Any, Any] = {}
    for path, value in cells.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    problems: list[tuple[Path, str]] = []
    return _listify(tree, (), problems), problems


def _listify(node: Any, path: Path, problems: list[tuple[Path, str]]) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value, (*path, key), problems) for key, value in node.items()}
    if not items or not all(isinstance(key, int) for key in items):
        return items
    missing = [i for i in range(max(items) + 1) if i not in items]
    for index in missing:
        problems.append(((*path, index), "list items are numbered from 0 without gaps"))
    return [items[i] for i in sorted(items)]


def flatten(value: Any, path: Path = ()) -> Iterator[tuple[str, Any]]:
    """The leaves of nested dicts and lists as (dotted path, value); None leaves are skipped."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from flatten(item, (*path, index))
    elif value is not None:
        yield join_path(path), value


def pattern_of(path: Path) -> Path:
    """`path` with every list index replaced by `*`, to compare with `date_paths`."""
    return tuple(ANY_INDEX if isinstance(part, int) else part for part in path)


@cache
def date_paths(model: type[BaseModel], prefix: Path = ()) -> frozenset[Path]:
    """Paths (indexes as `*`) of every date field in `model`, nested models and lists included."""
    found: set[Path] = set()
    for name, field in model.model_fields.items():
        found.update(_dates_in(field.annotation, (*prefix, name)))
    return frozenset(found)


def _dates_in(annotation: Any, path: Path) -> set[Path]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _dates_in(get_args(annotation)[0], path)
    if origin in (Union, types.UnionType):
        return {p for arg in get_args(annotation) for p in _dates_in(arg, path)}
    if origin in (list, tuple):
        return _dates_in(get_args(annotation)[0], (*path, ANY_INDEX))
    if annotation in (date, SecretDate):
        return {path}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return set(date_paths(annotation, path))
    return set()
