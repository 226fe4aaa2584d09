"""The HTML report's charts, drawn by pygal as inline SVG: no outside resource, no script needed.

pygal builds the SVG through an XML library, so labels taken from traffic (addresses, names) are
escaped as text nodes. Its optional tooltip script is not included (`js=[]`); the charts are
complete static drawings that print as they show.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pygal
from pygal.etree import etree
from pygal.style import Style

from netwatch.findings.aggregate import Finding
from netwatch.judge.rules import SEVERITIES
from netwatch.report.records import is_destination
from netwatch.report.text import endpoint

COLOURS = {"critical": "#b00020", "high": "#d9480f", "medium": "#e6a700", "low": "#1971c2", "info": "#868e96"}
PROTECTED, CLEARTEXT, UNKNOWN = "#2b8a3e", "#c92a2a", "#adb5bd"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
MAX_DESTINATIONS = 10
MAX_BUCKETS = 12


def _style(colours: Iterable[str]) -> Style:
    return Style(background="white", plot_background="white", foreground="#333", foreground_strong="#222",
                 foreground_subtle="#ddd", colors=tuple(colours), font_family=FONT, label_font_size=12,
                 major_label_font_size=12, legend_font_size=12, title_font_size=14, value_font_size=11,
                 tooltip_font_size=11)


def _render(chart: Any) -> str:
    """The chart as an SVG element, without the <script> pygal always adds for its tooltips (the report's
    Content-Security-Policy forbids scripts; the drawing does not need one)."""
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    svg = etree.tostring(tree, encoding="unicode")
    assert isinstance(svg, str)
    return svg


def _config(colours: Iterable[str], **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(style=_style(colours), js=[], disable_xml_declaration=True, explicit_size=False,
                                print_values=False, legend_at_bottom=True, legend_at_bottom_columns=5, margin=8,
                                truncate_label=-1, truncate_legend=-1)
    return {**base, **kw}


def severity_chart(findings: list[Finding]) -> str:
    """Findings by severity: one bar per severity, coloured like the badges."""
    counts = Counter(f.severity for f in findings)
    chart = pygal.Bar(**_config([COLOURS[s] for s in SEVERITIES], width=440, height=280, show_legend=False,
                                 title="Findings by severity", print_values=True, y_title="findings",
                                 y_labels=_whole(max(counts.values(), default=0))))
    chart.x_labels = list(SEVERITIES)
    chart.add("findings", [{"value": counts.get(s, 0), "color": COLOURS[s]} for s in SEVERITIES])
    return _render(chart)


def _whole(top: int) -> list[int]:
    """Whole-number axis ticks from 0 to at least `top` (counts are never fractional)."""
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 10**9) if s * 6 >= top)
    return list(range(0, max(top, 1) + step, step))


def share_by_destination(inventory: list[dict[str, Any]]) -> list[tuple[str, int, int, int]]:
    """(label, protected, cleartext, unknown) payload bytes per destination address and port, busiest first;
    LAN infrastructure (DNS, DHCP, NTP…) is left out."""
    per: dict[tuple[Any, ...], list[Any]] = {}
    for row in inventory:
        if row.get("infra") or not is_destination(row):
            continue
        key = (row["dst"], row.get("dport"))
        acc = per.setdefault(key, [row.get("names") or [], 0, 0, 0])
        slot = 1 if row.get("encrypted") else 2 if row.get("encrypted") is False else 3
        acc[slot] += row.get("bytes") or 0
    out = []
    for (dst, port), (names, p, c, u) in sorted(per.items(), key=lambda kv: -sum(kv[1][1:])):
        label = endpoint(dst, port) + (f" {names[0]}" if names else "")
        out.append((label[:48], p, c, u))
    return out


def share_chart(inventory: list[dict[str, Any]]) -> str | None:
    """Share of each destination's traffic that was protected vs cleartext (percent of its bytes)."""
    rows = share_by_destination(inventory)[:MAX_DESTINATIONS]
    if not rows:
        return None
    chart = pygal.HorizontalStackedBar(**_config([PROTECTED, CLEARTEXT, UNKNOWN], width=1000,
                                                  height=110 + 30 * len(rows), range=(0, 100), title=(
                                                      "Protected vs cleartext, share of each destination's bytes"),
                                                  x_title="% of bytes"))
    rows = rows[::-1]  # pygal draws the first label at the bottom
    chart.x_labels = [r[0] for r in rows]
    shares = [(p, c, u, max(1, p + c + u)) for _, p, c, u in rows]
    chart.add("protected", [round(100 * p / t, 1) for p, _, _, t in shares])
    chart.add("cleartext", [round(100 * c / t, 1) for _, c, _, t in shares])
    chart.add("not known", [round(100 * u / t, 1) for _, _, u, t in shares])
    return _render(chart)


def _buckets(times: list[float]) -> tuple[float, float, int]:
    """(start, width, count) of up to MAX_BUCKETS equal intervals covering every time, the last included."""
    first, last = min(times), max(times)
    n = min(MAX_BUCKETS, len(set(times)))
    if n <= 1:
        return first, 1.0, 1
    return first, (last - first) / (n - 1), n  # interval i is centred on first + i * width


def _label(ts: float, span: float) -> str:
    try:
        t = dt.datetime.fromtimestamp(ts, dt.UTC)
    except (OverflowError, ValueError, OSError):  # a damaged capture's clock: no date to show
        return f"{ts:.6g} s"
    if span >= 180 * 86400:
        return t.strftime("%Y-%m-%d")
    if span >= 86400:
        return t.strftime("%d %b %H:%M")
    return t.strftime("%H:%M:%S") if span >= 12 else t.strftime("%H:%M:%S.%f")[:-3]


def timeline_chart(findings: list[Finding]) -> str | None:
    """When problems were seen: findings by first-seen time, stacked by severity, in up to 12 intervals."""
    if not findings:
        return None
    times = [f.first_seen for f in findings]
    start, width, n = _buckets(times)
    grid: dict[str, list[int]] = {s: [0] * n for s in SEVERITIES}
    for f in findings:
        i = min(n - 1, max(0, round((f.first_seen - start) / width))) if n > 1 else 0
        grid[f.severity][i] += 1
    present = [s for s in SEVERITIES if any(grid[s])]
    top = max(sum(grid[s][i] for s in present) for i in range(n))
    chart = pygal.StackedBar(**_config([COLOURS[s] for s in present], width=600, height=320,
                                        title="When problems were first seen (UTC)", y_title="findings",
                                        x_label_rotation=0 if n <= 4 else 40, y_labels=_whole(top),
                                        legend_at_bottom=False))
    chart.x_labels = [_label(start + i * width, max(times) - start) for i in range(n)]
    for s in present:
        chart.add(s, grid[s])
    return _render(chart)


def trend_chart(labels: list[str], per_category: dict[str, list[int]]) -> str | None:
    """Findings per category at each visit of the site (oldest first): is it getting better?"""
    if not per_category or len(labels) < 2:
        return None
    palette = ("#b00020", "#d9480f", "#e6a700", "#1971c2", "#2b8a3e", "#862e9c", "#0b7285", "#495057")
    top = max(max(v) for v in per_category.values())
    chart = pygal.Line(**_config(palette, width=600, height=320, title="Findings per category at each visit",
                                 y_title="findings", x_label_rotation=0 if len(labels) <= 6 else 40,
                                 y_labels=_whole(top), legend_at_bottom=True, legend_at_bottom_columns=4,
                                 dots_size=4, margin_right=48))
    chart.x_labels = [f"{i}. {d}" for i, d in enumerate(labels, 1)]
    for category, counts in per_category.items():
        chart.add(category, counts)
    return _render(chart)
