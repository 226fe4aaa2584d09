"""End-of-life table (data beside the rules) and the verdict on the systems inventory.

The table is YAML under `rules/eol/` (and `eol/` inside every `--rules DIR`; a later entry with
the same id replaces an earlier one, `{id: X, enabled: false}` turns one off). Each entry names a
product, a version range (`min` inclusive, `below` exclusive) or exact `versions`, the end-of-life
date and its source. Versions are compared with `packaging.version`; a version string that does
not start with a release number stays "unknown" and is never judged.

`judge` turns every inventory entry that matches an entry whose date has passed (at capture time)
into an `outdated` observation; the rules in rules/outdated.yaml decide what that means.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from netwatch.addresses import scope
from netwatch.analyzers import Observation
from netwatch.analyzers.tls import VERSIONS
from netwatch.flows import Flow
from netwatch.policy import Policy
from netwatch.rules import ID_RE, RuleError, RuleSet, builtin_rules_dir
from netwatch.systems import SystemEntry, SystemInventory

KINDS = ("os", "software", "tls")
STATUSES = ("end-of-life", "backdoored")
ENTRY_KEYS = {"id", "product", "kind", "name", "min", "below", "versions", "eol", "source", "status", "note",
              "enabled"}
RELEASE = re.compile(r"^v?(\d{1,6}(?:\.\d{1,6}){1,3})(?=$|[^0-9.]|\.(?![0-9]))")  # major.minor at least
PROTOS = {"tcp": 6, "udp": 17}
TLS_NAMES = frozenset(VERSIONS.values())  # tls1.2 and kin: versions, though not release numbers


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
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
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


def _flow(e: SystemEntry) -> Flow:
    """A stand-in for the flow the entry was first seen in, so findings and policy facts name it."""
    def raw(a: str) -> bytes:
        return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)

    f = Flow(raw(e.src), e.sport, raw(e.dst), e.dport, PROTOS.get(e.proto, 0), e.first_seen)
    f.app = e.app
    return f


def judge(inv: SystemInventory, table: EolTable, policy: Policy | None) -> list[Observation]:
    """Set each entry's end-of-life status; an `outdated` observation for each one past its date.

    Status: `unknown` (no release number to compare), `not listed` (no table entry matches),
    `supported` (an entry matches, its date is after the capture), `end-of-life`, `backdoored`."""
    out: list[Observation] = []
    for e in inv.results():
        hit = table.lookup(e.product, e.version)
        if hit is None:  # no claim either way: the table has no entry for this version
            known = comparable(e.version) is not None or e.version in TLS_NAMES
            e.eol_status = "not listed" if known else "unknown"
            continue
        e.eol, e.eol_source = hit.eol.isoformat(), hit.source
        capture_day = dt.datetime.fromtimestamp(e.last_seen, dt.UTC).date()
        if hit.status != "backdoored" and hit.eol > capture_day:
            e.eol_status = "supported"
            continue
        e.eol_status = hit.status
        internal = policy.is_internal(e.host) if policy is not None else scope(e.host) == "internal"
        fields: dict[str, Any] = {
            "host": e.host, "role": e.role, "product": e.product, "version": e.version, "name": hit.name,
            "seen_in": e.protocol, "eol": hit.eol.isoformat(), "eol_source": hit.source, "status": hit.status,
            "eol_kind": hit.kind, "host_store": internal, "host_sends_cards": e.host in inv.card_senders,
        }
        if hit.note:
            fields["note"] = hit.note
        if e.fingerprints:
            fields["ja4"] = e.fingerprints[0]
        out.append(Observation("outdated", e.first_seen, _flow(e), fields))
    return out


def judge_systems(systems: SystemInventory, rules: RuleSet, policy: Policy | None) -> list[Observation]:
    """`judge` under the rule set's own end-of-life table (the built-in one for a bare RuleSet)."""
    table = rules.eol if isinstance(rules.eol, EolTable) else load_eol([builtin_rules_dir()])
    return judge(systems, table, policy)
