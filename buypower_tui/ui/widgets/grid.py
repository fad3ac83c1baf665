"""The recipient grid: a read-only DataTable keyed by row id, updated cell by cell.

Every cell is a rich Text: data is never parsed as markup (a name like `[/x]` would crash
rendering), hidden characters (a right-to-left override, a zero-width space, a control
character) are shown escaped as ⟨U+202E⟩, and amounts are formatted by us, never by the
table's float formatter.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from rich.text import Text
from textual.geometry import Size
from textual.widgets import DataTable

from buypower_tui.core.editing import row_status, shown_value
from buypower_tui.core.rules import escape_hidden, naira

# (key, label, width): fixed widths, so the table never measures 10,000 rows.
COLUMNS = (
    ("row", "Row", 5), ("status", "Status", 20), ("meter", "Meter", 13), ("disco", "DISCO", 7),
    ("vend_type", "Type", 4), ("amount", "Amount", 12), ("phone", "Phone", 11), ("name", "Name", 15),
    ("customer", "Customer", 16), ("address", "Address", 24), ("debt", "Outstanding", 11),
    ("repayment", "Repayment", 9),
)
STATUS_STYLE = {"invalid": "bold red", "warning": "yellow", "ok": "green", "done": "cyan"}
STATUS_MARK = {"invalid": "✗ ", "warning": "! ", "ok": "✓ ", "done": "• "}


def money_text(value: Decimal | str | None) -> str:
    """Money BuyPower sent as text (debt, min, max), formatted like ours when it parses."""
    if value in (None, ""):
        return ""
    try:
        return naira(Decimal(value))
    except InvalidOperation:
        return escape_hidden(value)


def number_text(value: Decimal | None) -> str:
    """A number whose unit BuyPower does not say (debtRepayment: 0.25 looks like a share, 500 like
    naira), shown as it came rather than as money."""
    return "" if value is None else f"{value:f}"


def row_cells(row: dict[str, Any], duplicates: dict[str, int], marked: bool) -> list[Text]:
    kind, message = row_status(row, duplicates)
    bad = {e["field"] for e in row["errors"] or ()}
    number = Text(str(row["row_number"]), style="dim")
    if marked:
        number = Text.assemble(("●", "bold magenta"), number)
    cells = [number,
             Text(STATUS_MARK[kind] + escape_hidden(message), style=STATUS_STYLE[kind], no_wrap=True,
                  overflow="ellipsis")]
    for field in ("meter", "disco", "vend_type", "amount", "phone", "name"):
        style = "red" if field in bad else ""
        text = escape_hidden(shown_value(row, field))
        if field == "vend_type":  # four columns, so the customer's name fits on 120
            text = {"PREPAID": "pre", "POSTPAID": "post"}.get(text, text)
        cells.append(Text(text, style=style, justify="right" if field == "amount" else "left",
                          no_wrap=True, overflow="ellipsis"))
    cells += [Text(escape_hidden(row["customer_name"] or ""), no_wrap=True, overflow="ellipsis"),
              Text(escape_hidden(row["customer_address"] or ""), no_wrap=True, overflow="ellipsis"),
              Text(money_text(row["customer_debt"]), justify="right"),
              Text(number_text(row["debt_repayment"]), justify="right")]
    return cells


class RecipientGrid(DataTable):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.fixed_columns = 2  # row and status stay in view when scrolling right
        for key, label, width in COLUMNS:
            self.add_column(label, width=width, key=key)

    def _update_dimensions(self, new_rows: Any) -> None:
        """Only the scrollable size: Textual's version also measures every cell of every new
        row to size auto-width columns, 0.5 s per 2,000 rows, and ours are all fixed-width and
        one line high. (Overrides a private method: textual is pinned to an exact version, and
        the snapshot tests and bench/grid_bench.py would show a change.)"""
        width = sum(c.get_render_width(self) for c in self.columns.values()) + self._row_label_column_width
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, self._total_row_height + header)

    def set_row(self, row: dict[str, Any], duplicates: dict[str, int], marked: bool) -> None:
        """Update one row in place (keyed), or add it when it is not shown yet."""
        key = str(row["id"])
        cells = row_cells(row, duplicates, marked)
        if key not in self.rows:
            self.add_row(*cells, key=key)
            return
        for (column, _, _), cell in zip(COLUMNS, cells, strict=True):
            self.update_cell(key, column, cell)

    @property
    def current_id(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        return int(key.value) if key.value is not None else None
