"""Declared known failures: :func:`load_known_failures` reads them, :func:`find` matches a check.

tpcore's own list is ``known_failures.toml`` next to this module (its header documents the format);
a plugin may pass its own file to :func:`tpcore.testing.conformance_params`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable

DEFAULT_FILE = Path(__file__).with_name("known_failures.toml")
_FIELDS = {"key", "check", "case", "dtype", "reason"}


@dataclass(frozen=True)
class KnownFailure:
    """One declared failure; ``key``, ``check``, ``case`` and ``dtype`` are shell-style globs."""

    key: str
    reason: str
    check: str = "*"
    case: str = "*"
    dtype: str = "*"

    def matches(self, key: str, check: str, case: str, dtype: str) -> bool:
        return all(
            fnmatchcase(value, pattern)
            for value, pattern in ((key, self.key), (check, self.check), (case, self.case), (dtype, self.dtype))
        )


def load_known_failures(path: str | Path = DEFAULT_FILE) -> tuple[KnownFailure, ...]:
    """The ``[[xfail]]`` entries of a TOML file; raises ValueError naming the file and entry if one is malformed."""
    path = Path(path)
    with path.open("rb") as f:
        data = tomllib.load(f)
    unknown_tables = set(data) - {"xfail"}
    if unknown_tables:
        raise ValueError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_tables))}; expected [[xfail]] tables")
    tables = data.get("xfail", [])
    if not isinstance(tables, list):
        raise ValueError(f"{path}: xfail must be an array of tables ([[xfail]]), got a {type(tables).__name__}")
    entries = []
    for index, entry in enumerate(tables):
        where = f"{path}: [[xfail]] entry {index + 1}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a table of key = value fields, got a {type(entry).__name__}")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ValueError(f"{where} has unknown field(s) {', '.join(sorted(unknown))}; fields are {', '.join(sorted(_FIELDS))}")
        for required in ("key", "reason"):
            if not str(entry.get(required, "")).strip():
                raise ValueError(f"{where} needs a non-empty {required!r}")
        entries.append(KnownFailure(**{k: str(v) for k, v in entry.items()}))
    return tuple(entries)


def find(known: Iterable[KnownFailure], key: str, check: str, case: str, dtype: str) -> KnownFailure | None:
    """The first declared failure matching this check, or None."""
    return next((k for k in known if k.matches(key, check, case, dtype)), None)


__all__ = ["KnownFailure", "load_known_failures", "find", "DEFAULT_FILE"]
