"""`--category`, `--min-severity`, `--rule`: which findings the console, JSON and HTML show (and the exit
code counts). Filters narrow the findings only; capture statistics and destinations stay whole."""

from __future__ import annotations

import argparse
import difflib
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netwatch.judge.vocabulary import CATEGORIES, SEVERITIES, SEVERITY_RANK

if TYPE_CHECKING:
    from netwatch.findings.aggregate import Finding


def _severity(value: str) -> str:
    v = value.lower()
    if v not in SEVERITIES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(SEVERITIES)}")
    return v


def _category(value: str) -> str:
    v = value.lower()
    if v not in CATEGORIES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(CATEGORIES)}")
    return v


def add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--category", type=_category, action="append", default=[], metavar="CATEGORY",
                   help=f"only findings of this category (may repeat): {', '.join(CATEGORIES)}")
    p.add_argument("--min-severity", type=_severity, metavar="SEVERITY",
                   help="only findings at least this severe")
    p.add_argument("--rule", action="append", default=[], metavar="ID",
                   help="only findings of this rule id (may repeat; shell wildcards: 'NW-TLS-*')")


@dataclass
class FindingFilter:
    categories: list[str] = field(default_factory=list)
    min_severity: str | None = None
    rules: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FindingFilter:
        return cls(list(getattr(args, "category", []) or []), getattr(args, "min_severity", None),
                   [r.upper() for r in getattr(args, "rule", []) or []])

    def __bool__(self) -> bool:
        return bool(self.categories or self.min_severity or self.rules)

    def keep(self, f: Finding) -> bool:
        if self.categories and f.category not in self.categories:
            return False
        if self.min_severity and SEVERITY_RANK[f.severity] > SEVERITY_RANK[self.min_severity]:
            return False
        return not self.rules or any(fnmatch.fnmatchcase(f.rule.upper(), r) for r in self.rules)

    def unmatched_rules(self, known_ids: Iterable[str]) -> str | None:
        """The error for a `--rule` pattern that names no loaded rule, or None.

        Such a pattern filters every finding away, so a CI gate on the exit code would pass whatever
        the capture holds; it is refused, naming the known ids closest to it."""
        ids = sorted({i.upper() for i in known_ids})
        for pattern in self.rules:
            if not fnmatch.filter(ids, pattern):
                near = difflib.get_close_matches(pattern, ids, n=3, cutoff=0.5)
                if not near:
                    stem = pattern.split("*")[0].rstrip("-")[:6]
                    near = [i for i in ids if i.startswith(stem)][:3] if stem else []
                hint = f"; closest: {', '.join(near)}" if near else f"; known ids look like {ids[0]}" if ids else ""
                return f"--rule {pattern}: matches no loaded rule{hint}"
        return None

    def apply(self, findings: list[Finding]) -> list[Finding]:
        return [f for f in findings if self.keep(f)] if self else list(findings)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.categories:
            out["category"] = self.categories
        if self.min_severity:
            out["min_severity"] = self.min_severity
        if self.rules:
            out["rule"] = self.rules
        return out
