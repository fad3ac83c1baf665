"""The recipient grid: the editor's rows, read from the store as they come into view.

Every cell is a rich Text: data is never parsed as markup (a name like `[/x]` would crash
rendering), hidden characters (a right-to-left override, a zero-width space, a control
character) are shown escaped as ⟨U+202E⟩, and amounts are formatted by us, never by the
table's float formatter.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.text import Text

from buypower_tui.core.row_view import row_status, shown_value
from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.ui.widgets.paged_table import PagedTable

# (key, label, width[, least]): fixed widths, so the table never measures its rows. Meter
# (13 digits at most when valid), phone (11 digits, +234 and 10 as the sheet may say it) and
# amount are read whole: on a narrow screen (80 columns) the status gives up width so they fit,
# and the screen's edge never cuts one silently (PagedTable). The text columns (a `least`)
# may be cut: the line above the grid says the status in full, the row editor (e) every field.
COLUMNS = (
    ("row", "Row", 5), ("status", "Status", 20, 8), ("meter", "Meter", 13), ("disco", "DISCO", 6),
    ("vend_type", "Type", 4), ("amount", "Amount", 12), ("phone", "Phone", 14), ("name", "Name", 15, 8),
    ("customer", "Customer", 16, 8), ("address", "Address", 24, 8), ("debt", "Outstanding", 11),
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


class RecipientGrid(PagedTable):
    """The editor's rows, read from the store a page at a time (see PagedTable). `duplicates`
    and `marked` are the editor's: a row's status and mark depend on them."""

    def __init__(self, fetch: Callable[[list[int]], list[dict[str, Any]]], **kwargs: Any) -> None:
        self.duplicates: dict[str, int] = {}
        self.marked: set[int] = set()
        super().__init__(COLUMNS, fetch, lambda row: row_cells(row, self.duplicates, row["id"] in self.marked),
                         fixed=2, **kwargs)  # row and status stay in view when scrolling right
