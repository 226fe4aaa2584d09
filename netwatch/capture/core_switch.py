"""Which transport core runs, decided without loading it: `NETWATCH_PURE=1` forces pure Python,
otherwise the compiled extensions run where they were built. Imports nothing heavy, so
`netwatch --version` can name the core at no cost; `capture.compiled` and `flows.core` load it."""

from __future__ import annotations

import os
from importlib.util import find_spec

PURE = os.environ.get("NETWATCH_PURE", "") not in ("", "0")
EXTENSIONS = ("netwatch.capture._records", "netwatch.flows._core")


def core_name() -> str:
    """The core a scan would run: from what is built (found, not imported) and PURE."""
    built = all(find_spec(m) is not None for m in EXTENSIONS)
    return "compiled (Cython)" if built and not PURE else "pure Python"
