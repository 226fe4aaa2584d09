"""Allow `python -m netwatch`."""

import signal
import sys


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM stops netwatch like Ctrl-C: what was found so far is still written."""
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _terminate)
try:
    from netwatch.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python was still starting: nothing ran, nothing to write
    print("netwatch: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
