"""Signal handlers installed for the length of a `with` block, then put back as they were.

scan, the Dask runner and live each decide what Ctrl-C and SIGTERM mean while they work (raise,
defer to a flag, stop cleanly); this is the one place that swaps the handlers in and out.
"""

from __future__ import annotations

import contextlib
import signal
import threading
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


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM set the returned event (a clean stop); a second Ctrl-C interrupts outright."""
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    with handling(handler):
        yield stop


def raise_interrupt(signum: int, frame: Any) -> None:
    """A signal that should end work exactly like Ctrl-C."""
    raise KeyboardInterrupt
