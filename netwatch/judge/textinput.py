"""Bounded reading of the text inputs a user hands over: policy and rule YAML, JSON Lines.

A policy or rule file is a few kilobytes; whatever is far larger (`/dev/zero`, a FIFO that never
ends, a wrong file) is refused before it fills memory. YAML aliases are refused outright: neither
file format needs them, and a "billion laughs" document expands a few hundred bytes of aliases
into gigabytes once a caller walks or copies the tree. Nesting is capped too (the composer and
the validators recurse). The libyaml parser does the work when it is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

MAX_YAML_BYTES = 1 << 20  # 1 MiB: the bundled rule pack is ~20 KB, a large store policy a few KB
MAX_YAML_DEPTH = 32  # a policy or rule nests 3-4 levels
MAX_JSONL_BYTES = 64 << 20  # a netwatch JSON Lines file of findings (aggregated: ~100k at most)
MAX_JSONL_LINE = 1 << 20  # one finding record

LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present


class InputError(Exception):
    """A text input refused before or while parsing; `at(path)` words it as `path:line: problem`."""

    def __init__(self, msg: str, line: int | None = None) -> None:
        super().__init__(msg)
        self.msg, self.line = msg, line

    def at(self, path: str | Path) -> str:
        return f"{path}:{self.line}: {self.msg}" if self.line else f"{path}: {self.msg}"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def read_capped(path: str | Path, limit: int) -> bytes:
    """The whole file, or InputError when it holds more than `limit` bytes (never reads past it)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"larger than {_mib(limit)}; refused")
    return data


def read_yaml_text(path: str | Path, what: str) -> str:
    """A YAML file's text: size-capped, UTF-8. OSError passes through for the caller's wording."""
    data = read_capped(path, MAX_YAML_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (a {what} file is UTF-8 YAML)", line) from None


def check_yaml(text: str) -> None:
    """Refuse aliases, anchors and deep nesting, reading parser events only (nothing is built)."""
    depth = 0
    try:
        for ev in yaml.parse(text, Loader=LOADER):
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None):
                raise InputError("YAML anchors and aliases (&, *) are not allowed", _line(ev))
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise InputError(f"nested deeper than {MAX_YAML_DEPTH} levels", _line(ev))
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as e:
        raise _yaml_problem(e) from None


def _line(ev: yaml.Event) -> int | None:
    mark = ev.start_mark
    return None if mark is None else mark.line + 1


def _yaml_problem(e: yaml.YAMLError) -> InputError:
    mark = getattr(e, "problem_mark", None)
    line = mark.line + 1 if mark else None
    problem = str(getattr(e, "problem", None) or e)
    if "nesting depth" in problem:  # libyaml 0.2.6+ (PyYAML 6.0.4) stops deep nesting before our own check
        return InputError(f"nested deeper than {MAX_YAML_DEPTH} levels", line)
    return InputError(f"not valid YAML: {problem}", line)


def _checked(text: str, read: Callable[..., Any]) -> Any:
    """`read` (yaml.load or yaml.compose) on checked text; a YAML error becomes an InputError."""
    check_yaml(text)
    try:
        return read(text, Loader=LOADER)
    except yaml.YAMLError as e:
        raise _yaml_problem(e) from None


def load_yaml(text: str) -> Any:
    """Checked (see `check_yaml`), then loaded with the safe loader."""
    return _checked(text, yaml.load)


def compose_yaml(text: str) -> Any:
    """The node tree (with line marks) of checked YAML text."""
    return _checked(text, yaml.compose)
