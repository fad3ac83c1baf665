"""A meter's history across batches (`h` on the batches screen): type a meter, see every row
ever made for it, newest first; Enter opens the row in its batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.times import local_minute, offset_now
from buypower_tui.settings import ConfigError
from buypower_tui.ui.screens.editor import EditorScreen
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.widgets.paged_table import PagedTable
from buypower_tui.ui.widgets.row_table import STATE_STYLE
from buypower_tui.ui.widgets.top_bar import TopBar
from buypower_tui.ui.wording import plural

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import MeterHistory, MeterRow

# Tokens get one line each, in typing order ("KCT1  5120-…"): a row past the key change is three lines tall.
# 118 columns in all: a 120-column terminal shows every one.
COLUMNS = (("batch", "Batch", 16), ("date", "Date", 16), ("amount", "Amount", 11), ("state", "State", 12),
           ("tokens", "Tokens (typing order)", 30), ("units", "Units", 7), ("receipt", "Receipt", 12))
METER_COLUMN = ("meter", "Meter", 11)  # only when a 10-digit meter found rows of its 11-digit form too


class MeterHistoryScreen(Screen):
    TITLE = "Meter history"
    HELP_TEXT = (
        "Every row ever made for one meter, in every batch, newest first. Type the meter number (spaces "
        "and dashes are ignored; 10 digits also finds the 11-digit meter whose leading 0 a spreadsheet "
        "dropped) and press Enter. The date is when the row was paid; for a row not paid (dimmed), when "
        "its batch was made; times are local with their UTC offset. Tokens are listed in the order the "
        "customer types them: KCT1 and KCT2 (a meter past the key change) before the credit token, a "
        "bonus token last. Enter on a row opens it in its batch: the results for a row that was sent, the "
        "editor for one that was not. / searches again, Esc goes back; → and ← scroll a narrow terminal's "
        "columns. `buypower-tui history METER` prints the same.")
    BINDINGS = [
        Binding("slash", "search", "New search", id="meter_history.search"),
        Binding("escape", "back", "Back", id="meter_history.back"),
    ]

    def __init__(self, meter: str = "") -> None:
        super().__init__()
        self.meter = meter
        self.found: dict[str, MeterRow] = {}

    def compose(self) -> ComposeResult:
        yield TopBar("Meter history")
        with Horizontal(id="history-search"):
            yield Label("Meter number:", id="history-label")
            yield Input(self.meter, placeholder="e.g. 0412 345 6789, then Enter", id="history-meter")
        yield Static("", id="history-hint", markup=False)
        self.utc_offset = offset_now()  # local time: the header names the offset
        yield DataTable(id="history-rows", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def columns(self, with_meter: bool) -> None:
        table = self.table
        table.clear(columns=True)
        for key, label, width in (COLUMNS[:1] + (METER_COLUMN,) + COLUMNS[1:]) if with_meter else COLUMNS:
            table.add_column(f"{label} ({self.utc_offset})" if key == "date" else label, width=width, key=key)

    @property
    def table(self) -> DataTable:
        return self.query_one("#history-rows", DataTable)

    @property
    def box(self) -> Input:
        return self.query_one("#history-meter", Input)

    def on_mount(self) -> None:
        self.columns(False)
        if self.meter:
            self.search(self.meter)
        else:
            self.hint("Type a meter number and press Enter: every row ever made for it, in every batch.")
            self.box.focus()

    def hint(self, text: str, style: str = "") -> None:
        self.query_one("#history-hint", Static).update(Text(text, style=style))

    @on(Input.Submitted, "#history-meter")
    def _submitted(self, event: Input.Submitted) -> None:
        self.search(event.value)

    def on_screen_resume(self) -> None:
        """Back from a batch, where rows may have changed (paid, edited): read them again."""
        if self.found:
            table = self.table
            self.search(self.meter, keep=table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def search(self, text: str, keep: str | None = None) -> None:
        """A read of a few index probes (bench/history_bench.py): done here, not in a worker.
        `keep`: the row the cursor stays on, when it is still there."""
        self.meter = text
        self.found = {}
        try:
            history = self.app.services.meter_history(text)
        except ConfigError as exc:  # not a meter number: say why, and let it be typed again
            self.columns(False)
            why = str(exc).removeprefix("history: ")
            self.hint(why[:1].upper() + why[1:] + ".", "bold red")
            self.box.focus()
            return
        with_meter = len({r.meter for r in history.rows}) > 1
        self.columns(with_meter)
        table = self.table
        for row in history.rows:
            self.found[str(row.row_id)] = row
            cells = self.cells(row)
            if with_meter:
                cells.insert(1, Text(row.meter))
            table.add_row(*cells, key=str(row.row_id), height=max(1, len(row.tokens)))
        self.hint(self.summary(history))
        if history.rows:
            table.move_cursor(row=table.get_row_index(keep) if keep in self.found else 0)
            table.focus()
        else:
            self.box.focus()

    def summary(self, history: MeterHistory) -> str:
        meters = " or ".join(history.meters)
        if not history.rows:
            return f"No rows for meter {meters} in any batch."
        also = " (with the leading 0 a spreadsheet drops)" if len(history.meters) > 1 else ""
        batches = f"{history.batches} batch" + ("" if history.batches == 1 else "es")
        return (f"{plural(len(history.rows), 'row')} for meter {meters}{also} in {batches}, newest first. "
                "Enter opens a row in its batch; / searches again.")

    def cells(self, row: MeterRow) -> list[Text]:
        tokens = Text("\n".join(escape_hidden(f"{t.label:<5} {t.grouped}") for t in row.tokens))
        return [
            Text(f"{row.batch_id} {escape_hidden(row.batch_name)}", no_wrap=True, overflow="ellipsis"),
            Text(local_minute(row.at, header_offset=self.utc_offset), style="" if row.paid else "dim"),
            Text("" if row.amount is None else naira(row.amount), justify="right"),
            Text(row.state, style=STATE_STYLE.get(row.state, "")),
            tokens,
            Text("" if row.units is None else f"{row.units:f}", justify="right"),
            Text(escape_hidden(row.receipt or "")),
        ]

    @on(DataTable.RowSelected, "#history-rows")
    async def open_row(self, event: DataTable.RowSelected) -> None:
        """The row in its batch: the results for a row that was sent (it has an orderId), else
        the editor; the cursor on that row."""
        row = self.found.get(event.row_key.value)
        if row is None:
            return
        screen = ResultsScreen(row.batch_id) if row.order_id else EditorScreen(row.batch_id)
        await self.app.push_screen(screen)
        table = screen.query_one(PagedTable)
        where = table.get_row_index(row.row_id)
        if where is not None:
            table.move_cursor(row=where)

    def action_search(self) -> None:
        self.box.focus()
        self.box.action_select_all()

    def action_back(self) -> None:
        self.dismiss()
