"""The live dashboard: a rich Live view on a terminal, plain log lines when output is not one.

It only draws what `LiveStats` holds (the run loop calls `update` at most 4 times a second, and
the view refreshes only then). Findings show masked, as the rules worded them; every
packet-derived string goes through `safe`.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from rich.console import Console, Group
from rich.filesize import decimal
from rich.live import Live
from rich.table import Table
from rich.text import Text

from netwatch.findings.aggregate import Finding
from netwatch.pipeline.live import LiveStats
from netwatch.report.console import SEVERITY_STYLE
from netwatch.report.text import LOSS_PLACES, endpoint, safe

LOG_EVERY = 10.0  # seconds between status lines in plain mode
SHOW_FINDINGS = 12
BACKLOG_SHOWN = 1 << 20  # bytes of spool backlog from which the dashboard says the analysis is behind


def _clock(ts: float | None = None) -> str:
    return dt.datetime.fromtimestamp(ts if ts is not None else time.time()).strftime("%H:%M:%S")


def _elapsed(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _drops(stats: LiveStats) -> str:
    if stats.drops is None:
        return "n/a until stop"
    where = ", ".join(f"{k} {stats.drop_counts[k]:,}" for k in LOSS_PLACES if stats.drop_counts.get(k))
    return f"{stats.drops:,}" + (f" ({where})" if where else "")


def _backlog(stats: LiveStats) -> str:
    """What the capture holds that the analysis has not reached yet (after a burst), when worth saying."""
    return f", {decimal(stats.backlog)} to catch up" if stats.backlog >= BACKLOG_SHOWN else ""


def _share(stats: LiveStats) -> str:
    total = stats.protected + stats.cleartext
    if not total:
        return "-"
    p = 100 * stats.protected / total
    return f"protected {p:.0f}% / cleartext {100 - p:.0f}%"


def finding_line(f: Finding) -> str:
    """One finding as a log line (rich markup; packet-derived text escaped)."""
    dst = safe(endpoint(f.dst, f.dport))
    return (f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/] {f.rule} {safe(f.message, 200)} "
            f"({safe(f.src)} → {dst})")


class Dashboard:
    """Draws LiveStats: a rich Live view when `console` is a terminal, log lines otherwise."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.tty = console.is_terminal
        self.live: Live | None = None
        self.next_log = time.monotonic() + LOG_EVERY

    def start(self) -> None:
        if self.tty:
            self.live = Live(console=self.console, auto_refresh=False, transient=True)
            self.live.start()
        else:
            self.console.print(f"[{_clock()}] {safe(self.title)}", soft_wrap=True)

    def finding(self, f: Finding) -> None:
        """A new finding: logged at once in plain mode, drawn on the next refresh on a terminal."""
        if not self.tty:
            self.console.print(f"[{_clock(f.first_seen)}] finding {finding_line(f)}", soft_wrap=True)

    def update(self, stats: LiveStats) -> None:
        if self.live is not None:
            self.live.update(self.render(stats), refresh=True)
        elif time.monotonic() >= self.next_log or stats.stopping:
            self.next_log = time.monotonic() + LOG_EVERY
            self.console.print(f"[{_clock()}] {self.status_line(stats)}", soft_wrap=True, highlight=False)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    @staticmethod
    def status_line(s: LiveStats) -> str:
        line = (f"{_elapsed(s.elapsed)} {s.packets:,} packets ({s.pps:,.0f}/s{_backlog(s)}), {decimal(s.bytes)}, "
                f"flows {s.flows_active:,} active / {s.flows_seen:,} seen, drops {_drops(s)}, {_share(s)}, "
                f"findings {len(s.findings)}")
        return line + (f"; stopping ({s.stopping})" if s.stopping else "")

    def render(self, s: LiveStats) -> Group:
        head = Text.from_markup(f"[bold]netwatch live[/] {safe(self.title)}   elapsed {_elapsed(s.elapsed)}"
                                + (f"   [yellow]stopping ({s.stopping})…[/]" if s.stopping else
                                   "   [dim]Ctrl-C to stop[/]"))
        grid = Table.grid(padding=(0, 3))
        for _ in range(4):
            grid.add_column()
        grid.add_row("packets", f"{s.packets:,} ({s.pps:,.0f}/s{_backlog(s)})", "bytes", f"{decimal(s.bytes)} "
                     f"({decimal(int(s.bps / 8))}/s)")
        grid.add_row("flows", f"{s.flows_active:,} active / {s.flows_seen:,} seen", "drops",
                     f"[red]{_drops(s)}[/]" if s.drops else _drops(s))
        grid.add_row("payload", _share(s), "findings", str(len(s.findings)))
        talkers = Table(title="Top talkers", title_justify="left", header_style="bold", box=None)
        talkers.add_column("host")
        talkers.add_column("payload bytes", justify="right")
        for host, n in s.talkers:
            talkers.add_row(safe(host), f"{n:,}")
        found = Table(title="Findings", title_justify="left", header_style="bold", expand=False)
        for col in ("seen", "severity", "rule", "what", "count"):
            found.add_column(col, overflow="fold")
        ranked = sorted(s.findings, key=lambda f: (f.rank, -f.last_seen))
        for f in ranked[:SHOW_FINDINGS]:
            found.add_row(_clock(f.last_seen), f"[{SEVERITY_STYLE[f.severity]}]{f.severity}[/]", f.rule,
                          safe(f.message, 140), str(f.count))
        parts: list[Any] = [head, grid, talkers, found]
        if len(ranked) > SHOW_FINDINGS:
            parts.append(Text(f"… and {len(ranked) - SHOW_FINDINGS} more", style="dim"))
        return Group(*parts)
