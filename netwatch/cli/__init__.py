"""Command line: argument parsing and exit codes only; the work lives in the layers.

Each command is a module of this package with `register(subparsers)`; COMMANDS lists them.
Exit codes: 0 no finding at or above --fail-on; 1 such findings; 2 usage or input error;
130 interrupted (after the summary and JSON of what was found so far are written).
"""

from __future__ import annotations

import argparse
import sys

from netwatch import __version__
from netwatch.cli import diff, history, interfaces, learn, live, scan
from netwatch.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, UsageError
from netwatch.flows.core import CORE
from netwatch.judge.policy import PolicyError
from netwatch.judge.schema import RuleError

COMMANDS = [scan, learn, diff]  # append new command modules here
COMMANDS += [live, interfaces]
COMMANDS += [history]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line plus a pointer to --help, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="netwatch",
        description="Inspect point-of-sale network traffic: card data in the clear, unprotected links, "
                    "weak TLS, cleartext logins, remote access, unexpected destinations.",
    )
    ap.add_argument("--version", action="version", version=f"netwatch {__version__}, {CORE} core")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args.func(args))
    except (UsageError, RuleError, PolicyError) as e:
        print(f"netwatch: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("netwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_OK
