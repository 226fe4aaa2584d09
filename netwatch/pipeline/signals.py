"""Signal handlers installed for the length of a `with` block, then put back as they were.

scan, the Dask runner and live each decide what Ctrl-C and SIGTERM mean while they work (raise,
defer to a flag, stop cleanly); this is the one place that swaps the handlers in and out.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[[int, Any], None]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def handling(handler: Handler, signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """`handler` for `signals` inside the block; the previous handlers after it."""
    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def raise_interrupt(signum: int, frame: Any) -> None:
    """A signal that should end work exactly like Ctrl-C."""
    raise KeyboardInterrupt
