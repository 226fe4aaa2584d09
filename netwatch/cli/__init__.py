"""Command line: argument parsing and exit codes only; the work lives in the layers.

Each command is a module of this package with `register(subparsers)`; COMMANDS lists them.
Exit codes: 0 no finding at or above --fail-on; 1 such findings; 2 usage or input error;
130 interrupted (after the summary and JSON of what was found so far are written).

Start-up imports only the argument parser's needs: each command imports its layers when it runs,
so `--version` and `--help` cost little more than Python's own start.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from netwatch import __version__
from netwatch.cli import completion, config, diff, history, interfaces, learn, live, scan, schema
from netwatch.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, UsageError, arm_interrupts, defer_interrupts

COMMANDS = [scan, learn, diff]  # append new command modules here
COMMANDS += [live, interfaces, schema, completion, config, history]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line plus a pointer to --help, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"{self.prog}: {message} (see '{self.prog} --help')\n")


class _Version(argparse.Action):
    """`--version`: the version and the transport core that would run (compiled or pure Python),
    named from what is built and the environment, without loading the core or numpy."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from netwatch.capture.core_switch import core_name

        print(f"netwatch {__version__}, {core_name()} core")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="netwatch",
        description="Inspect point-of-sale network traffic: card data in the clear, unprotected links, "
                    "weak TLS, cleartext logins, remote access, unexpected destinations.",
    )
    ap.add_argument("--version", action=_Version, nargs=0, help="show the version and which core runs, then exit")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.register(sub)
    return ap


def _user_error(e: Exception) -> bool:
    """A one-line input error (bad rules, policy, arguments), as opposed to a bug. The rule and
    policy modules are consulted only when loaded: an error cannot be of a class never imported."""
    if isinstance(e, UsageError):
        return True
    for module, name in (("netwatch.judge.rules", "RuleError"), ("netwatch.judge.policy", "PolicyError")):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(e, getattr(loaded, name)):
            return True
    return False


def main(argv: list[str] | None = None, early: list[int] | None = None) -> int:
    """Run one command. `early`: the signals recorded since the program's first instruction
    (`netwatch.__main__`); scan acts on them once its outputs can be written, others at once."""
    if early is not None:
        defer_interrupts(early)
    try:
        parser = build_parser()
        problem = None
        try:  # netwatch.toml: site defaults under the flags
            config.apply_defaults(parser, config.load_settings())
        except config.ConfigError as e:
            problem = e  # raised once the arguments parsed: --help and --version still work
        args = parser.parse_args(argv)
        if problem is not None:
            raise problem
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        args.run_id = str(uuid.uuid4())  # this invocation: its JSON records and history visits join on it
        if not getattr(args, "defers_interrupts", False):
            arm_interrupts()
        return int(args.func(args))
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("netwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        if not _user_error(e):
            raise
        print(f"netwatch: {e}", file=sys.stderr)
        return EXIT_ERROR
