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

Row = dict[str, Any]


class PagedTable(ScrollView, can_focus=True):
    """`columns`: (key, label, width); `fetch(ids)`: those rows from the store; `cells(row)`:
    one Text per column; `fixed`: how many first columns stay when scrolling right."""

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

    def __init__(self, columns: Sequence[tuple[str, str, int]], fetch: Callable[[list[int]], list[Row]],
                 cells: Callable[[Row], list[Text]], *, fixed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = list(columns)
        self.fetch, self.cells, self.fixed = fetch, cells, fixed
        self.ids: list[int] = []
        self._index: dict[int, int] | None = None  # row id -> position, built when first asked
        self._pages: dict[int, dict[int, Row]] = {}
        self._lines: dict[int, list[Segment]] = {}  # row id -> its line, unstyled by cursor or stripe
        self._fixed_width = sum(w + 2 for _, _, w in self.columns[:fixed])
        self._width = sum(w + 2 for _, _, w in self.columns)

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
        (the cursor's colours win over the cells' own)."""
        strip = Strip(segments)
        fixed = strip.crop(0, self._fixed_width)
        x = int(self.scroll_offset.x)
        rest = strip.crop(self._fixed_width + x, self._fixed_width + x + width)
        joined = Strip.join([fixed, rest]).extend_cell_length(width).crop(0, width)
        if cursor:
            return Strip([Segment(t, s + style if s else style, c) for t, s, c in joined])
        return Strip([Segment(t, style + s if s else style, c) for t, s, c in joined])
