"""The compiled pcap record walk (`netwatch.capture._records`), when built and not switched off.

`NETWATCH_PURE=1` in the environment runs the pure-Python core everywhere (this and
`netwatch.flows.core`); without a C compiler at install time there is nothing compiled to load.
"""

from __future__ import annotations

import os
from types import ModuleType

PURE = os.environ.get("NETWATCH_PURE", "") not in ("", "0")


def core_name() -> str:
    """The core a scan would run, from what is built (found, not imported) and NETWATCH_PURE:
    `netwatch --version` names it without paying for loading it."""
    from importlib.util import find_spec

    built = all(find_spec(m) is not None for m in ("netwatch.capture._records", "netwatch.flows._core"))
    return "compiled (Cython)" if built and not PURE else "pure Python"


records: ModuleType | None = None
if not PURE:
    try:
        from netwatch.capture import _records as records
    except ImportError:  # not built here: the pure-Python record walk runs
        records = None
