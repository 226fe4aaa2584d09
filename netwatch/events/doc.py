"""The event vocabulary as Markdown, generated from the registry in `events` (so the doc cannot
drift): `python -m netwatch.events --markdown [FILE]` prints it or rewrites FILE's generated section.
"""

from __future__ import annotations

import sys

from netwatch.events import KINDS, RULE_NAMES
from netwatch.events.fields import FieldSpec, flow_specs, own_specs, policy_specs


def _type_name(s: FieldSpec) -> str:
    names = [t.__name__ for t in s.types if t is not type(None)]
    base = " | ".join(names)
    if s.is_list:
        base = f"list of {base}"
    if s.address:
        base = "address"
    return base + (" or null" if type(None) in s.types else "")


def markdown() -> str:
    """The event vocabulary as Markdown, for docs/architecture.md."""
    lines = ["Flow facts (every kind):", "", "| field | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{s.name}` | {_type_name(s)} | {s.doc} |" for s in flow_specs().values()]
    lines += ["", "Policy facts (every kind; null without a policy):", "", "| field | type | meaning |",
              "| --- | --- | --- |"]
    lines += [f"| `{s.name}` | {_type_name(s)} | {s.doc} |" for s in policy_specs().values()]
    for kind, cls in KINDS.items():
        lines += ["", f"### `{kind}` ({cls.__name__})", "", (cls.__doc__ or "").strip(), "",
                  "| field | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{s.name}` | {_type_name(s)} | {s.doc} |" for s in own_specs(cls, RULE_NAMES).values()]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- events:begin (generated: python -m netwatch.events --markdown) -->", "<!-- events:end -->"


def write_doc(path: str) -> bool:
    """Replace the generated section of `path`; True when it changed."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    new = f"{head}{BEGIN}\n{markdown()}{END}{tail}"
    if new == text:
        return False
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(new)
    return True


def main(argv: list[str]) -> None:
    if "--markdown" in argv:
        target = argv[argv.index("--markdown") + 1:]
        if target:
            write_doc(target[0])
        else:
            sys.stdout.write(markdown())
