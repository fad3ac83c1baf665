"""The operator's home: every batch in the store with its counts, and a way to add one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from buypower_tui.core.rules import naira
from buypower_tui.core.sheets import FileError
from buypower_tui.core.times import local_minute, offset_now
from buypower_tui.core.values import RowState
from buypower_tui.settings import ConfigError
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.import_summary import ImportSummaryModal, summary
from buypower_tui.ui.modals.open_file import OpenFileModal
from buypower_tui.ui.modals.prompt import PromptModal
from buypower_tui.ui.modals.repeat_batch import RepeatModal
from buypower_tui.ui.modals.report import ReportModal
from buypower_tui.ui.screens.editor import EditorScreen
from buypower_tui.ui.screens.meter_history import MeterHistoryScreen
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.screens.review import ReviewScreen
from buypower_tui.ui.widgets.top_bar import TopBar
from buypower_tui.ui.wording import plural

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.core.importing import ImportReport
    from buypower_tui.services import Merged, Repeated

S = RowState
ACTIONS = frozenset({"new", "merge", "open", "rename", "delete", "review", "results",  # they need the store
                     "meter_history", "repeat"})
# The money and the mode first: at 80 columns the rest scrolls out of view, not those.
COLUMNS = (("id", "#", 3), ("name", "Name", 22), ("mode", "Mode", 7), ("total", "To pay/paid", 14),
           ("rows", "Rows", 5), ("valid", "Valid", 5), ("invalid", "Invalid", 7), ("paid", "Paid", 5),
           ("failed", "Failed", 6), ("pending", "Pending", 7), ("created", "Created", 16))
NAME_WIDTHS = range(16, 41)  # the name takes the slack, so that the screen's edge falls between columns
HELD_EVERY_S = 3.0  # how often to look for batches other operators are paying


def name_width(room: int) -> int:
    """The name column's width in a table `room` cells wide: the nearest to its own at which the
    right edge of the first screen cuts no other column (a count 1500 cut to "1" looks whole)."""
    def cuts(name: int) -> bool:
        x = 0
        for key, _, width in COLUMNS:
            width = name if key == "name" else width
            if key != "name" and x + 1 < room < x + 1 + width:  # its text starts after a cell of padding
                return True
            x += width + 2
        return False

    default = dict((k, w) for k, _, w in COLUMNS)["name"]
    return min((n for n in NAME_WIDTHS if not cuts(n)), key=lambda n: (abs(n - default), -n), default=default)


class BatchesScreen(Screen):
    TITLE = "Batches"
    HELP_TEXT = (
        "Every batch in the store; h finds every row ever made for a meter, across batches. "
        "n makes a new batch from a CSV or Excel sheet (ctrl+t there writes a "
        "template to fill in); Enter opens one in the recipient editor, where its rows are checked and "
        "fixed. m merges the selected batch's invalid rows back from the file x wrote in the editor, once "
        "fixed in a spreadsheet. R makes a new batch (next month's) with the selected batch's recipients, "
        "checked again, and optionally every amount changed. A batch with any row that has an orderId "
        "(it may have moved money) "
        "cannot be deleted. ✓ before a name: the batch is done, every row paid or closed (rows that will "
        "not be paid are closed with k in the failed & pending view, f).")
    BINDINGS = [
        Binding("n", "new", "New", id="batches.new"),
        Binding("m", "merge", "Merge fixed rows", show=False, id="batches.merge"),
        Binding("enter", "open", "Open", id="batches.open"),
        Binding("r", "rename", "Rename", id="batches.rename"),
        Binding("d,delete", "delete", "Delete", id="batches.delete"),
        Binding("s", "app.settings", "Key", id="batches.settings"),
        Binding("f", "review", "Failed & pending", show=False, id="batches.review"),
        Binding("t", "results", "Tokens & results", show=False, id="batches.results"),
        Binding("R", "repeat", "Repeat batch", show=False, id="batches.repeat"),
        Binding("h", "meter_history", "Meter history", show=False, id="batches.meter_history"),
        Binding("f3", "app.health", "Health", id="batches.health"),
    ]

    def compose(self) -> ComposeResult:
        yield TopBar("Batches")
        yield Static("", id="batches-hint", markup=False)
        table = DataTable(id="batches", cursor_type="row", zebra_stripes=True)
        self.utc_offset = offset_now()  # local time: the header names the offset
        self.add_columns(table, name_width(0))
        yield table
        yield Footer()

    def add_columns(self, table: DataTable, name: int) -> None:
        self.name_width = name
        for key, label, width in COLUMNS:
            table.add_column(f"{label} ({self.utc_offset})" if key == "created" else label,
                             width=name if key == "name" else width, key=key)

    def fit_columns(self) -> None:
        """The name's width for the table's width now (see `name_width`): the columns again, and
        the rows, when it changes."""
        table = self.table
        room = table.scrollable_content_region.width
        if room <= 0 or name_width(room) == self.name_width:
            return
        keep = self.selected()
        table.clear(columns=True)
        self.add_columns(table, name_width(room))
        self.load(keep)

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_columns)

    @property
    def table(self) -> DataTable:
        return self.query_one("#batches", DataTable)

    def on_mount(self) -> None:
        self.held: dict[int, str] = {}  # batches other operators are paying now, and who
        self.watching = False  # for other operators' runs: only a store they can share (PostgreSQL)
        self.load()
        self.table.focus()

    @work(thread=True, exclusive=True, group="held", exit_on_error=False)
    def look_for_others(self) -> None:
        """Which batches other operators are paying now (PostgreSQL's locks; none for SQLite):
        asked off the UI thread, as a server over a network may be slow to answer."""
        services = self.app.services
        if services is None or services.closing:
            return
        try:
            held = services.batches_held()
        except Exception:  # noqa: BLE001 - the store not answering is the health screen's to say
            return
        if held != self.held:
            self.app.call_from_thread(self.load)

    def on_screen_resume(self) -> None:
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.app.services is None and action in ACTIONS:  # the store opens after the first frame
            return None  # shown, disabled
        return True

    def load(self, keep: int | None = None) -> None:
        """The batches as the store has them now; the cursor stays on its batch (or on `keep`)."""
        services = self.app.services
        if services is None:  # the App opens the store now; it tells this screen when it is open
            self.query_one("#batches-hint", Static).update("Opening the store…")
            return
        batches = services.batches()
        stats = services.stats_for(b.id for b in batches)
        self.held = services.batches_held()
        if services.shared_store and not self.watching:
            self.watching = True
            self.set_interval(HELD_EVERY_S, self.look_for_others)
        table = self.table
        keep = self.selected() if keep is None else keep
        table.clear()
        for b in batches:
            st = stats[b.id]
            count = st.by_state.get
            incomplete = b.imported_at is None
            table.add_row(
                Text(str(b.id), style="dim"),
                Text.assemble(("✓ ", "bold green") if st.done else "",  # done: every row paid or closed
                              ("▶ ", "bold yellow") if b.id in self.held else "",  # another operator pays it
                              b.name + (" (IMPORT INCOMPLETE)" if incomplete else ""),
                              style="red" if incomplete else "", no_wrap=True, overflow="ellipsis"),
                Text(b.mode, style="bold red" if b.mode == "live" else "green"),
                # what is left to pay; once nothing is, what was paid (a paid batch read "₦0.00")
                Text(naira(st.total_valid), justify="right") if st.valid or not count(S.SUCCESS)
                else Text(naira(st.total_paid), justify="right", style="green"),
                *(Text(str(n), justify="right") for n in (st.rows, st.valid)),
                Text(str(st.invalid), justify="right", style="bold red" if st.invalid else ""),
                Text(str(count(S.SUCCESS, 0)), justify="right", style="green" if count(S.SUCCESS) else ""),
                Text(str(count(S.FAILED, 0)), justify="right", style="red" if count(S.FAILED) else ""),
                Text(str(sum(count(s, 0) for s in (S.PENDING, S.SENDING, S.NEEDS_REVIEW))), justify="right"),
                Text(local_minute(b.created_at, header_offset=self.utc_offset)),
                key=str(b.id))
        if keep is not None and str(keep) in table.rows:  # the cursor stays on its batch
            table.move_cursor(row=table.get_row_index(str(keep)))
        self.query_one("#batches-hint", Static).update(self.hint(len(batches), any(st.done for st in stats.values()),
                                                                 self.held))
        self.call_after_refresh(self.fit_columns)  # with a vertical scrollbar now, or none

    @staticmethod
    def hint(count: int, any_done: bool, held: dict[int, str] | None = None) -> Text:
        """The keys of the monthly routine the footer has no room for at 80 columns (R, h), in one
        line there; what ✓ means after them (a second line at 80 columns); then the batches other
        operators are paying now, a line each."""
        if not count:
            return Text("No batches yet: press n to make one from a CSV or Excel sheet.")
        return Text.assemble(f"{count} batch(es). ", ("Enter", "bold"), " opens one · ", ("R", "bold"),
                             " repeats it for a new month · ", ("h", "bold"), " meter history",
                             ". ✓: done (every row paid or closed)." if any_done else "",
                             *(part for batch_id, who in sorted((held or {}).items()) for part in (
                                 "\n", ("▶ ", "bold yellow"), f"batch {batch_id} is being paid by {who}")))

    def selected(self) -> int | None:
        if not self.table.row_count:
            return None
        return int(self.table.coordinate_to_cell_key(self.table.cursor_coordinate).row_key.value)

    @on(DataTable.RowSelected)
    def action_open(self) -> None:

        batch_id = self.selected()
        if batch_id is not None:
            self.app.open_screen(EditorScreen(batch_id))

    def action_review(self) -> None:

        if (batch_id := self.selected()) is not None:
            self.app.open_screen(ReviewScreen(batch_id))

    def action_results(self) -> None:

        if (batch_id := self.selected()) is not None:
            self.app.open_screen(ResultsScreen(batch_id))

    def action_meter_history(self) -> None:
        """Every row ever made for one meter, across batches (`buypower-tui history METER`)."""
        self.app.push_screen(MeterHistoryScreen())

    def action_repeat(self) -> None:
        """This month's batch from the selected one: a dialog for its name and an optional change
        of every amount, then the new batch opens in the editor."""
        batch_id = self.selected()
        if batch_id is None:
            self.notify("Select the batch to repeat first.", severity="warning")
            return
        services = self.app.services
        batch = services.batch(batch_id)

        def chosen(answer: tuple[str, str] | None) -> None:
            if answer is None:
                return
            name, amount = answer

            def repeat() -> Repeated:
                try:
                    return services.repeat_batch(batch_id, name=name, amount=amount or None)
                except ConfigError as exc:  # cut short, empty: shown as a refusal
                    raise ValueError(str(exc)) from None

            self.app.change(batch_id, repeat, self.repeated, refused=f"No batch was made from batch {batch_id}")

        st, recent = services.stats(batch_id), services.recently_paid(batch_id)
        self.app.push_screen(RepeatModal(batch_id, batch.name, st.rows - st.closed, services.repeat_name(batch_id),
                                         services.amount_change_problem, closed=st.closed,
                                         recent=recent.short() if recent else None), chosen)

    def repeated(self, done: Repeated) -> None:
        self.load()
        self.app.push_screen(EditorScreen(done.batch_id))
        self.notify(done.line() + (f"; {done.change.describe()}" if done.change else ""),
                    title=f"New batch {done.batch_id}", markup=False)

    def on_job_done(self) -> None:
        self.load()

    def action_new(self, merging: bool = False) -> None:
        """`merging`: the dialog opens with "merge into the selected batch" ticked."""
        batch_id = self.selected()
        batch = self.app.services.batch(batch_id) if batch_id is not None else None
        modal = OpenFileModal(self.app.last_folder, (batch.id, batch.name) if batch else None, merging)

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.app.last_folder = path.parent
                if modal.merging:
                    self.notify(f"Merging {path.name} into batch {batch_id}…", markup=False)
                    self.merge_sheet(batch_id, path)
                    return
                self.notify(f"Importing {path.name}…", markup=False)
                self.import_sheet(path)

        self.app.push_screen(modal, chosen)

    def action_merge(self) -> None:
        if self.selected() is None:
            self.notify("Select the batch to merge a corrected file into first.", severity="warning")
            return
        self.action_new(merging=True)

    def merge_sheet(self, batch_id: int, path: Path) -> None:
        """A job like every change to rows (the top bar shows it; refused while the batch's meters
        are looked up or it is being paid, as the editor's own changes are)."""
        if self.app.lookup_running(batch_id) or self.app.run_active(batch_id) or self.app.busy("plan", batch_id):
            self.notify(f"Batch {batch_id} is being looked up or paid; merge when that is done.", severity="warning")
            return

        def merge() -> Merged:
            try:
                return self.app.services.merge_sheet(batch_id, path)
            except FileError as exc:  # shown as a refusal, like the rows' own
                raise ValueError(str(exc)) from None
            except OSError as exc:
                raise ValueError(f"{path}: {exc.strerror or exc}") from None

        self.app.change(batch_id, merge, self.merged, refused=f"Nothing was merged into batch {batch_id}")

    def merged(self, merged: Merged) -> None:
        """The editor of the batch, with the report on top (it stays until closed)."""
        self.load()
        lines = merged.lines()
        if merged.still_invalid:
            lines[-1] += " (the editor's x writes them to a file again)"
        self.app.open_screen(EditorScreen(merged.batch_id))
        self.app.push_screen(ReportModal(f"Merged {Path(merged.source).name} into batch {merged.batch_id}: "
                                         f"{plural(len(merged.edits), 'row')} changed", "\n".join(lines)))

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def import_sheet(self, path: Path) -> None:
        try:
            report = self.app.services.import_sheet(path)
        except FileError as exc:
            self.app.call_from_thread(self.app.show_error, "The file was not imported", str(exc))
            return
        except OSError as exc:
            self.app.call_from_thread(self.app.show_error, "The file was not imported",
                                      f"{path}: {exc.strerror or exc}")
            return
        self.app.call_from_thread(self.imported, report)

    def imported(self, report: ImportReport) -> None:
        self.load()
        self.app.open_screen(EditorScreen(report.batch_id))
        if report.notices:  # what the file as a whole says: kept on screen until read
            self.app.push_screen(ImportSummaryModal(report))
        else:
            self.notify(summary(report), title=f"Imported {Path(report.source).name}", markup=False)

    def action_rename(self) -> None:
        batch_id = self.selected()
        if batch_id is None:
            return
        batch = self.app.services.batch(batch_id)

        def chosen(name: str | None) -> None:
            if name:
                self.app.change(batch_id, lambda: self.app.services.rename_batch(batch_id, name),
                                lambda _: self.load(), refused="The batch was not renamed")

        self.app.push_screen(PromptModal(f"Rename batch {batch_id}", batch.name,
                                         check=lambda v: None if v.strip() else "A batch needs a name; type one."),
                             chosen)

    def action_delete(self) -> None:
        batch_id = self.selected()
        if batch_id is None:
            return
        services = self.app.services
        batch, ordered = services.batch(batch_id), services.rows_with_order(batch_id)
        if ordered:  # say so now, not after a confirmation
            self.app.show_error("This batch cannot be deleted",
                                f"{plural(ordered, 'row')} of batch {batch_id} have an orderId: they may have "
                                "moved money, so the batch and its history stay.")
            return
        if self.app.lookup_running(batch_id):
            self.notify("Its meters are being looked up; delete it when the lookup is done.", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if yes:  # refused when an orderId arrived meanwhile (another process)
                self.app.change(batch_id, lambda: services.delete_batch(batch_id), deleted,
                                refused="This batch cannot be deleted")

        def deleted(_: None) -> None:
            self.load()
            self.notify(f"Deleted batch {batch_id}.", markup=False)

        self.app.push_screen(ConfirmModal(f"Delete batch {batch_id}?",
                                          f"“{batch.name}” and all its rows will be removed. This cannot be undone.",
                                          yes="Delete"), done)
