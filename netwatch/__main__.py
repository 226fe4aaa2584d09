"""`python -m netwatch` and the `netwatch` command (pyproject's entry point: `entry`).

From its first instruction, before anything is imported, Ctrl-C and SIGTERM only record
themselves: a signal while Python still imports netwatch is neither a traceback nor lost. The
command decides when to act on it (`netwatch.cli.common.arm_interrupts`): scan writes its outputs
(a summary with `interrupted: true`) and exits 130, the other commands exit 130 at once.
"""

import signal

EARLY_SIGNALS: list[int] = []


def _record(signum: int, frame: object) -> None:
    EARLY_SIGNALS.append(signum)


signal.signal(signal.SIGINT, _record)
signal.signal(signal.SIGTERM, _record)


def entry() -> None:
    from netwatch.cli import main

    raise SystemExit(main(early=EARLY_SIGNALS))


if __name__ == "__main__":
    entry()
