"""The compiled pcap record walk (`netwatch.capture._records`), when built and not switched off.

`NETWATCH_PURE=1` in the environment runs the pure-Python core everywhere (this and
`netwatch.flows.core`); without a C compiler at install time there is nothing compiled to load.
"""

from __future__ import annotations

from types import ModuleType

from netwatch.capture.core_switch import PURE

records: ModuleType | None = None
if not PURE:
    try:
        from netwatch.capture import _records as records
    except ImportError:  # not built here: the pure-Python record walk runs
        records = None
