"""What rules may read, kind by kind: each field's value types, whether it is an address, and its
meaning — taken from the event classes' declarations (`netwatch.events`), never listed by hand.
Rules are checked against these when they load (`judge/schema.py`), and docs/architecture.md's
event tables are generated from them (`python -m netwatch.events --markdown`).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from netwatch.events import FLOW_FIELDS, KINDS, RULE_NAMES, FlowFacts

# Facts under the site policy (netwatch.judge.policy.facts); all null without a policy except `present`.
POLICY_FACTS: dict[str, tuple[type, str]] = {
    "present": (bool, "a site policy was given"),
    "dst_allowed": (bool, "an allowed destination matches dst (address or name), port and app"),
    "allowed_as": (str, "the name of that allowed destination"),
    "matched_name": (str, "the hostname that matched (null when matched by address)"),
    "dst_resolver": (bool, "dst is one of the store's resolvers"),
    "src_pos": (bool, "src is a POS host"),
    "dst_pos": (bool, "dst is a POS host"),
    "src_internal": (bool, "src is inside the internal networks"),
    "dst_internal": (bool, "dst is inside the internal networks"),
    "src_public": (bool, "src is public (not internal, multicast, loopback or link-local)"),
    "dst_public": (bool, "dst is public"),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field as rules see it: its value type(s), whether it is an address, and what it means."""

    name: str
    types: tuple[type, ...]  # accepted value types (NoneType when it may be null)
    address: bool
    doc: str
    is_list: bool = False


def _spec(name: str, f: dataclasses.Field[Any], hint: Any) -> FieldSpec:
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    is_list = any(typing.get_origin(a) is tuple for a in args)
    flat: list[type] = []
    for a in args:
        if typing.get_origin(a) is tuple:
            flat.append(typing.get_args(a)[0])
        elif isinstance(a, type):
            flat.append(a)
    return FieldSpec(name, tuple(flat), bool(f.metadata.get("address")), str(f.metadata.get("doc", "")), is_list)


def own_specs(cls: type[Any], rename: dict[str, str]) -> dict[str, FieldSpec]:
    """A kind's own fields (not ts, flow or internal ones) under their rule names."""
    hints = typing.get_type_hints(cls)  # resolved in the class's own module
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in ("ts", "flow") or f.metadata.get("internal"):
            continue
        name = rename.get(f.name, f.name)
        out[name] = _spec(name, f, hints[f.name])
    return out


@functools.cache  # the registry is fixed at import; rule loading asks once per rule
def flow_specs() -> dict[str, FieldSpec]:
    """The flow facts under their rule names (sport/dport are aliases of client_port/server_port)."""
    base = own_specs(FlowFacts, {})
    return {name: dataclasses.replace(base[attr], name=name) for name, attr in FLOW_FIELDS.items()}


@functools.cache
def fields_of(kind: str) -> dict[str, FieldSpec]:
    """Every field a rule on `kind` may name: the event's own, then the flow's (own ones win)."""
    own = own_specs(KINDS[kind], RULE_NAMES)
    return {**flow_specs(), **own}


@functools.cache
def policy_specs() -> dict[str, FieldSpec]:
    return {f"policy.{k}": FieldSpec(f"policy.{k}", (t, type(None)), False, d) for k, (t, d) in POLICY_FACTS.items()}

