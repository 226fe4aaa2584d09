"""The end-of-life table: data beside the rules, loaded and checked with them.

The table is YAML under `rules/eol/` (and `eol/` inside every `--rules DIR`; a later entry with
the same id replaces an earlier one, `{id: X, enabled: false}` turns one off). Each entry names a
product, a version range (`min` inclusive, `below` exclusive) or exact `versions`, the end-of-life
date and its source. Versions are compared with `packaging.version`; a version string that does
not start with a release number stays "unknown" and is never judged.

`netwatch.findings.systems.judge` turns every inventory entry that matches an entry whose date had passed
(at capture time) into an `outdated` event; the rules in rules/outdated.yaml decide what that means.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from netwatch.judge.schema import ID_RE, RuleError
from netwatch.judge.textinput import LOADER

KINDS = ("os", "software", "tls")
STATUSES = ("end-of-life", "backdoored")
ENTRY_KEYS = {"id", "product", "kind", "name", "min", "below", "versions", "eol", "source", "status", "note",
              "enabled"}
RELEASE = re.compile(r"^v?(\d{1,6}(?:\.\d{1,6}){1,3})(?=$|[^0-9.]|\.(?![0-9]))")  # major.minor at least


def comparable(version: str | None) -> Version | None:
    """The release number a version string starts with (`5.3p1` → 5.3, `1.0.1e-fips` → 1.0.1), or None."""
    if not version:
        return None
    m = RELEASE.match(version.strip())
    if not m:
        return None
    try:
        return Version(m.group(1))
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class EolEntry:
    """One line of the table: which versions of a product reached end of life (or are backdoored), when."""

    id: str
    product: str
    kind: str
    name: str
    eol: dt.date
    source: str
    min: Version | None = None
    below: Version | None = None
    versions: tuple[str, ...] = ()
    status: str = "end-of-life"
    note: str = ""
    file: str = ""

    def matches(self, version: str | None) -> bool:
        if self.versions:
            return version is not None and (version in self.versions or str(comparable(version)) in self.versions)
        v = comparable(version)
        if v is None:
            return False
        return (self.min is None or v >= self.min) and (self.below is None or v < self.below)


class EolTable:
    """The entries by product (lower-case), in file order."""

    def __init__(self, entries: list[EolEntry]) -> None:
        self.entries = entries
        self.by_product: dict[str, list[EolEntry]] = {}
        for e in entries:
            self.by_product.setdefault(e.product.lower(), []).append(e)

    def lookup(self, product: str, version: str | None) -> EolEntry | None:
        for e in self.by_product.get(product.lower(), []):
            if e.matches(version):
                return e
        return None


def _version(raw: Any, err: Any, name: str) -> Version | None:
    if raw is None:
        return None
    try:
        return Version(str(raw))
    except InvalidVersion:
        raise err(name, f"not a version number: {raw!r}") from None


def _entry(doc: Any, path: str, i: int) -> EolEntry | str:
    """An entry, or the id of an entry to turn off (`enabled: false`)."""
    eid = doc.get("id") if isinstance(doc, dict) else None
    label = f"entry {eid}" if eid else f"entry #{i + 1}"

    def err(f: str, msg: str) -> RuleError:
        return RuleError(f"{path}: {label}: field '{f}': {msg}")

    if not isinstance(doc, dict):
        raise RuleError(f"{path}: {label}: expected a mapping")
    unknown = sorted(set(doc) - ENTRY_KEYS)
    if unknown:
        raise err(unknown[0], f"unknown field (known: {', '.join(sorted(ENTRY_KEYS))})")
    if not isinstance(eid, str) or not re.match(r"^[a-z0-9][a-z0-9._-]*$", eid) and not ID_RE.match(eid):
        raise err("id", "expected an id like windows-5.1 (lower case, dots, dashes)")
    if doc.get("enabled", True) is False and set(doc) <= {"id", "enabled"}:
        return eid
    for f in ("product", "kind", "name", "eol", "source"):
        if f not in doc:
            raise RuleError(f"{path}: {label}: missing field '{f}'")
    if doc["kind"] not in KINDS:
        raise err("kind", f"expected one of {', '.join(KINDS)}")
    status = doc.get("status", "end-of-life")
    if status not in STATUSES:
        raise err("status", f"expected one of {', '.join(STATUSES)}")
    eol = doc["eol"]
    if isinstance(eol, str):
        try:
            eol = dt.date.fromisoformat(eol)
        except ValueError:
            raise err("eol", "expected a date YYYY-MM-DD") from None
    if not isinstance(eol, dt.date):
        raise err("eol", "expected a date YYYY-MM-DD")
    versions = doc.get("versions", [])
    if not isinstance(versions, list) or not all(isinstance(v, (str, int, float)) for v in versions):
        raise err("versions", "expected a list of version strings")
    if not versions and doc.get("min") is None and doc.get("below") is None:
        raise err("below", "an entry needs versions, min or below")
    for f in ("product", "name", "source"):
        if not isinstance(doc[f], str) or not doc[f].strip():
            raise err(f, "expected a non-empty string")
    return EolEntry(id=eid, product=doc["product"].strip(), kind=doc["kind"], name=doc["name"].strip(), eol=eol,
                    source=doc["source"].strip(), min=_version(doc.get("min"), err, "min"),
                    below=_version(doc.get("below"), err, "below"), versions=tuple(str(v) for v in versions),
                    status=status, note=str(doc.get("note", "")).strip(), file=path)


def load_eol_file(path: Path) -> list[EolEntry | str]:
    p = str(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)  # libyaml: 14 -> 1.4 ms for the bundled table
    except OSError as e:
        raise RuleError(f"{p}: cannot read end-of-life file: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        raise RuleError(f"{p}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    if doc is None:
        return []
    if isinstance(doc, dict) and "entries" in doc:
        doc = doc["entries"]
    if not isinstance(doc, list):
        raise RuleError(f"{p}: an end-of-life file is a list of entries (or a mapping with an 'entries' list)")
    return [_entry(d, p, i) for i, d in enumerate(doc)]


def load_eol(dirs: list[Path]) -> EolTable:
    """The table from `eol/*.yaml` under each rules directory, later ones overriding by id."""
    entries: dict[str, EolEntry] = {}
    for d in dirs:
        sub = d / "eol"
        if not sub.is_dir():
            continue
        for f in sorted(list(sub.glob("*.yaml")) + list(sub.glob("*.yml"))):
            for e in load_eol_file(f):
                if isinstance(e, str):
                    entries.pop(e, None)
                else:
                    entries[e.id] = e
    return EolTable(list(entries.values()))

