"""Results: every row's outcome, tokens as the customer types them (KCT1, KCT2, the credit
token, bonus), what the money bought, copied or exported."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.times import local_minute
from buypower_tui.core.tokens import copy_text, inline_text, tokens_in_order
from buypower_tui.core.values import from_kobo
from buypower_tui.ui.messages import RowsChanged, RunProgress
from buypower_tui.ui.modals.save_file import Choice, safe_name, save_export
from buypower_tui.ui.screens.batch_rows import BatchRowsScreen
from buypower_tui.ui.widgets.paged_table import PagedTable
from buypower_tui.ui.widgets.top_bar import TopBar
from buypower_tui.ui.wording import plural, what_the_money_bought


class ResultsScreen(BatchRowsScreen):
    TITLE = "Results"
    HELP_TEXT = (
        "Every row of the batch with its outcome. Tokens are shown in groups of four, as a customer "
        "types them into the meter. +KCT marks a meter past the STS key change: it refuses the credit "
        "token until the key-change tokens KCT1 and KCT2 are typed, in that order; +bonus marks a bonus "
        "token, typed last. The line above the table gives the selected row's tokens in that order and "
        "what its money bought (energy, VAT, debt taken and left, kWh). c copies the row's tokens to the "
        "clipboard, one labelled line each when there are several (OSC 52, which works over SSH in most "
        "terminals), x exports the batch as .xlsx or .csv (by the file's suffix): the full export (the "
        "same columns as `buypower-tui export`) or the one for the landlord or tenants (`export --for "
        "landlord`: every row with its name, phone, the sheet's other columns, tokens in typing order and a "
        "status); h shows the row's history. Times are local, with their UTC offset.")
    BINDINGS = [
        Binding("c", "copy_token", "Copy tokens", id="results.copy"),
        Binding("x", "export", "Export", id="results.export"),
        Binding("h", "history", "History", id="results.history"),
        Binding("escape", "back", "Back", id="results.back"),
    ]

    def compose(self) -> ComposeResult:
        batch = self.app.services.batch(self.batch_id)
        self.batch_name = batch.name if batch else f"batch {self.batch_id}"
        yield TopBar(f"Results: {self.batch_name}")
        yield Static(id="results-counts", markup=False)
        yield Static(id="detail", classes="tall", markup=False)
        yield self.rows_table(("row", "state", "meter", "amount", "token", "units", "receipt", "message"),
                              id="results")
        yield Footer()

    def on_mount(self) -> None:
        self.load()
        self.table.focus()

    def on_run_progress(self, message: RunProgress | RowsChanged) -> None:
        if message.batch_id == self.batch_id:
            self.load(changed_only=True)

    on_rows_changed = on_run_progress  # a row resolved by hand: its token shows here too

    def on_job_done(self) -> None:
        self.load()

    def load(self, changed_only: bool = False) -> None:
        """Every row, or (during a run) only those changed since the last look."""
        if changed_only:
            self.show_changes()
        else:
            self.show_all()
        st = self.app.services.stats(self.batch_id)
        paid = from_kobo(st.kobo_by_state.get("SUCCESS", 0))
        self.query_one("#results-counts", Static).update(
            f"{plural(st.by_state.get('SUCCESS', 0), 'row')} paid ({naira(paid)}) │ "
            + " │ ".join(f"{n} {s}" for s, n in sorted(st.by_state.items()) if s != "SUCCESS"))
        self.show_detail()

    @on(PagedTable.RowHighlighted)
    def show_detail(self) -> None:
        row = self.row(self.table.current_id)
        if row is None:
            return
        who = escape_hidden(row["customer_name"] or row["name"] or "")
        head = f"Row {row['row_number']}, meter {row['meter'] or escape_hidden(row['meter_raw'] or '')}, {who}"
        tokens = tokens_in_order(row["token"], row["parcels"])
        if not tokens:  # not paid (yet), or paid without a token (postpaid)
            why = escape_hidden(row["provider_message"] or row["state"].lower())
            paid = [what_the_money_bought(row)] if row["state"] == "SUCCESS" else []
            self.query_one("#detail", Static).update("\n".join([f"{head} ({row['state']}): {why}", *paid]))
            return
        when = f", paid {local_minute(row['paid_at'])}" if row["paid_at"] else ""
        order = "Type in this order: " if len(tokens) > 1 else ""
        self.query_one("#detail", Static).update("\n".join([
            f"{head} ({row['state']}), receipt {escape_hidden(row['receipt_no'] or '–')}{when}",
            order + escape_hidden(inline_text(tokens)), what_the_money_bought(row)]))

    def action_copy_token(self) -> None:
        row = self.row(self.table.current_id)
        tokens = tokens_in_order(row["token"], row["parcels"]) if row is not None else []
        if not tokens:
            self.notify("This row has no token to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(copy_text(tokens))
        what = (f"The {len(tokens)} tokens of row {row['row_number']} ({', '.join(t.label for t in tokens)}), "
                "one labelled line each in the order the customer types them, were" if len(tokens) > 1
                else f"Token of row {row['row_number']}")
        self.notify(f"{what} sent to the terminal's clipboard (OSC 52). If your terminal ignores it, select "
                    "the text with Shift+drag.", title="Copied", markup=False)

    def action_export(self) -> None:
        name = safe_name(self.batch_name)
        choices = (Choice("full", "Full: every column (orderIds, debt, messages)",
                          Path(f"{name}-results.csv")),
                   Choice("landlord", "For the landlord or tenants: tokens and a status",
                          Path(f"{name}-for-landlord.xlsx")))
        save_export(self.app, "Export the batch", choices, (".xlsx", ".csv"),
                    lambda path, layout: self.app.services.export_to_file(self.batch_id, path, layout), "row")
