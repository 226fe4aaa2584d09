"""`netwatch schema`: print the JSON Schema of the JSON Lines records, for a SIEM's ingest pipeline."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("schema", help="print the JSON Schema of the JSON Lines records",
                        description="Print the JSON Schema (draft 2020-12) that every record of scan --json, "
                                    "live --json and diff --json follows.")
    sp.set_defaults(func=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    from netwatch.report import SCHEMA_PATH

    sys.stdout.write(SCHEMA_PATH.read_text(encoding="utf-8"))
    sys.stdout.flush()
    return 0
