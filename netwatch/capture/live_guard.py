"""Runs a capture command (dumpcap) and stops it when netwatch is gone, however netwatch ended.

Why: dumpcap writes into netwatch's spool file, not a pipe, so netwatch dying (killed, out of
memory) would no longer end it with a broken pipe: it would go on capturing into a nameless file
in memory. The kernel's parent-death signal does not survive exec of a dumpcap with file
capabilities (the usual non-root install), so this small process does it: it starts the command
with its own standard streams, passes SIGINT/SIGTERM on, and when its parent has gone sends SIGINT
(dumpcap flushes and exits), then exits with the command's status.

Run as `python -m netwatch.capture.live_guard PARENT_PID COMMAND...`. Standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

CHECK = 0.5  # seconds between looks at the parent
STOP_WAIT = 10.0


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    try:
        child = subprocess.Popen(command)
    except OSError as e:
        print(f"cannot run {command[0]}: {e.strerror}", file=sys.stderr)
        return 127

    def forward(signum: int, frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)  # SIGINT is dumpcap's clean stop, whatever asked us

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while True:
        try:
            return _status(child.wait(CHECK))
        except subprocess.TimeoutExpired:
            pass
        if os.getppid() != parent:  # netwatch has gone: nobody reads what is captured
            forward(signal.SIGINT, None)
            try:
                return _status(child.wait(STOP_WAIT))
            except subprocess.TimeoutExpired:
                child.kill()
                return _status(child.wait())


def _status(code: int) -> int:
    """The command's exit status as a shell reports it (128 + signal when a signal ended it)."""
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
