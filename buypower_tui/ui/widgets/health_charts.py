"""The health dashboard's pictures: paid per hour (vends and naira over one hour axis),
BuyPower's latency on a scale that starts at zero, and the DISCOs by name, down ones first.

Drawn as bar_chart.py draws the report's: block characters in eighths, plain text that is
the same on every run (snapshots), colours from the theme through component classes, and
every figure written out, so they read the same with NO_COLOR. Each takes its widget's width
and is drawn again when it changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.events import Resize
from textual.geometry import Size
from textual.widget import Widget

from buypower_tui.core.times import local
from buypower_tui.ui.widgets.bar_chart import UP, eighths, styled

if TYPE_CHECKING:  # the store's module: not loaded before the first frame
    from buypower_tui.core.dashboard import HourPaid

AXIS_W = 5  # the scale's labels left of the axis: "₦1.2M", "vends", "95 ms"


def short_count(n: float) -> str:
    """12, 999, 1.2k, 12k, 120k: a count in five characters or fewer."""
    if n < 1000:
        return f"{n:.0f}"
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{n:.0f}"  # pragma: no cover - every n >= 1000 has a unit


def short_naira(amount: Decimal) -> str:
    """₦950, ₦45k, ₦1.2M: the top of a money scale in five characters or fewer."""
    return "₦" + short_count(float(amount))


def short_ms(ms: float) -> str:
    """"95 ms", "1.2 s", "12 s": a latency in five characters or fewer."""
    if ms < 999.5:
        return f"{ms:.0f} ms" if ms < 99.5 else f"{ms:.0f}ms"
    return f"{ms / 1000:.1f} s" if ms < 9950 else f"{ms / 1000:.0f} s"


def _columns(levels: Sequence[int], height: int, slot: int, bar_w: int, labels: dict[int, str],
             bar: Style | str, axis: Style | str) -> list[Text]:
    """`height` lines of columns (levels in eighths), each line led by its scale label."""
    lines = []
    for row in range(height):
        floor = (height - 1 - row) * 8
        cells = "".join(UP[max(0, min(8, n - floor))] * bar_w + " " * (slot - bar_w) for n in levels)
        line = Text(no_wrap=True, overflow="crop")
        line.append(f"{labels.get(row, ''):>{AXIS_W}}", style=axis)
        line.append("┤" if row in labels else "│", style=axis)
        line.append_text(styled(cells, bar))
        lines.append(line)
    return lines


def hour_layout(width: int, count: int) -> tuple[int, int, int]:
    """(slot, bar width, hours between labels) for `count` hours across `width` cells, the
    scale's labels and axis taken off: up to 4 cells an hour, one of them a gap; a label
    ("09") needs 3 cells, so at 2 cells an hour every other hour is named."""
    slot = max(1, min(4, (width - AXIS_W - 1) // max(1, count)))
    return slot, slot - 1 if slot > 1 else 1, max(1, -(-3 // slot))


def hourly_chart(hours: Sequence[HourPaid], width: int, height: int, *, vends: Style | str = "",
                 naira: Style | str = "", axis: Style | str = "") -> Text:
    """Vends per hour over naira per hour, on one axis of local clock hours (the current hour
    last). Each series is scaled to its own largest hour, written at the top of its scale."""
    if not hours:
        return Text()
    slot, bar_w, every = hour_layout(width, len(hours))
    top_vends = max(h.vends for h in hours)
    top_kobo = max(int(h.naira * 100) for h in hours)
    lines = _columns([eighths(h.vends, top_vends, height) for h in hours], height, slot, bar_w,
                     {0: short_count(top_vends), 1: "vends"} if top_vends else {1: "vends"}, vends, axis)
    lines += _columns([eighths(int(h.naira * 100), top_kobo, height) for h in hours], height, slot, bar_w,
                      {0: short_naira(Decimal(top_kobo) / 100), 1: "naira"} if top_kobo else {1: "naira"}, naira, axis)
    base = Text(" " * AXIS_W, no_wrap=True, overflow="crop")
    base.append("└" + "─" * (slot * len(hours) - (slot - bar_w)), style=axis)
    lines.append(base)
    names = [" "] * (AXIS_W + 1 + slot * len(hours) + 2)
    for i, h in enumerate(hours):
        hour = local(h.start).hour
        if hour % every == 0:
            at = AXIS_W + 1 + i * slot
            names[at:at + 2] = f"{hour:02d}"
    lines.append(styled("".join(names), axis))
    return Text("\n", no_wrap=True, overflow="crop").join(lines)


def latency_chart(values: Sequence[float], width: int, height: int, *, bar: Style | str = "",
                  axis: Style | str = "") -> Text:
    """One column per call, oldest left, on a scale from 0 ms to the slowest (written at its
    top): steady latencies are an even band at their height, a slow call stands out. More
    calls than columns: each column is the slowest of its share of them."""
    cols = max(1, width - AXIS_W - 1)
    if not values:
        return Text()
    if len(values) > cols:
        n = len(values)
        values = [max(values[i * n // cols:(i + 1) * n // cols]) for i in range(cols)]
    top = max(values)
    levels = [eighths(round(v * 100), round(top * 100), height) for v in values]
    labels = {0: short_ms(top), height - 1: "0"} if height > 1 else {0: short_ms(top)}
    return Text("\n", no_wrap=True, overflow="crop").join(_columns(levels, height, 1, 1, labels, bar, axis))


def disco_lines(down: Sequence[str], up: Sequence[str], width: int, *, bad: Style | str = "",
                good: Style | str = "") -> list[Text]:
    """The DISCOs by name, down ones first (each marked ✗), then the ones up, flowed into
    lines of `width`."""
    words = [(f"✗ {code}", bad) for code in down] + [(code, good) for code in up]
    lines: list[Text] = []
    line = Text(no_wrap=True, overflow="ellipsis")
    for word, style in words:
        if line.cell_len and line.cell_len + 2 + len(word) > width:
            lines.append(line)
            line = Text(no_wrap=True, overflow="ellipsis")
        if line.cell_len:
            line.append("  ")
        line.append(word, style=style)
    if line.cell_len:
        lines.append(line)
    return lines


class _Drawn(Widget):
    """Drawn for its width; told its content by `show`."""

    def on_resize(self, event: Resize) -> None:
        self.refresh(layout=True)

    def style_of(self, name: str) -> Style:
        return self.get_component_rich_style(name)


class HourlyChart(_Drawn):
    COMPONENT_CLASSES = {"hourly-chart--vends", "hourly-chart--naira", "hourly-chart--axis"}
    DEFAULT_CSS = """
    HourlyChart {
        height: auto;
    }
    HourlyChart > .hourly-chart--vends {
        color: $accent;
    }
    HourlyChart > .hourly-chart--naira {
        color: $success;
    }
    HourlyChart > .hourly-chart--axis {
        color: $text-muted;
    }
    """

    def __init__(self, *, lines: int = 3, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.hours: tuple[HourPaid, ...] = ()
        self.lines = lines

    def show(self, hours: Sequence[HourPaid], lines: int | None = None) -> None:
        self.hours, self.lines = tuple(hours), lines or self.lines
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 2 * self.lines + 2 if self.hours else 0

    def render(self) -> Text:
        return hourly_chart(self.hours, self.size.width, self.lines, vends=self.style_of("hourly-chart--vends"),
                            naira=self.style_of("hourly-chart--naira"), axis=self.style_of("hourly-chart--axis"))


class LatencyChart(_Drawn):
    COMPONENT_CLASSES = {"latency-chart--bar", "latency-chart--axis"}
    DEFAULT_CSS = """
    LatencyChart {
        height: auto;
    }
    LatencyChart > .latency-chart--bar {
        color: $primary;
    }
    LatencyChart > .latency-chart--axis {
        color: $text-muted;
    }
    """

    def __init__(self, *, lines: int = 3, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.values: tuple[float, ...] = ()
        self.lines = lines

    def show(self, values: Sequence[float]) -> None:
        self.values = tuple(values)
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.lines if self.values else 0

    def render(self) -> Text:
        return latency_chart(self.values, self.size.width, self.lines, bar=self.style_of("latency-chart--bar"),
                             axis=self.style_of("latency-chart--axis"))


class DiscoList(_Drawn):
    """The DISCOs by name: down ones first, marked ✗, in the theme's error colour and bold (so
    they stand out with NO_COLOR too); then those up. `note` replaces the list when BuyPower
    was not asked or did not answer."""

    COMPONENT_CLASSES = {"disco-list--down", "disco-list--up"}
    DEFAULT_CSS = """
    DiscoList {
        height: auto;
    }
    DiscoList > .disco-list--down {
        color: $error;
        text-style: bold;
    }
    DiscoList > .disco-list--up {
        color: $foreground;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.down: tuple[str, ...] = ()
        self.up: tuple[str, ...] = ()
        self.note = "Checking…"

    def show(self, down: Sequence[str], up: Sequence[str], note: str = "") -> None:
        self.down, self.up, self.note = tuple(down), tuple(up), note
        self.refresh(layout=True)

    @property
    def names(self) -> list[str]:
        """In the order shown."""
        return [*self.down, *self.up]

    def lines(self, width: int) -> list[Text]:
        if self.note:
            return [Text(self.note, style=self.style_of("disco-list--up"))]
        return disco_lines(self.down, self.up, width, bad=self.style_of("disco-list--down"),
                           good=self.style_of("disco-list--up"))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width)) if not self.note else 1

    def render(self) -> Text:
        return Text("\n", no_wrap=True, overflow="ellipsis").join(self.lines(self.size.width))
