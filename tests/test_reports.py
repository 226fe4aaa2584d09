"""Reports: HTML and console escape packet-derived text, hold no full card number, stay readable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netwatch.findings.aggregate import Finding
from netwatch.pipeline.session import SourceReport
from netwatch.report.html import render_html

ROOT = Path(__file__).resolve().parents[1]


def _finding(message: str, server_name: str) -> Finding:
    return Finding(
        rule="NW-CARD-001", category="card-data", severity="critical", title="t", first_seen=1.0, last_seen=2.0,
        count=1, src="10.0.0.1", sport=1, dst="10.0.0.2", dport=80, proto="tcp", app="http",
        server_name=server_name, evidence={}, remediation="fix <it>", references=["PCI"], source="x",
        message=message,
    )


def test_packet_strings_are_escaped() -> None:
    page = render_html([SourceReport(source="<img src=x>")], [_finding("<script>alert(1)</script>", '"><b>')])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '"><b>' not in page and "&#34;&gt;&lt;b&gt;" in page
    assert "<img src=x>" not in page
    assert "fix &lt;it&gt;" in page


def test_cli_html_has_masked_card_only(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    cap = ROOT / "captures" / "http_card_post.pcap"
    rc = subprocess.run([sys.executable, "-m", "netwatch", "scan", str(cap), "-q", "--html", str(out)],
                        cwd=ROOT, capture_output=True, text=True, timeout=120).returncode
    assert rc == 1
    page = out.read_text()
    assert "411111******1111" in page
    assert "4111111111111111" not in page
    assert "What to do" in page


def test_console_lists_worst_rows_per_category_and_says_how_many_more() -> None:
    import io

    from rich.console import Console

    from netwatch.report.console import print_findings

    findings = [_finding(f"card {i:03d}", "") for i in range(25)]
    buf = io.StringIO()
    print_findings(Console(file=buf, width=200), findings, limit=20)
    out = buf.getvalue()
    assert "card 019" in out and "card 020" not in out
    assert "5 more card-data findings" in out


def test_console_escapes_markup_and_control_characters() -> None:
    import io

    from rich.console import Console

    from netwatch.report.console import print_findings

    buf = io.StringIO()
    print_findings(Console(file=buf, width=200, force_terminal=True), [_finding("[bold red]x[/] \x1b[31mred", "h")])
    out = buf.getvalue()
    assert "[bold red]x[/]" in out  # shown literally, not interpreted
    assert "\x1b[31mred" not in out and "\\x1b[31mred" in out
