"""Bar charts drawn with characters: horizontal bars (naira paid per disco) and columns with
short labels under them (naira paid per day of the month).

Built on Textual's own Widget and Rich Text, not on textual-plotext (the maintained plotting
widget for Textual), because:
- no new dependency (plotext and its wrapper) for two charts;
- the amounts are shown exactly as the rest of the app writes them (₦12,500.00, from Decimal),
  where plotext labels its axes with floats it formats itself;
- the bars are block characters (eighths: ▏▎▍▌▋▊▉█ and ▁▂▃▄▅▆▇█), not colours, so they read
  the same with NO_COLOR, over SSH and in a monochrome terminal; colour only adds emphasis;
- the output is plain text, the same on every run, so snapshot tests stay stable;
- it fits 80x24: the bars take the widget's width whatever it is, and are drawn again when
  it changes (on_resize), never cut.

Each bar's length is its share of the largest value; a value above zero always shows at
least one eighth, so a small payment is never drawn as none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.events import Resize
from textual.geometry import Size
from textual.widget import Widget

ACROSS = " ▏▎▍▌▋▊▉█"  # index = eighths of one cell, left to right
UP = " ▁▂▃▄▅▆▇█"  # index = eighths of one cell, bottom to top


@dataclass(frozen=True)
class Bar:
    """`value` sets the length (any unit, e.g. kobo); `text` is what is written for it."""

    label: str
    value: int
    text: str = ""


def eighths(value: int, top: int, cells: int) -> int:
    """How many eighths of `cells` a bar of `value` fills when `top` fills them all."""
    if value <= 0 or top <= 0 or cells <= 0:
        return 0
    return max(1, round(value * cells * 8 / top))


def across(n: int) -> str:
    """A horizontal bar `n` eighths long."""
    full, part = divmod(n, 8)
    return "█" * full + (ACROSS[part] if part else "")


def fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def horizontal_bars(bars: Sequence[Bar], width: int, *, bar: Style | str = "", label: Style | str = "",
                    max_label: int = 20) -> Text:
    """One line per bar: the label, the value's text (right-aligned, so amounts line up) and
    the bar, which takes what is left of `width`."""
    if not bars:
        return Text()
    label_w = min(max_label, max(len(b.label) for b in bars), max(4, width // 3))
    text_w = max(len(b.text) for b in bars)
    room = max(1, width - label_w - text_w - 4)
    top = max(b.value for b in bars)
    out = Text(no_wrap=True, overflow="crop")
    for i, b in enumerate(bars):
        if i:
            out.append("\n")
        out.append(f"{fit(b.label, label_w):<{label_w}}  ", style=label)
        out.append(f"{b.text:>{text_w}}  ")
        out.append(across(eighths(b.value, top, room)), style=bar)
    return out


def styled(line: str, style: Style | str) -> Text:
    """`line` with `style` on its marks only: the blanks between columns stay unstyled, so a
    screenshot (SVG) places each column by itself."""
    out = Text()
    for run in re.findall(r" +|[^ ]+", line.rstrip()):
        out.append(run, style="" if run.startswith(" ") else style)
    return out


def column_layout(count: int, width: int) -> tuple[int, int]:
    """(slot, bar width) for `count` columns across `width` cells: up to 4 cells a column, one
    of them a gap while there are 2 or more."""
    slot = max(1, min(4, width // max(1, count)))
    return slot, slot - 1 if slot > 1 else 1


def column_bars(bars: Sequence[Bar], width: int, height: int, *, bar: Style | str = "",
                axis: Style | str = "") -> Text:
    """Columns `height` lines tall side by side, a base line, and each label under its column:
    on one line when the labels fit the column, else one character a line (days 10 to 31 as
    tens over units)."""
    if not bars:
        return Text()
    slot, bar_w = column_layout(len(bars), width)
    top = max(b.value for b in bars)
    levels = [eighths(b.value, top, height) for b in bars]
    lines: list[Text] = []
    for row in range(height):
        floor = (height - 1 - row) * 8  # eighths below this line
        cells = "".join(UP[max(0, min(8, n - floor))] * bar_w + " " * (slot - bar_w) for n in levels)
        lines.append(styled(cells, bar))
    lines.append(styled("─" * (slot * len(bars) - (slot - bar_w)), axis))
    longest = max(len(b.label) for b in bars)
    if longest <= bar_w:
        lines.append(styled("".join(f"{b.label:>{bar_w}}" + " " * (slot - bar_w) for b in bars), axis))
    else:
        for i in range(longest):
            chars = (f"{b.label:>{longest}}"[i] for b in bars)
            lines.append(styled("".join(" " * (bar_w - 1) + c + " " * (slot - bar_w) for c in chars), axis))
    return Text("\n", no_wrap=True, overflow="crop").join(lines)


class _Chart(Widget):
    COMPONENT_CLASSES = {"bar-chart--bar", "bar-chart--axis"}

    def __init__(self, bars: Sequence[Bar] = (), *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.bars: tuple[Bar, ...] = tuple(bars)

    def set_bars(self, bars: Sequence[Bar]) -> None:
        self.bars = tuple(bars)
        self.refresh(layout=True)

    def on_resize(self, event: Resize) -> None:
        self.refresh()  # the bars take the new width

    def styles_for(self) -> tuple[Style, Style]:
        return self.get_component_rich_style("bar-chart--bar"), self.get_component_rich_style("bar-chart--axis")


class HorizontalBars(_Chart):
    """One bar a line, labelled on the left, its value's text before it."""

    DEFAULT_CSS = """
    HorizontalBars {
        height: auto;
    }
    HorizontalBars > .bar-chart--bar {
        color: $accent;
    }
    HorizontalBars > .bar-chart--axis {
        text-style: bold;
    }
    """

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.bars)

    def render(self) -> Text:
        bar, label = self.styles_for()
        return horizontal_bars(self.bars, self.size.width, bar=bar, label=label)


class ColumnBars(_Chart):
    """Columns side by side with short labels under them (days of a month)."""

    DEFAULT_CSS = """
    ColumnBars {
        height: auto;
    }
    ColumnBars > .bar-chart--bar {
        color: $accent;
    }
    ColumnBars > .bar-chart--axis {
        color: $text-muted;
    }
    """

    def __init__(self, bars: Sequence[Bar] = (), *, lines: int = 8, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(bars, id=id, classes=classes)
        self.lines = lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self.bars:
            return 0
        _slot, bar_w = column_layout(len(self.bars), width)
        longest = max(len(b.label) for b in self.bars)
        return self.lines + 1 + (1 if longest <= bar_w else longest)

    def render(self) -> Text:
        bar, axis = self.styles_for()
        return column_bars(self.bars, self.size.width, self.lines, bar=bar, axis=axis)
