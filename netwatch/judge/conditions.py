"""Rule conditions: a closed vocabulary compiled to closures (no eval), checked as it compiles.

Equality, one-of, not, numeric comparisons, regex, CIDR, existence, all/any. Every field a
condition names, and the type of every value, is checked against the event registry
(netwatch.judge.schema) so that a rule that could never fire is refused at load.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netwatch.judge.schema import Schema

OPS = {"eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "regex", "cidr", "not_cidr", "exists"}
MISSING = object()  # a field the event does not have
Getter = Callable[[str], Any]
Cond = Callable[[Getter], bool]
Test = Callable[[Any], bool]  # one operator applied to a field's value

Fail = Callable[[tuple[Any, ...], str], Exception]  # YAML keys within the rule, message → error with file:line


@dataclass(frozen=True)
class Ctx:
    """Where a condition sits (dotted name and YAML keys), how to fail there, and what it may name."""

    fail: Fail
    schema: Schema
    section: str  # `when` or `escalate[i].when`, as errors name it
    where: str
    keys: tuple[Any, ...]

    def at(self, key: str | int) -> Ctx:
        where = f"{self.where}[{key}]" if isinstance(key, int) else f"{self.where}.{key}"
        return Ctx(self.fail, self.schema, self.section, where, (*self.keys, key))

    def err(self, msg: str) -> Exception:
        return self.fail(self.keys, f"field '{self.where}': {msg}")


def compile_condition(spec: Any, ctx: Ctx) -> Cond:
    if not isinstance(spec, dict):
        raise ctx.err("expected a mapping of field: condition (or all/any/not)")
    parts: list[Cond] = []
    for key, val in spec.items():
        key = str(key)
        sub = ctx.at(key)
        if key in ("all", "any"):
            if not isinstance(val, list) or not val:
                raise sub.err("expected a non-empty list of conditions")
            subs = [compile_condition(v, sub.at(i)) for i, v in enumerate(val)]
            parts.append(_all_of(subs) if key == "all" else _any_of(subs))
        elif key == "not":
            parts.append(_not(compile_condition(val, sub)))
        else:
            unknown = ctx.schema.unknown(key, ctx.section)
            if unknown:
                raise ctx.fail(sub.keys, unknown)
            parts.append(_field_cond(key, val, sub))
    if len(parts) == 1:
        return parts[0]
    return _all_of(parts)


def _not(inner: Cond) -> Cond:
    return lambda g: not inner(g)


# Plain loops, not all()/any() over generators: conditions run for every observation.
def _all_of(conds: list[Cond]) -> Cond:
    def cond(g: Getter) -> bool:
        for c in conds:  # noqa: SIM110 - a loop, no generator per call
            if not c(g):
                return False
        return True
    return cond


def _any_of(conds: list[Cond]) -> Cond:
    def cond(g: Getter) -> bool:
        for c in conds:  # noqa: SIM110 - a loop, no generator per call
            if c(g):
                return True
        return False
    return cond


def _check(ctx: Ctx, name: str, op: str, arg: Any) -> None:
    bad = ctx.schema.check(name, op, arg, ctx.section)
    if bad:
        raise ctx.fail(ctx.keys, bad)


def _field_cond(name: str, val: Any, ctx: Ctx) -> Cond:
    if isinstance(val, list):
        _check(ctx, name, "one_of", val)
        choices = list(val)
        return lambda g: g(name) in choices
    if not isinstance(val, dict):
        _check(ctx, name, "=", val)
        return lambda g: bool(g(name) == val) and g(name) is not MISSING
    tests: list[Test] = []
    for op, arg in val.items():
        at = ctx.at(str(op))
        if op not in OPS:
            raise at.err(f"unknown operator (known: {', '.join(sorted(OPS))})")
        _check(at, name, op, arg)
        tests.append(_op_test(str(op), arg, at))
    if len(tests) == 1:
        test = tests[0]
        return lambda g: test(g(name))

    def cond(g: Getter) -> bool:
        v = g(name)
        for t in tests:  # noqa: SIM110 - a loop, no generator per call
            if not t(v):
                return False
        return True
    return cond


CMP: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda v, a: bool(v > a), "ge": lambda v, a: bool(v >= a), "lt": lambda v, a: bool(v < a),
    "le": lambda v, a: bool(v <= a),
}


def _op_test(op: str, arg: Any, at: Ctx) -> Test:
    """The test one operator applies to a field's value (its argument checked here)."""
    if op == "eq":
        return lambda v: bool(v == arg)
    if op == "ne":
        return lambda v: bool(v != arg)
    if op in ("in", "not_in"):
        if not isinstance(arg, list):
            raise at.err("expected a list")
        return (lambda v: v in arg) if op == "in" else (lambda v: v not in arg)
    if op in CMP:
        if not isinstance(arg, (int, float)) or isinstance(arg, bool):
            raise at.err("expected a number")
        c = CMP[op]
        return lambda v: isinstance(v, (int, float)) and c(v, arg)
    if op == "regex":
        try:
            rx = re.compile(str(arg))
        except re.error as e:
            raise at.err(f"invalid regular expression: {e}") from None
        return lambda v: isinstance(v, str) and rx.search(v) is not None
    if op in ("cidr", "not_cidr"):
        try:
            nets = [ipaddress.ip_network(str(n), strict=False) for n in (arg if isinstance(arg, list) else [arg])]
        except ValueError as e:
            raise at.err(str(e)) from None
        if op == "cidr":
            return lambda v: _in_nets(v, nets)
        return lambda v: v is not MISSING and not _in_nets(v, nets)
    want = bool(arg)  # exists
    return lambda v: (v is not MISSING and v is not None) == want


def _in_nets(v: Any, nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        a = ipaddress.ip_address(v)
    except (ValueError, TypeError):
        return False
    return any(a in n for n in nets)
