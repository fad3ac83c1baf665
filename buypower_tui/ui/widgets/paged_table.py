"""A table that holds only what is on screen: a batch of 100,000 rows opens as fast as one of 100.

What it shows is a view: the ids of the matching rows in order (a store query gives them:
filter, search and order are the store's work). Rows themselves are read a page at a time
when they come into view, and pages far from the screen are dropped, so memory stays flat
however big the batch.

Written on Textual's Line API rather than DataTable, which keeps every row it was given
(and measures them): 737 MB and 12.6 s for 100,000 rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

PAGE = 100  # rows read from the store at once
MARGIN_PAGES = 1  # pages kept on either side of the screen
CUT = "…"  # where the screen's edge cuts a cell that must be read whole

Row = dict[str, Any]
# (key, label, width) or (key, label, width, least): a column with a `least` width is text,
# which gives up width down to `least` when the screen is narrow (see `fitted_widths`) and may
# be cut by the screen's edge like any text. A column without one (a meter, a phone, an amount,
# a token) is never narrowed, and where the screen's edge cuts it its cut side says so (CUT):
# 0803123456 cut from 08031234567 would look like a whole (wrong) number.
Column = tuple[str, str, int] | tuple[str, str, int, int]


def _least(column: Column) -> int:
    return column[3] if len(column) > 3 else column[2]


def fitted_widths(columns: Sequence[Column], room: int, fixed: int = 0) -> list[int]:
    """The columns' widths on a screen `room` cells wide: as given, unless a column that must be
    read whole, in the run of them that opens the first screen (up to the first text column
    after the `fixed` ones), would be cut by its right edge; then the text columns before it
    give it room (the nearest first, each down to its `least`), when together they can. What
    follows is reached by scrolling."""
    widths = [c[2] for c in columns]
    least = [_least(c) for c in columns]
    end = 0
    for i in range(len(columns)):
        if i >= fixed and least[i] < widths[i]:
            break  # text: from here on the screen may cut what it must
        end += widths[i] + 2  # a cell's padding: one space either side
        need = end - 1 - room  # the right padding may go
        if need <= 0:
            continue
        slack = [(j, widths[j] - least[j]) for j in reversed(range(i)) if widths[j] > least[j]]
        if sum(give for _, give in slack) < need:
            break  # it cannot be made to fit: cut, and marked so
        for j, give in slack:
            take = min(give, need)
            widths[j] -= take
            end -= take
            need -= take
            if not need:
                break
    return widths


class PagedTable(ScrollView, can_focus=True):
    """`columns`: (key, label, width[, least]) (see Column); `fetch(ids)`: those rows from the
    store; `cells(row)`: one Text per column; `fixed`: how many first columns stay when
    scrolling right. `columns` holds the widths fitted to the screen now."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First row", show=False),
        Binding("end", "last", "Last row", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("enter", "select", "Select", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "paged-table--header", "paged-table--cursor", "paged-table--even-row", "paged-table--fixed"}
    DEFAULT_CSS = """
    PagedTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        &:focus {
            background-tint: $foreground 5%;
            & > .paged-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        &:dark > .paged-table--even-row { background: $surface-darken-1 40%; }
        & > .paged-table--even-row { background: $surface-lighten-1 50%; }
        & > .paged-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .paged-table--fixed { color: $foreground; }
        & > .paged-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class RowHighlighted(Message):
        def __init__(self, table: PagedTable, row_id: int | None) -> None:
            super().__init__()
            self.table, self.row_id = table, row_id

        @property
        def control(self) -> PagedTable:
            return self.table

    class RowSelected(RowHighlighted):
        pass

    def __init__(self, columns: Sequence[Column], fetch: Callable[[list[int]], list[Row]],
                 cells: Callable[[Row], list[Text]], *, fixed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = list(columns)
        self.fetch, self.cells, self.fixed = fetch, cells, fixed
        self.ids: list[int] = []
        self._index: dict[int, int] | None = None  # row id -> position, built when first asked
        self._pages: dict[int, dict[int, Row]] = {}
        self._lines: dict[int, list[Segment]] = {}  # row id -> its line, unstyled by cursor or stripe
        self._fitted_to: int | None = None
        self._set_widths([c[2] for c in self.spec])

    def _set_widths(self, widths: list[int]) -> None:
        self.columns = [(c[0], c[1], w) for c, w in zip(self.spec, widths, strict=True)]
        self._fixed_width = sum(w + 2 for _, _, w in self.columns[:self.fixed])
        self._width = sum(w + 2 for _, _, w in self.columns)
        # where each scrolled column that must be read whole lies in a line (its padding included)
        self._whole: list[tuple[int, int]] = []
        x = 0
        for n, (c, w) in enumerate(zip(self.spec, widths, strict=True)):
            if n >= self.fixed and _least(c) == c[2]:
                self._whole.append((x, x + w + 2))
            x += w + 2

    def _fit(self) -> None:
        """The columns fitted to the width now (see `fitted_widths`); lines drawn for other
        widths are dropped."""
        room = self.scrollable_content_region.width  # less the vertical scrollbar, when there is one
        if room <= 0 or room == self._fitted_to:
            return
        self._fitted_to = room
        widths = fitted_widths(self.spec, room, self.fixed)
        if widths != [w for _, _, w in self.columns]:
            self._set_widths(widths)
            self._lines.clear()
            self.virtual_size = Size(self._width, len(self.ids) + 1)
            self.refresh()

    # -- what is shown ---------------------------------------------------------------------------

    def show(self, ids: list[int], keep: int | None = None) -> None:
        """A new view (the ids in order); the cursor stays on `keep` when it is in it."""
        self.ids, self._index = ids, None
        self._pages.clear()
        self._lines.clear()
        self.virtual_size = Size(self._width, len(ids) + 1)
        where = self.get_row_index(keep) if keep is not None else None
        self.move_cursor(row=where if where is not None else min(self.cursor_row, max(len(ids) - 1, 0)))
        self.refresh()

    def forget(self, row_ids: Iterable[int] | None = None) -> None:
        """These rows (None: all) changed in the store: read them again when next shown."""
        if row_ids is None:
            self._pages.clear()
            self._lines.clear()
            self.refresh()
            return
        for row_id in row_ids:
            self._lines.pop(row_id, None)
            for page in self._pages.values():
                page.pop(row_id, None)
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.ids)

    @property
    def current_id(self) -> int | None:
        return self.ids[self.cursor_row] if 0 <= self.cursor_row < len(self.ids) else None

    def get_row_index(self, row_id: int | str) -> int | None:
        if self._index is None:
            self._index = {row_id: n for n, row_id in enumerate(self.ids)}
        return self._index.get(int(row_id))

    def row(self, row_id: int) -> Row | None:
        """The row as last read (reading its page when it is not held)."""
        where = self.get_row_index(row_id)
        return None if where is None else self._row_at(where)

    def _row_at(self, index: int) -> Row | None:
        page = index // PAGE
        if page not in self._pages:
            wanted = self.ids[page * PAGE:(page + 1) * PAGE]
            self._pages[page] = {r["id"]: r for r in self.fetch(wanted)}
        held = self._pages[page]
        row_id = self.ids[index]
        if row_id not in held:  # forgotten (changed): read again
            held.update((r["id"], r) for r in self.fetch([row_id]))
        return held.get(row_id)

    def _drop_far_pages(self) -> None:
        first = int(self.scroll_offset.y) // PAGE - MARGIN_PAGES
        last = (int(self.scroll_offset.y) + self.size.height) // PAGE + MARGIN_PAGES
        for page in [p for p in self._pages if not first <= p <= last]:
            for row_id in self._pages.pop(page):
                self._lines.pop(row_id, None)

    # -- the cursor ---------------------------------------------------------------------------------

    def move_cursor(self, *, row: int) -> None:
        self.cursor_row = max(0, min(row, len(self.ids) - 1))

    @property
    def _visible_rows(self) -> int:
        """Rows on screen: the height less the header (and a horizontal scrollbar)."""
        return max(self.scrollable_content_region.height - 1, 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._show_cursor()
        self.refresh()
        self.post_message(self.RowHighlighted(self, self.current_id))

    def _show_cursor(self) -> None:
        """Scroll so that the cursor's row is on screen (after a move, or a smaller window)."""
        visible, row = self._visible_rows, self.cursor_row
        top = int(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)

    def on_resize(self) -> None:
        self._fit()
        self.call_after_refresh(self._show_cursor)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - self._visible_rows)

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + self._visible_rows)

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self.ids) - 1)

    def action_select(self) -> None:
        if self.current_id is not None:
            self.post_message(self.RowSelected(self, self.current_id))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            index = int(self.scroll_offset.y) + event.y - 1
            if index < len(self.ids):
                self.move_cursor(row=index)
                if event.chain > 1:
                    self.action_select()

    # -- painting -----------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.scrollable_content_region.width != self._fitted_to:  # a scrollbar came or went
            self._fit()
        if y == 0:
            header = Text.assemble(*(self._pad(Text(label), w) for _, label, w in self.columns))
            style = self.get_component_rich_style("paged-table--header")
            return self._scrolled(list(header.render(self.app.console)), width, style)
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self.ids):
            return Strip.blank(width, self.rich_style)
        row = self._row_at(index)
        if row is None:  # deleted by another process since the view was made
            return Strip.blank(width, self.rich_style)
        line = self._lines.get(row["id"])
        if line is None:
            text = Text.assemble(*(self._pad(cell, w) for cell, (_, _, w) in zip(self.cells(row), self.columns,
                                                                                   strict=True)))
            line = self._lines[row["id"]] = list(text.render(self.app.console))
        if index == self.cursor_row:
            style = self.get_component_rich_style("paged-table--cursor")
        elif index % 2:
            style = self.get_component_rich_style("paged-table--even-row")
        else:
            style = self.rich_style
        if y == self.size.height - 1:
            self.call_later(self._drop_far_pages)
        return self._scrolled(line, width, style, cursor=index == self.cursor_row)

    @staticmethod
    def _pad(cell: Text, width: int) -> Text:
        cell = cell.copy()
        cell.truncate(width, overflow="ellipsis")
        cell = cell.copy()
        cell.align(cell.justify if cell.justify in ("left", "right", "center") else "left", width)
        return Text.assemble(" ", cell, " ")

    def _scrolled(self, segments: list[Segment], width: int, style: Style, cursor: bool = False) -> Strip:
        """The fixed columns, then the rest from the horizontal scroll on, in the line's style
        (the cursor's colours win over the cells' own). A cell to be read whole that an edge
        of the screen cuts says so on that side (CUT)."""
        strip = Strip(segments)
        fixed = strip.crop(0, self._fixed_width)
        left = self._fixed_width + int(self.scroll_offset.x)
        right = left + max(self.scrollable_content_region.width - self._fixed_width, 0)  # the scrollbar's cells after
        rest = strip.crop(left, right)
        for start, end in self._whole:  # a cell wholly out of view is not misread: only one cut in two
            if start < right < end and rest.cell_length == right - left and strip.crop(right, end).text.strip() \
                    and strip.crop(max(start, left), right).text.strip():
                rest = Strip.join([rest.crop(0, rest.cell_length - 1), self._cut_at(rest, rest.cell_length - 1)])
            if start < left < end and rest.cell_length and strip.crop(start, left).text.strip() \
                    and strip.crop(left, min(end, right)).text.strip():
                rest = Strip.join([self._cut_at(rest, 0), rest.crop(1)])
        joined = Strip.join([fixed, rest]).extend_cell_length(width).crop(0, width)
        if cursor:
            return Strip([Segment(t, s + style if s else style, c) for t, s, c in joined])
        return Strip([Segment(t, style + s if s else style, c) for t, s, c in joined])

    @staticmethod
    def _cut_at(strip: Strip, x: int) -> Strip:
        """CUT in the style of the cell at `x`."""
        cell = list(strip.crop(x, x + 1))
        return Strip([Segment(CUT, cell[0].style if cell else None)])
