"""The event classes: `class X(Event, kind="x")` makes a frozen, slotted, keyword-only dataclass
registered under its kind (netwatch.events)."""

from __future__ import annotations

import dataclasses
import pickle
import typing
from typing import Any

import pytest

from netwatch import events
from netwatch.events import EVENT_TYPES, KINDS, Event, FlowFacts
from netwatch.events.fields import fields_of

FACTS = FlowFacts("192.0.2.1", "198.51.100.2", 40000, 443, "tcp")
SAMPLE: dict[Any, Any] = {str: "x", int: 1, float: 1.0, bool: True}


def _minimal(cls: type[Event]) -> Event:
    """An instance with every required field set to a value of its type."""
    hints = typing.get_type_hints(cls, vars(events))
    kw = {f.name: SAMPLE[hints[f.name]] for f in dataclasses.fields(cls)
          if f.default is dataclasses.MISSING and f.name not in ("ts", "flow")}
    return cls(ts=1.0, flow=FACTS, **kw)


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda c: c.kind)
def test_every_kind_is_a_frozen_slotted_keyword_only_dataclass(cls: type[Event]) -> None:
    event = _minimal(cls)
    assert not hasattr(event, "__dict__") and "__slots__" in vars(cls)
    assert all(f.kw_only for f in dataclasses.fields(cls))
    name = dataclasses.fields(cls)[-1].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, name, None)
    with pytest.raises(TypeError):
        cls(1.0, FACTS)  # type: ignore[call-arg]
    assert pickle.loads(pickle.dumps(event)) == event  # events cross process boundaries in shards


def test_the_class_line_names_the_kind_once() -> None:
    assert [c.kind for c in EVENT_TYPES] == list(KINDS) and len(KINDS) == len(EVENT_TYPES)
    assert all(KINDS[c.kind] is c and c.kind for c in EVENT_TYPES)
    assert Event.kind == "" and events._OnHost.kind == ""  # bases are no kind of their own


def test_software_and_outdated_share_the_host_fields_in_front() -> None:
    shared = ["host", "role", "product", "version"]
    for cls in (events.Software, events.Outdated):
        assert list(events._OWN[cls])[:4] == shared
        assert fields_of(cls.kind)["host"].address
