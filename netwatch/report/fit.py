"""Console tables that fit the terminal without splitting a token.

rich folds a cell mid-word once a table is wider than the terminal: at 80 columns an address, a
port or a masked card came out as `198.51.1|00.77`. Here every column declares whether its
cells may wrap between words and how much it matters; columns are dropped, least important
first, until the narrowest layout that keeps every word whole fits; the room left goes to the
columns furthest from their natural width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

BORDER_PER_COLUMN = 3  # a box table's padding (1 each side) and the rule between columns
BORDER_FIXED = 1  # the table's right edge


@dataclass(frozen=True)
class Col:
    """A column: its header, whether cells may wrap between words, and its drop order (0 is kept
    longest; higher numbers go first when the terminal is narrow)."""

    header: str
    wrap: bool = False
    drop: int = 0
    justify: str = "left"


def _plain(cell: str) -> str:
    return Text.from_markup(cell).plain


def _widths(col: Col, cells: list[str]) -> tuple[int, int]:
    """(narrowest without cutting a word, natural width) of a column; a column that may not wrap
    is as narrow as its widest line."""
    texts = [col.header, *map(_plain, cells)]
    natural = max((len(line) for t in texts for line in t.splitlines()), default=1)
    if not col.wrap:
        return natural, natural
    return max((len(w) for t in texts for w in t.split()), default=1), natural


def _spread(least: list[int], natural: list[int], room: int) -> list[int]:
    """Give the room left over to the columns furthest from their natural width, one character at
    a time (columns are few and terminals narrow)."""
    widths = list(least)
    for _ in range(max(0, room)):
        short = max(range(len(widths)), key=lambda i: natural[i] - widths[i])
        if natural[short] <= widths[short]:
            break
        widths[short] += 1
    return widths


def fitted(console: Console, title: str, cols: list[Col], rows: list[list[str]], **table: Any) -> Table:
    """A table of `rows` with as many of `cols` as fit `console.width` keeping every word whole;
    each column gets a fixed width (rich's own shrinking would cut words again)."""
    measured = [_widths(c, [r[i] for r in rows]) for i, c in enumerate(cols)]
    keep = list(range(len(cols)))

    def room() -> int:
        return console.width - BORDER_FIXED - sum(measured[i][0] + BORDER_PER_COLUMN for i in keep)

    while len(keep) > 1 and room() < 0:
        worst = max(keep, key=lambda i: (cols[i].drop, i))
        if cols[worst].drop == 0:
            break  # what is left must stay; the terminal is narrower than any useful table
        keep.remove(worst)
    widths = _spread([measured[i][0] for i in keep], [measured[i][1] for i in keep], room())
    t = Table(title=title, title_justify="left", header_style="bold", **table)
    for i, width in zip(keep, widths, strict=True):
        c = cols[i]
        t.add_column(c.header, no_wrap=not c.wrap, width=width, justify=c.justify,  # type: ignore[arg-type]
                     overflow="fold" if c.wrap else "ellipsis")
    for r in rows:
        t.add_row(*(r[i] for i in keep))
    return t
