"""JSON Lines: one aggregated finding per line, fields in DESIGN.md's contract order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from netwatch.findings import Finding


def finding_line(f: Finding) -> str:
    # ensure_ascii keeps control characters from packets escaped (\u001b) in the file
    return json.dumps(f.to_json(), ensure_ascii=True, separators=(", ", ": "))


def write_jsonl(findings: Iterable[Finding], out: TextIO) -> int:
    n = 0
    for f in findings:
        out.write(finding_line(f) + "\n")
        n += 1
    out.flush()
    return n
