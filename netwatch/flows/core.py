"""Which transport core runs: the compiled one (Cython: `netwatch.flows._core` for a block's
headers, flow lookups and counts, `netwatch.capture._records` for the pcap record walk) or pure
Python (numpy and bytecode), with identical results.

`pip install .` builds the extensions where a C compiler is present; without one, or with
`NETWATCH_PURE=1` in the environment, the pure-Python core runs. `netwatch --version` says which.
"""

from __future__ import annotations

from types import ModuleType

from netwatch.capture.compiled import records
from netwatch.capture.core_switch import PURE

compiled: ModuleType | None = None
if not PURE:
    try:
        from netwatch.flows import _core as compiled
    except ImportError:  # not built here: the pure-Python core runs
        compiled = None

CORE = "compiled (Cython)" if compiled is not None and records is not None else "pure Python"
