"""Results: every row's outcome, tokens as the customer types them, copied or exported."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static

from buypower_tui.core import editing
from buypower_tui.core.export import export_to_file
from buypower_tui.core.models import from_kobo
from buypower_tui.core.outcomes import format_token
from buypower_tui.core.rules import naira
from buypower_tui.ui.modals.save_file import safe_name, save_csv
from buypower_tui.ui.screens.batch_rows import BatchRowsScreen
from buypower_tui.ui.widgets.row_table import RowTable
from buypower_tui.ui.widgets.top_bar import TopBar
from buypower_tui.ui.wording import plural


class ResultsScreen(BatchRowsScreen):
    TITLE = "Results"
    HELP_TEXT = (
        "Every row of the batch with its outcome. Tokens are shown in groups of four, as a customer "
        "types them into the meter. c copies the selected row's token to the clipboard (OSC 52, which "
        "works over SSH in most terminals), x exports the batch to CSV (the same columns as "
        "`buypower-tui export`), h shows the row's history.")
    BINDINGS = [
        Binding("c", "copy_token", "Copy token", id="results.copy"),
        Binding("x", "export", "Export CSV", id="results.export"),
        Binding("h", "history", "History", id="results.history"),
        Binding("escape", "back", "Back", id="results.back"),
    ]

    def compose(self) -> ComposeResult:
        batch = self.app.services.store.batch(self.batch_id)
        self.batch_name = batch.name if batch else f"batch {self.batch_id}"
        yield TopBar(f"Results: {self.batch_name}")
        yield Static(id="results-counts", markup=False)
        yield Static(id="detail", markup=False)
        yield RowTable(("row", "state", "meter", "amount", "token", "units", "receipt", "message"), id="results")
        yield Footer()

    def on_mount(self) -> None:
        self.load()
        self.table.focus()
        self.set_interval(1.0, self._while_paying)

    def _while_paying(self) -> None:
        if self.app.run_active(self.batch_id):
            self.load()

    def on_job_done(self) -> None:
        self.load()

    def load(self) -> None:
        self.rows = {r["id"]: r for r in editing.grid_rows(self.app.services.store, self.batch_id)}
        with self.app.batch_update():
            for row in self.rows.values():
                self.table.set_row(row)
        st = self.app.services.store.stats(self.batch_id)
        paid = from_kobo(st.kobo_by_state.get("SUCCESS", 0))
        self.query_one("#results-counts", Static).update(
            f"{plural(st.by_state.get('SUCCESS', 0), 'row')} paid ({naira(paid)}) │ "
            + " │ ".join(f"{n} {s}" for s, n in sorted(st.by_state.items()) if s != "SUCCESS"))
        self.show_detail()

    @on(DataTable.RowHighlighted)
    def show_detail(self) -> None:
        row = self.rows.get(self.table.current_id or -1)
        if row is None:
            return
        token = f"token {format_token(row['token'])}, {row['units'] or '?'} units, receipt " \
                f"{row['receipt_no'] or '–'}" if row["token"] else row["provider_message"] or row["state"].lower()
        self.query_one("#detail", Static).update(f"Row {row['row_number']}, meter {row['meter']}, "
                                                 f"{row['customer_name'] or row['name'] or ''}: {token}")

    def action_copy_token(self) -> None:
        row = self.rows.get(self.table.current_id or -1)
        if row is None or not row["token"]:
            self.notify("This row has no token to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(format_token(row["token"]))
        self.notify(f"Token of row {row['row_number']} sent to the terminal's clipboard (OSC 52). If your "
                    "terminal ignores it, select the token with Shift+drag.", title="Copied")

    def action_export(self) -> None:
        save_csv(self.app, "Export the batch to CSV", Path(safe_name(f"{self.batch_name}-results.csv")),
                 lambda path: export_to_file(self.app.services.store, self.batch_id, path), "row")
