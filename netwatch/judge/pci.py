"""The PCI DSS v4.0.1 view: which requirements a run's findings bear on, from a table beside the rules.

`rules/pci/pci.yaml` maps each rule (shell wildcards allowed) to requirements, each with what the
network view can and cannot show and its source. The view lists every requirement: those with
findings against them, and those the capture shows nothing against. It never says "compliant":
traffic cannot prove compliance.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import yaml

from netwatch.judge.rules import SEVERITY_RANK, builtin_rules_dir
from netwatch.judge.schema import RuleError
from netwatch.judge.textinput import LOADER

NOTHING_SEEN = "nothing seen"  # never "compliant": the capture showed nothing against it
FINDINGS = "findings"
NOT_A_VERDICT = ("Findings bear on these PCI DSS v4.0.1 requirements; a requirement without findings only means "
                 "this traffic showed nothing against it. This is not a compliance assessment.")


class _Finding(Protocol):
    rule: str
    severity: str
    finding_id: str | None


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    rules: tuple[str, ...]
    network_view: str
    source: str

    def covers(self, rule: str) -> bool:
        return any(fnmatch.fnmatchcase(rule, pattern) for pattern in self.rules)


def load_pci(path: Path | None = None) -> list[Requirement]:
    """The table, checked: a bad entry is a RuleError naming the file and the entry."""
    p = path or builtin_rules_dir() / "pci" / "pci.yaml"
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=LOADER)  # libyaml (safe): ~10x yaml.safe_load
    except (OSError, yaml.YAMLError) as e:
        raise RuleError(f"{p}: cannot read the PCI DSS table: {e}") from None
    items = doc.get("requirements") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise RuleError(f"{p}: expected a mapping with a 'requirements' list")
    out = []
    for i, item in enumerate(items):
        fields = ("id", "title", "network_view", "source")
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item[k].strip() for k in fields) \
                or not isinstance(item.get("rules"), list) or not item["rules"]:
            raise RuleError(f"{p}: requirement #{i + 1}: needs id, title, rules (a list), network_view and source")
        out.append(Requirement(item["id"], item["title"], tuple(str(r) for r in item["rules"]),
                               item["network_view"], item["source"]))
    return out


@cache
def builtin_table() -> tuple[Requirement, ...]:
    return tuple(load_pci())


def pci_view(findings: Iterable[_Finding], table: Iterable[Requirement] | None = None) -> list[dict[str, object]]:
    """One entry per requirement, in the table's order: `id`, `title`, `status` (`findings` or
    `nothing seen`), `findings` (their finding ids), `worst` severity, `network_view`, `source`."""
    by_rule: dict[str, list[_Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    out: list[dict[str, object]] = []
    for req in table if table is not None else builtin_table():
        hits = [f for rule, fs in by_rule.items() if req.covers(rule) for f in fs]  # patterns per rule, not per finding
        worst = min((f.severity for f in hits), key=lambda s: SEVERITY_RANK[s], default=None)
        out.append({"id": req.id, "title": req.title, "status": FINDINGS if hits else NOTHING_SEEN,
                    "findings": sorted({f.finding_id for f in hits if f.finding_id}),
                    "rules": sorted({f.rule for f in hits}), "count": len(hits), "worst": worst,
                    "network_view": req.network_view, "source": req.source})
    return out
