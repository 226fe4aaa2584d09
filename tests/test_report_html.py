"""The owner's HTML report: first screen, charts, grouping, escaping, self-contained, real headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from netwatch.findings.aggregate import Finding
from netwatch.pipeline.session import SourceReport
from netwatch.report.html import render_html

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "captures"
POLICY = CAPTURES / "policies" / "store.yaml"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
OUTSIDE = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:|//)|url\(\s*["']?\s*(?:https?:|//)|@import""",
                     re.I)


def _html(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "r.html"
    run = subprocess.run([sys.executable, "-m", "netwatch", "scan", *args, "-q", "--html", str(out), "--jobs", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr[-500:]
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _html(tmp_path_factory.mktemp("one"), str(CAPTURES / "http_card_post.pcap"))


@pytest.fixture(scope="module")
def every(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _html(tmp_path_factory.mktemp("all"), str(CAPTURES), "--policy", str(POLICY))


def _first_screen(page: str) -> str:
    return page[page.index('<section class="verdict'):page.index('<section class="charts"')]


def test_first_screen_says_verdict_fixes_devices_destinations(single: str) -> None:
    top = _first_screen(single)
    assert "Card data exposed: 1 distinct card travelled unprotected from 1 device in this capture." in top
    assert top.count("<li><span class=\"sev") == 2  # two rules fired: two fixes, worst first
    assert top.index("Card number in cleartext") < top.index("Application traffic not protected")
    assert "10.20.1.15" in top and "198.51.100.77:8080" in top and "legacy-gw.example" in top
    assert "411111******1111" in single and "4111111111111111" not in single


def test_safe_verdict_for_a_clean_store(tmp_path: Path) -> None:
    top = _first_screen(_html(tmp_path, str(CAPTURES / "dest_clean_store.pcap"), "--policy", str(POLICY)))
    assert "Safe: no card data and no serious problem" in top and "Nothing to fix" in top


def test_charts_are_inline_svg_and_nothing_is_fetched(every: str) -> None:
    assert every.count("<svg") >= 3
    for title in ("Findings by severity", "Protected vs cleartext", "When problems were first seen"):
        assert title in every
    assert OUTSIDE.findall(every) == []
    assert "<link" not in every and "<script" not in every  # and the page's CSP forbids both


def test_many_captures_one_row_each_then_problems_once(every: str) -> None:
    captures = every[every.index('id="captures"'):every.index('id="problems"')]
    assert captures.count("<tr>") == 1 + len(list(CAPTURES.glob("*.pcap")))
    assert re.search(r"[2-9] captures: <small>", every)  # a problem seen in several captures, listed once
    assert "policy" in every and "denied" in every and "store-0042" in every


def test_packet_strings_are_escaped_in_text_and_charts() -> None:
    evil = '<script>alert(1)</script>'
    inv = [{"dst": "10.0.0.2", "dport": 80, "proto": "tcp", "app": "http", "encrypted": False, "how": None,
            "infra": None, "names": [evil], "clients": ["10.0.0.1"], "flows": 1, "bytes": 10, "unnamed": 0,
            "allowed": None, "denied": None}]
    f = Finding(rule="NW-CLEAR-001", category="cleartext", severity="high", title="t", first_seen=1.0,
                last_seen=1.0, count=1, src="10.0.0.1", sport=1, dst="10.0.0.2", dport=80, proto="tcp", app="http",
                server_name=evil, evidence={}, remediation="r", references=[], source=evil, message=evil)
    page = render_html([SourceReport(source=evil, inventory=inv), SourceReport(source="b")], [f])
    assert evil not in page and "&lt;script&gt;" in page


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def _chromium(page: Path, *extra: str) -> subprocess.CompletedProcess:
    """Headless Chromium with no network at all (every host name fails to resolve), console to stderr."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND", *extra,
             page.as_uri()], capture_output=True, text=True, timeout=120)


def _console(run: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's)")
def test_chromium_renders_without_console_errors_and_prints_to_pdf(every: str, tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text("<!doctype html><p>x</p><script>console.error('netwatch-control')</script>")
    assert any("netwatch-control" in ln for ln in _console(_chromium(control, "--dump-dom")))  # we do see errors
    csp = every.split("<style>", 1)[0]  # the report's own head: a script there is refused, and that is logged
    control.write_text(csp + "<script>console.log('ran')</script><img src='https://example.invalid/x.png'>")
    refused = _console(_chromium(control, "--dump-dom"))
    assert not any("'ran'" in ln or '"ran"' in ln for ln in refused) and any("Content Security" in ln for ln in refused)

    page = tmp_path / "report.html"
    page.write_text(every, encoding="utf-8")
    dom = _chromium(page, "--dump-dom")
    assert dom.returncode == 0 and _console(dom) == []
    assert len(re.findall(r'<figure class="chart [a-z]+"><svg', dom.stdout)) == 3
    assert dom.stdout.count("<rect") > 20  # the bars are drawn

    pdf = tmp_path / "report.pdf"
    run = _chromium(page, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    assert run.returncode == 0 and _console(run) == []
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2

    shot = tmp_path / "report.png"
    run = _chromium(page, "--window-size=1280,1000", "--hide-scrollbars", f"--screenshot={shot}")
    assert run.returncode == 0 and _png_size(shot) == (1280, 1000) and shot.stat().st_size > 50_000


def test_site_option_names_the_site_over_the_policy(tmp_path: Path) -> None:
    page = _html(tmp_path, str(CAPTURES / "dest_clean_store.pcap"), "--policy", str(POLICY), "--site", "Store <7>")
    assert "<title>netwatch report – Store &lt;7&gt;</title>" in page and "Store <7>" not in page
