"""The recipient editor: the batch's rows, what is wrong with each, and the means to fix it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, ProgressBar, Static

from buypower_tui.core import row_view
from buypower_tui.core.row_view import extras_text, row_status
from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.values import RowState
from buypower_tui.ui.messages import LookupFinished, LookupProgress, RowsChanged
from buypower_tui.ui.modals.choose import ChooseModal
from buypower_tui.ui.screens.editor_changes import RowChanges
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.screens.review import ReviewScreen
from buypower_tui.ui.widgets.grid import RecipientGrid, money_text, number_text
from buypower_tui.ui.widgets.paged_table import PagedTable
from buypower_tui.ui.widgets.top_bar import TopBar
from buypower_tui.ui.wording import plural

LABELS = {"all": "All rows", "invalid": "Invalid (errors to fix)", "warnings": "Warnings",
          "duplicates": "Duplicate meters", "name differs": "Name differs from BuyPower's"}
FILTERS = [(key, LABELS.get(key) or f"State {key[6:]}") for key in row_view.FILTERS]  # the store's views, named
CHANGES = ("edit", "add", "copy_row", "delete", "accept_duplicates", "bulk_edit", "accept_fix", "undo")


class EditorScreen(RowChanges, Screen):
    HELP_TEXT = (
        "The batch's rows as imported, with what is wrong with each. Fix a row with Enter or e: "
        "its fields are checked as you type, by the same rules as the import. Mark rows with space "
        "(shift+↓/↑ marks a range) to delete them, accept their duplicate warning or set one value on "
        "all of them (b, bulk edit) together. l looks every valid meter up "
        "at BuyPower (customer name, address, debt, min/max); nothing is paid on this screen.")
    BINDINGS = [
        Binding("e", "edit", "Edit", id="editor.edit"),
        Binding("a", "add", "Add row", show=False, id="editor.add"),
        Binding("c", "copy_row", "Copy row", show=False, id="editor.copy_row"),
        Binding("d,delete", "delete", "Delete", show=False, id="editor.delete"),
        Binding("space", "mark", "Mark", id="editor.mark"),
        Binding("shift+down", "mark_range(1)", "Mark down", show=False, id="editor.mark_down"),
        Binding("shift+up", "mark_range(-1)", "Mark up", show=False, id="editor.mark_up"),
        Binding("b", "bulk_edit", "Bulk edit", id="editor.bulk_edit"),
        Binding("ctrl+z", "undo", "Undo", show=False, id="editor.undo"),
        Binding("f", "filter", "Filter", id="editor.filter"),
        Binding("slash", "search", "Search", id="editor.search"),
        Binding("o", "accept_duplicates", "Accept duplicate", show=False, id="editor.accept"),
        Binding("z", "accept_fix", "Accept fix", show=False, id="editor.accept_fix"),
        Binding("Z", "accept_fix(True)", "Accept all fixes", show=False, id="editor.accept_fixes"),
        Binding("x", "export_invalid", "Export invalid rows", show=False, id="editor.export_invalid"),
        Binding("l", "lookup", "Lookup", id="editor.lookup"),
        Binding("v", "pay", "Pay…", id="editor.pay"),
        Binding("r", "review", "Failed & pending", show=False, id="editor.review"),
        Binding("t", "results", "Tokens & results", show=False, id="editor.results"),
        Binding("escape", "back", "Back to batches", show=False, id="editor.back"),
    ]

    def __init__(self, batch_id: int) -> None:
        super().__init__()
        self.batch_id = batch_id
        self.filter = "all"
        self.search = ""
        self.landed: set[int] = set()  # looked-up rows not yet shown
        self.stale = False  # rows changed from another screen: read again when shown

    @property
    def services(self):
        return self.app.services

    @property
    def limits(self):
        return self.app.services.limits

    @property
    def grid(self) -> RecipientGrid:
        return self.query_one(RecipientGrid)

    @property
    def duplicates(self) -> dict[str, int]:
        return self.grid.duplicates

    @property
    def marked(self) -> set[int]:
        return self.grid.marked

    def current_row(self) -> dict[str, Any] | None:
        row_id = self.grid.current_id
        return None if row_id is None else self.grid.row(row_id)

    def compose(self) -> ComposeResult:
        batch = self.services.batch(self.batch_id)
        self.title = batch.name if batch else f"batch {self.batch_id}"
        yield TopBar(self.title)
        yield Static(id="counts", markup=False)
        yield Static(id="detail", markup=False)  # above the grid: toasts never hide it
        yield Input(placeholder="search meter or name (Enter keeps it, Esc clears)", id="search")
        yield RecipientGrid(lambda ids: self.services.grid_rows(self.batch_id, ids), id="grid")
        with Horizontal(id="lookup-panel"):
            yield Label("Looking meters up", id="lookup-label")
            yield ProgressBar(id="lookup-bar", show_eta=False)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.grid.focus()
        if self.app.lookup_running(self.batch_id):
            self.query_one("#lookup-panel").display = True

    # -- what is shown -----------------------------------------------------------------

    def reload(self) -> None:
        self.grid.duplicates = self.services.duplicate_meters(self.batch_id)
        self.grid.forget()
        self.refill()
        self.update_counts()

    def refill(self) -> None:
        """Show the rows the filter and search match (the store finds them; the grid reads only
        those on screen), the cursor staying on its row when it can."""
        self.grid.show(self.services.view_ids(self.batch_id, self.filter, self.search), keep=self.grid.current_id)
        self.show_detail()

    def update_counts(self) -> None:
        st = self.services.stats(self.batch_id)
        shown = self.grid.row_count
        parts: list[str | tuple[str, str]] = []
        if self.filter != "all" or self.search:  # first, so it is seen even at 80 columns
            what = dict(FILTERS)[self.filter] + (f", {self.search!r}" if self.search else "")
            parts += [(f" showing {shown} of {st.rows}: {what} ", "reverse"), " "]
        parts += [(plural(st.rows, "row"), "bold"), " │ ", (f"{st.valid} valid", "green"), " │ ",
                  (f"{st.invalid} invalid", "bold red" if st.invalid else ""), " │ ",
                  (plural(st.warnings, "warning"), "yellow" if st.warnings else ""), " │ ",
                  (f"{naira(st.total_valid)} valid total", "bold")]
        if self.marked:
            parts.append(f" │ {len(self.marked)} marked")
        text = Text.assemble(*parts)
        self.query_one("#counts", Static).update(text)

    def show_detail(self) -> None:
        row = self.current_row()
        if row is None:
            self.query_one("#detail", Static).update("No rows match." if not self.grid.row_count else "")
            return
        kind, message = row_status(row, self.duplicates)
        # a duplicate waits for the operator's OK (o); a warning of the row's own is paid as it is
        duplicate = kind == "warning" and row["meter"] in self.duplicates and not row["duplicate_accepted"]
        label = row["state"] + (", needs your OK" if duplicate else ", look at it" if kind == "warning" else "")
        # escape_hidden: a right-to-left override or a zero-width space is shown as ⟨U+202E⟩
        parts: list[str | tuple[str, str]] = [(f"Row {row['row_number']} ({label}): ", "bold"),
                                              escape_hidden(message)]
        if any(e.get("fix") for e in row["errors"] or ()):
            parts.append(("  z accepts the fix (Z: every row that has one)", "bold"))
        if row["customer_name"]:
            address = escape_hidden(row["customer_address"] or "no address")
            parts += [" │ ", (escape_hidden(row["customer_name"]), "bold"), f", {address}"]
        if row["min_vend"] or row["max_vend"]:
            low, high = money_text(row["min_vend"]) or "?", money_text(row["max_vend"]) or "?"
            parts.append(f" │ this meter takes {low} to {high}")
        if row["customer_debt"] or row["debt_repayment"]:  # BuyPower's check/meter: why few units may come
            parts.append(f" │ debt: {money_text(row['customer_debt']) or '?'} outstanding, "
                         f"repayment {number_text(row['debt_repayment']) or '?'}")
        if extras := extras_text(row.get("extras")):
            parts.append(f" │ {extras}")
        self.query_one("#detail", Static).update(Text.assemble(*parts))

    @on(PagedTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.show_detail()

    @on(PagedTable.RowSelected)
    def _selected(self) -> None:
        self.action_edit()

    def refresh_rows(self, ids: set[int]) -> None:
        """These rows changed (or came, or went): show them as the store has them now, with
        every row whose duplicate warning their change turned on or off."""
        grid = self.grid
        before = grid.duplicates
        grid.duplicates = self.services.duplicate_meters(self.batch_id)
        grid.forget(None if before != grid.duplicates else ids)
        present = {r["id"] for r in self.services.grid_rows(self.batch_id, ids)} if ids else set()
        self.marked.difference_update(ids - present)
        if self.filter != "all" or self.search or any(grid.get_row_index(i) is None for i in present) \
                or len(present) < len(ids):  # the view itself may have changed
            self.refill()
        self.update_counts()
        self.show_detail()

    # -- changes (the row actions are in editor_changes.py) ----------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHANGES and self.is_mounted and (self.app.lookup_running(self.batch_id)
                                                      or self.app.busy("plan", self.batch_id)
                                                      or self.app.run_active(self.batch_id)):
            return None  # shown disabled: rows must not change under the lookup, the check or the run
        return True

    # -- views ---------------------------------------------------------------------------

    def action_filter(self) -> None:
        def chosen(key: str | None) -> None:
            if key is not None:
                self.filter = key
                self.refill()
                self.update_counts()

        counts = self.services.view_counts(self.batch_id)
        options = [(key, f"{label} ({counts[key]})") for key, label in FILTERS]
        self.app.push_screen(ChooseModal("Show rows", options, self.filter), chosen)

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search = event.value.strip()
        self.refill()
        self.update_counts()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.grid.focus()

    def action_back(self) -> None:
        box = self.query_one("#search", Input)
        if box.has_focus or box.display and box.value:
            box.value = ""
            box.display = False
            self.grid.focus()
            return
        self.dismiss()

    # -- paying and after ---------------------------------------------------------------------

    def action_pay(self) -> None:
        if self.services.stats(self.batch_id).invalid:
            self.notify("Invalid rows are left out of the payment; fix them first if they should be paid.",
                        severity="warning")
        self.app.pay(self.batch_id)

    def action_review(self) -> None:

        self.app.open_screen(ReviewScreen(self.batch_id))

    def action_results(self) -> None:

        self.app.open_screen(ResultsScreen(self.batch_id))

    def on_job_done(self) -> None:
        if not self.app.lookup_running(self.batch_id):
            self.reload()

    def on_rows_changed(self, message: RowsChanged) -> None:
        if message.batch_id == self.batch_id and not self.is_current:  # its own changes it shows at once
            self.stale = True

    def on_screen_resume(self) -> None:
        if self.is_mounted and (self.stale or self.app.run_active(self.batch_id)):
            self.stale = False
            self.reload()  # back from the run view: show where the run is (the end reloads too)

    # -- lookup ------------------------------------------------------------------------------

    def action_lookup(self) -> None:
        if self.app.lookup_running():
            self.notify("A lookup is already running.", severity="warning")
            return
        todo = self.services.stats(self.batch_id).by_state.get(RowState.VALID, 0)
        if not todo:
            self.notify("No valid row waits for a lookup (fix invalid rows first).", severity="warning")
            return
        bar = self.query_one("#lookup-bar", ProgressBar)
        bar.update(total=todo, progress=0)
        self.query_one("#lookup-panel").display = True
        self.app.start_lookup(self.batch_id)
        self.refresh_bindings()

    def on_lookup_progress(self, message: LookupProgress) -> None:
        if not self.landed:  # the first since the last frame: show them all after the next one
            self.call_after_refresh(self.show_landed)
        self.landed.add(message.row_id)
        self.query_one("#lookup-bar", ProgressBar).update(total=message.total, progress=message.done)

    def show_landed(self) -> None:
        """Looked-up rows appear once a frame, not one repaint per answer."""
        if self.landed:
            ids, self.landed = self.landed, set()
            self.refresh_rows(ids)

    def on_lookup_finished(self, message: LookupFinished) -> None:
        self.query_one("#lookup-panel").display = False
        self.landed.clear()
        self.reload()
        self.refresh_bindings()
        report = message.report
        if report is None:
            return
        held = sum(report.held.values())
        self.notify(f"Lookup done: {report.verified} verified, {report.not_found} not found, "
                    f"{report.out_of_range} outside the meter's range" + (f", {held} held" if held else ""),
                    title="Lookup", markup=False)
        if report.errors:
            self.app.show_error("Some meters could not be looked up",
                                "BuyPower did not answer for these rows; they stay valid, and l tries "
                                "them again:\n\n" + "\n".join(report.errors))
