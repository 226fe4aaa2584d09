"""No output of any bundled capture contains a full card number or a password that a scenario put into it.

Scenario modules list their numbers in CARD_NUMBERS (see captures/make_captures.py) and their
passwords in PASSWORDS (looked for as written and percent- or form-encoded, as URL and form logins
send them). The scan writes the console summary, JSON Lines (with every `--log` record) and the HTML report; the check
looks at them as written and with spacing, dashes and table borders removed (a wrapped or grouped
number still counts). Nothing is printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

from scenario_modules import scenario_lists

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"


def card_numbers() -> set[str]:
    numbers = {re.sub(r"\D", "", n) for n in scenario_lists("CARD_NUMBERS")}
    return {n for n in numbers if len(n) >= 12}


def passwords() -> set[str]:
    """The scenarios' passwords (PASSWORDS), long enough not to be an everyday word of a report."""
    return {p for p in scenario_lists("PASSWORDS") if len(p) >= 8}


def test_no_card_number_in_any_output(tmp_path):
    numbers = card_numbers()
    assert len(numbers) >= 4  # the base scenarios alone put four in
    secrets = passwords()
    assert len(secrets) >= 20  # logins, evidence, leaks, metadata and URL-login scenarios
    out_json = tmp_path / "findings.jsonl"
    out_html = tmp_path / "report.html"
    env = dict(os.environ, COLUMNS="100")
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(CAPTURES), "--json", str(out_json),
                          "--html", str(out_html), "--fail-on", "none", "--no-progress", "--log", "all"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 0, "scan failed: " + run.stderr[-500:]
    outputs = {"console": run.stdout, "stderr": run.stderr, "json": out_json.read_text(),
               "html": out_html.read_text()}
    assert "NW-CARD-001" in outputs["json"]  # the scan did find the cards it must not print
    for kind in ("flow", "tls", "dns", "http"):  # and wrote the metadata records, every one checked below
        assert f'"event_type": "{kind}"' in outputs["json"]
    for name, text in outputs.items():
        squeezed = re.sub(r"[\s\-│┃|─━]+", "", text)
        leaked = [n for n in numbers if n in text or n in squeezed]
        assert not leaked, f"{len(leaked)} full card number(s) in the {name} output"
        as_sent = [p for p in secrets if any(f in text for f in (p, quote(p, safe=""), quote_plus(p, safe="")))]
        assert not as_sent, f"{len(as_sent)} password(s) in the {name} output (plain or percent-encoded)"
