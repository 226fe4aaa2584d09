"""Reports: rich console summary, JSON Lines. Every packet-derived string is escaped on the way out."""

from pathlib import Path

# The JSON Lines contract (README: "JSON Lines"), shipped in the package; here so that
# `netwatch schema` finds it without importing the report stack.
SCHEMA_PATH = Path(__file__).with_name("schema") / "netwatch-eve-v2.json"
