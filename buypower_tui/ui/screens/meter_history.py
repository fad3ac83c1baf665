"""A meter's history across batches (`h` on the batches screen): type a meter, see every row
ever made for it, newest first; Enter opens the row in its batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
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

# The fields shown, with their labels. A column is as wide as its longest value or label: a date
# at another offset (summer time), a big amount, a long receipt widen it, so no number is cut.
# Only the batch (text) gives up width, down to BATCH_LEAST, and ends in "…" where it is cut.
LABELS = {"batch": "Batch", "meter": "Meter", "date": "Date", "amount": "Amount", "state": "State",
          "approved": "Approved by", "tokens": "Tokens (typing order)", "units": "Units", "receipt": "Receipt"}
RIGHT = {"amount", "units"}  # right-aligned, in a column of their own or in a stack
BATCH_LEAST = 10
# Layouts, widest first: the first whose columns all fit the terminal is shown. A column is a stack
# of fields, one under the other (tokens take a line each, in typing order: "KCT1  5120-…").
# The meter is shown only when a 10-digit meter found rows of its 11-digit form too; who approved
# a row's order (under its state) only when a row found has one.
WIDE = (("batch",), ("meter",), ("date",), ("amount",), ("state", "approved"), ("tokens",), ("units",), ("receipt",))
LAYOUTS = (
    WIDE,  # about 105 columns, 118 with the meter
    (("batch", "meter"),) + WIDE[2:],  # the meter under the batch: about 105
    (("batch", "meter"), ("date", "amount"), ("state", "approved", "receipt", "units"), ("tokens",)),  # about 75
    (("batch", "meter", "date", "amount"), ("state", "approved", "receipt", "units"), ("tokens",)),  # about 63
)
Layout = list[tuple[tuple[str, ...], int]]  # (the fields of a column, its width)


class MeterHistoryScreen(Screen):
    TITLE = "Meter history"
    HELP_TEXT = (
        "Every row ever made for one meter, in every batch, newest first. Type the meter number (spaces "
        "and dashes are ignored; 10 digits also finds the 11-digit meter whose leading 0 a spreadsheet "
        "dropped, and then each row shows its meter) and press Enter. The date is when the row was paid; "
        "for a row not paid (dimmed), when its batch was made; times are local with their UTC offset. "
        "Tokens are listed in the order the customer types them: KCT1 and KCT2 (a meter past the key "
        "change) before the credit token, a bonus token last. Under the state, who approved the row's order "
        "(the operator who confirmed its payment), when a row found was approved. Under about 105 columns "
        "the amount goes under "
        "the date and the receipt and the units under the state; under about 75 the batch and the date go "
        "over the amount too; a meter with no room for a column of its own goes under the batch. The "
        "batch's name may be cut (…); numbers are shown whole (→ and ← scroll when even that does not fit). "
        "Enter on a row opens it in its batch: the results for a row that was sent, the editor for one "
        "that was not. / searches again, Esc goes back. `buypower-tui history METER` prints the same.")
    BINDINGS = [
        Binding("slash", "search", "New search", id="meter_history.search"),
        Binding("escape", "back", "Back", id="meter_history.back"),
    ]

    def __init__(self, meter: str = "") -> None:
        super().__init__()
        self.meter = meter
        self.history: MeterHistory | None = None
        self.found: dict[str, MeterRow] = {}
        self.shown: Layout = []
        self.cramped = False  # no layout fits: the table scrolls sideways

    def compose(self) -> ComposeResult:
        yield TopBar("Meter history")
        with Horizontal(id="history-search"):
            yield Label("Meter number:", id="history-label")
            yield Input(self.meter, placeholder="e.g. 0412 345 6789, then Enter", id="history-meter")
        yield Static("", id="history-hint", markup=False)
        self.utc_offset = offset_now()  # local time: the header names the offset
        yield DataTable(id="history-rows", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#history-rows", DataTable)

    @property
    def box(self) -> Input:
        return self.query_one("#history-meter", Input)

    def on_mount(self) -> None:
        if self.meter:
            self.search(self.meter)
        else:
            self.show()
            self.hint("Type a meter number and press Enter: every row ever made for it, in every batch.")
            self.box.focus()

    def hint(self, text: str, style: str = "") -> None:
        self.query_one("#history-hint", Static).update(Text(text, style=style))

    @on(Input.Submitted, "#history-meter")
    def _submitted(self, event: Input.Submitted) -> None:
        self.search(event.value)

    def current(self) -> str | None:
        """The key of the row the cursor is on."""
        table = self.table
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None

    def on_screen_resume(self) -> None:
        """Back from a batch, where rows may have changed (paid, edited): read them again."""
        if self.found:
            self.search(self.meter, keep=self.current())

    def on_resize(self) -> None:
        self.call_after_refresh(self.refit)

    def refit(self) -> None:
        """The layout for the terminal's width now: the rows again, when it changes."""
        if self.fit(self.history.rows if self.history else [])[0] != self.shown:
            self.show(keep=self.current())

    def search(self, text: str, keep: str | None = None) -> None:
        """A read of a few index probes (bench/history_bench.py): done here, not in a worker.
        `keep`: the row the cursor stays on, when it is still there."""
        self.meter = text
        try:
            self.history = self.app.services.meter_history(text)
        except ConfigError as exc:  # not a meter number: say why, and let it be typed again
            self.history = None
            self.show()
            why = str(exc).removeprefix("history: ")
            self.hint(why[:1].upper() + why[1:] + ".", "bold red")
            self.box.focus()
            return
        self.show(keep)
        if self.history.rows:
            self.table.focus()
        else:
            self.box.focus()

    def fit(self, rows: list[MeterRow]) -> tuple[Layout, bool]:
        """The first layout whose columns fit the terminal, and whether none did (then the last,
        its batch at its least: → scrolls)."""
        texts = [self.texts(row) for row in rows]
        need = {field: max([cell_len(self.label(field))] + [max(map(cell_len, t[field].plain.split("\n")))
                                                          for t in texts]) for field in LABELS}
        # room kept for the vertical scrollbar, which comes with more rows than the screen holds
        room = (self.size.width or self.app.size.width) - self.table.styles.scrollbar_size_vertical
        hidden = {"meter"} if len({r.meter for r in rows}) <= 1 else set()
        if not any(r.approved_by for r in rows):
            hidden.add("approved")
        for layout in LAYOUTS:
            columns = [col for col in (tuple(f for f in c if f not in hidden) for c in layout) if col]
            rest = [max(need[f] for f in col) for col in columns[1:]]
            least = max([BATCH_LEAST] + [need[f] for f in columns[0][1:]])  # what goes under it is whole
            left = room - sum(width + 2 for width in rest) - 2  # a cell's padding: one space either side
            widths = [min(max(need[f] for f in columns[0]), max(least, left)), *rest]
            if sum(width + 2 for width in widths) <= room:
                break
        return list(zip(columns, widths, strict=True)), sum(width + 2 for width in widths) > room

    def show(self, keep: str | None = None) -> None:
        """The rows in the layout that fits the terminal now; the cursor on `keep`, when it is there."""
        rows = self.history.rows if self.history else []
        self.shown, self.cramped = self.fit(rows)
        table = self.table
        table.clear(columns=True)
        table.header_height = max(len(fields) for fields, _ in self.shown)
        for fields, width in self.shown:
            table.add_column(self.stack([Text(self.label(f)) for f in fields], fields, width), width=width,
                             key=fields[0])
        self.found = {}
        for row in rows:
            self.found[str(row.row_id)] = row
            texts = self.texts(row)
            cells = [self.stack([texts[f] for f in fields], fields, width) for fields, width in self.shown]
            table.add_row(*cells, key=str(row.row_id), height=max(c.plain.count("\n") + 1 for c in cells))
        if self.history:
            self.hint(self.summary(self.history))
        if rows:
            table.move_cursor(row=table.get_row_index(keep) if keep in self.found else 0)

    def summary(self, history: MeterHistory) -> str:
        meters = " or ".join(history.meters)
        if not history.rows:
            return f"No rows for meter {meters} in any batch."
        also = " (with the leading 0 a spreadsheet drops)" if len(history.meters) > 1 else ""
        batches = f"{history.batches} batch" + ("" if history.batches == 1 else "es")
        cramped = " The terminal is too narrow for every column: → and ← scroll." if self.cramped else ""
        return (f"{plural(len(history.rows), 'row')} for meter {meters}{also} in {batches}, newest first. "
                f"Enter opens a row in its batch; / searches again.{cramped}")

    def label(self, field: str) -> str:
        return f"{LABELS[field]} ({self.utc_offset})" if field == "date" else LABELS[field]

    @staticmethod
    def stack(parts: list[Text], fields: tuple[str, ...], width: int) -> Text:
        """The fields of a column, one under the other (empty ones at the end left out)."""
        lines = [part.copy() for part in parts]
        for field, line in zip(fields, lines, strict=True):
            if field in RIGHT:
                line.align("right", width)
        while len(lines) > 1 and not lines[-1].plain.strip():
            lines.pop()
        return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)

    def texts(self, row: MeterRow) -> dict[str, Text]:
        return {
            "batch": Text(f"{row.batch_id} {escape_hidden(row.batch_name)}"),
            "meter": Text(row.meter),
            "date": Text(local_minute(row.at, header_offset=self.utc_offset), style="" if row.paid else "dim"),
            "amount": Text("" if row.amount is None else naira(row.amount)),
            "state": Text(row.state, style=STATE_STYLE.get(row.state, "")),
            "approved": Text(escape_hidden(row.approved_by or "")),
            "tokens": Text("\n".join(escape_hidden(f"{t.label:<5} {t.grouped}") for t in row.tokens)),
            "units": Text("" if row.units is None else f"{row.units:f}"),
            "receipt": Text(escape_hidden(row.receipt or "")),
        }

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
