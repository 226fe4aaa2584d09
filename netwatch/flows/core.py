"""Which transport core runs: the compiled one (Cython, `netwatch.flows._core`) or pure Python.

`pip install .` builds the extension where a C compiler is present; without it, or with
`NETWATCH_PURE=1` in the environment, the pure-Python path runs, with identical results.
"""

from __future__ import annotations

import os
from types import ModuleType

compiled: ModuleType | None = None
if os.environ.get("NETWATCH_PURE", "") in ("", "0"):
    try:
        from netwatch.flows import _core as compiled
    except ImportError:  # not built here: the pure-Python core runs
        compiled = None

CORE = "compiled (Cython)" if compiled is not None else "pure Python"
