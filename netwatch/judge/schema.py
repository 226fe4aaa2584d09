"""What a rule may name: the event registry's fields and types, checked when a rule loads.

A rule that names an unknown kind or field, or compares a field with a value of the wrong type,
could never fire; for a security tool that silent miss is the worst failure, so `netwatch.judge.rules`
refuses it at load with the closest valid name. The vocabulary itself lives in netwatch.events.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import string
from collections.abc import Iterable
from typing import Any

from netwatch.events import KINDS
from netwatch.events.fields import FieldSpec, fields_of, policy_specs

NUMERIC_OPS = ("gt", "ge", "lt", "le")
ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")  # rule ids: NW-CARD-001


class RuleError(Exception):
    """Invalid rule (or end-of-life) file; the message names file, rule id and field."""


def closest(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest candidate, or '' when none is near."""
    near = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{near[0]}'?)" if near else ""


def unknown_kind(kind: str) -> str | None:
    """The error for an `on:` that names no event kind, or None."""
    if kind in KINDS:
        return None
    near = closest(kind, KINDS)
    return f"unknown kind '{kind}' in on{near or ' (known: ' + ', '.join(sorted(KINDS)) + ')'}"


def template_fields(template: str) -> list[str]:
    """The field names a message template uses ({dst}, {dport}, …)."""
    return [name for _lit, name, _spec, _conv in string.Formatter().parse(template) if name is not None]


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _type_label(spec: FieldSpec) -> str:
    if spec.address:
        return "an IP address"
    names = [t.__name__ for t in spec.types if t is not type(None)]
    return " or ".join({"str": "a string", "int": "an integer", "float": "a number", "bool": "true/false"}
                       .get(n, n) for n in names)


class Schema:
    """The fields a rule on one kind may name: the kind's own, the flow's and the policy facts."""

    def __init__(self, kind: str) -> None:
        self.fields: dict[str, FieldSpec] = {**fields_of(kind), **policy_specs()}

    def unknown(self, name: str, section: str) -> str | None:
        """The error for a field name the kind does not have, or None."""
        if name in self.fields:
            return None
        return f"unknown field '{name}' in {section}{closest(name, self.fields)}"

    def fits(self, spec: FieldSpec, value: Any) -> bool:
        """Whether a rule's value can ever equal what the field holds (null always can)."""
        if value is None:
            return True
        if spec.address:
            return isinstance(value, str) and _is_ip(value)
        for t in spec.types:
            if t is bool and isinstance(value, bool):
                return True
            if t in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
                return t is float or isinstance(value, int)
            if t is str and isinstance(value, str):
                return True
        return False

    def check(self, name: str, op: str, arg: Any, section: str) -> str | None:
        """The error for condition `name: {op: arg}` (op '=' equality, 'one_of' a list), or None."""
        spec = self.fields[name]
        where = f"field '{name}' in {section}"
        if spec.is_list and op != "exists":
            return f"{where}: the field is a list; only 'exists' applies to it"
        if op in (*NUMERIC_OPS, "sum"):
            if not any(t in (int, float) for t in spec.types) or spec.address:
                return f"{where}: '{op}' needs a numeric field, '{name}' holds {_type_label(spec)}"
            return None  # the argument's own type is checked with the operator
        if op == "regex":
            return None if str in spec.types and not spec.address else \
                f"{where}: 'regex' needs a text field, '{name}' holds {_type_label(spec)}"
        if op in ("cidr", "not_cidr"):
            return None if spec.address else \
                f"{where}: '{op}' needs an address field (src, dst, resolver), '{name}' holds {_type_label(spec)}"
        if op == "exists":
            return None
        values = arg if op in ("one_of", "in", "not_in") and isinstance(arg, list) else [arg]
        for v in values:
            if not self.fits(spec, v):
                return f"{where}: {_short(v)} is not {_type_label(spec)}"
        return None


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True
