"""The run view: a batch being paid, as it happens. The run belongs to the App: leaving this
view, or opening any other, never stops it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, ProgressBar, Static

from buypower_tui.core.values import RowState
from buypower_tui.ui.messages import RowsChanged, RunProgress
from buypower_tui.ui.screens.batch_rows import BatchRowsScreen
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.screens.review import ReviewScreen
from buypower_tui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from buypower_tui.services import Progress

S = RowState
SHOWN = (S.APPROVED, S.SENDING, S.SUCCESS, S.FAILED, S.PENDING, S.NOT_SENT, S.NEEDS_REVIEW)


def summary(p: Progress | None, c: dict[str, int], stopping: bool, ended: bool = False) -> Text:
    """`c`: counts by state read from the store just now (progress events are throttled);
    `ended`: the run is over (it may have ended before its first progress)."""
    if p is None:
        return Text("This run ended before it sent anything: no row was approved by it, nothing was paid."
                    if ended else "Checking the plan again, approving the rows and starting…")
    b = p.breaker.state.value
    eta = f"ETA {p.eta_s:.0f} s" if p.eta_s and not (p.finished or p.paused or p.waiting) else "ETA –"
    parts: list[Any] = [
        (f"sent {p.sent}/{p.to_send}", "bold"), " │ ", (f"{c.get(S.SUCCESS, 0)} paid", "green"), " · ",
        (f"{c.get(S.FAILED, 0)} failed", "red" if c.get(S.FAILED) else ""), " · ",
        (f"{c.get(S.PENDING, 0)} pending", "yellow" if c.get(S.PENDING) else ""), " · ",
        f"{c.get(S.SENDING, 0)} sending", " · ",
        (f"{c.get(S.NEEDS_REVIEW, 0)} to review", "magenta" if c.get(S.NEEDS_REVIEW) else ""), " │ ",
        f"{p.vends_per_s:.1f} vends/s", " │ ", eta, " │ breaker ", (b, "green" if b == "closed" else "bold red")]
    unsent = c.get(S.APPROVED, 0) + c.get(S.NOT_SENT, 0)
    if p.finished:
        parts += ["\n", ("Stopped. " if stopping else "Finished. ", "bold")]
        if unsent:
            parts += [(f"{unsent} rows were not sent", "bold yellow"), " (approved: v pays them, no new orderId). "]
        parts.append("r: failed and pending rows · t: tokens and results")
    elif p.paused:
        parts += ["\n", ("PAUSED", "bold reverse yellow"), "  p resumes"]
    elif stopping:
        parts += ["\n", ("STOPPING", "bold reverse yellow"), "  after the rows in flight"]
    elif p.sent >= p.to_send and c.get(S.PENDING, 0):
        parts += ["\n", ("Sending is done; ", "bold"), f"requerying {c.get(S.PENDING, 0)} pending rows as BuyPower "
                  "asks (s ends the wait: they stay PENDING, and r requeries them later)."]
    if p.waiting and not p.finished:
        parts += ["\n", ("Waiting: ", "bold yellow"), p.waiting]
    return Text.assemble(*parts)


class RunScreen(BatchRowsScreen):
    TITLE = "Run"
    HELP_TEXT = (
        "The batch being paid. Rows appear as they are sent and change as BuyPower answers; the table "
        "follows the newest row until you move the cursor (f follows again). p pauses and resumes; s stops "
        "after the rows in flight (no request is ever cut off). Leaving this view does not stop the run: "
        "F4 brings it back, and the top bar of every screen shows it.")
    BINDINGS = [
        Binding("p", "pause", "Pause", id="run.pause", tooltip="pause or resume sending"),
        Binding("s", "stop", "Stop", id="run.stop", tooltip="stop after the rows in flight"),
        Binding("f", "follow", "Follow newest", show=False, id="run.follow"),
        Binding("r", "review", "Failed/pending", id="run.review"),
        Binding("t", "results", "Tokens", id="run.results"),
        Binding("escape", "back", "Back", id="run.back"),
    ]

    def __init__(self, batch_id: int) -> None:
        super().__init__(batch_id)
        self.follow = True
        self._auto_row: int | None = None  # where we put the cursor ourselves
        self.progress: Progress | None = None  # the run's last word (RunProgress)

    def compose(self) -> ComposeResult:
        batch = self.app.services.batch(self.batch_id)
        self.title = f"Paying {batch.name}" if batch else "Run"
        yield TopBar(self.title)
        yield Static(id="run-summary", markup=False)
        yield ProgressBar(id="run-bar", show_eta=False)
        yield Static(id="run-errors", markup=False)
        yield self.rows_table(("row", "state", "meter", "amount", "token", "units", "message"), id="run-rows")
        yield Footer()

    def on_mount(self) -> None:
        self.table.focus()
        self.show_all(SHOWN)
        self.tick()

    def on_run_progress(self, message: RunProgress) -> None:
        if message.batch_id == self.batch_id:
            self.progress = message.progress
            self.tick()

    def on_rows_changed(self, message: RowsChanged) -> None:
        if message.batch_id == self.batch_id:  # e.g. a row resolved by hand in the failed/pending view
            self.tick()

    def tick(self) -> None:
        """Show the run as the store has it now: on every RunProgress, and once the run ended."""
        control = self.app.run_control
        p = self.progress or (control.progress if control is not None and control.batch_id == self.batch_id
                              else None)
        counts = self.app.services.stats(self.batch_id).by_state
        ended = not self.app.run_active(self.batch_id)
        self.query_one("#run-summary", Static).update(summary(p, counts, bool(control and control.stopping), ended))
        if p is not None:
            self.query_one(ProgressBar).update(total=max(p.to_send, 1), progress=p.sent)
        elif ended:
            self.query_one(ProgressBar).update(total=1, progress=0)
        errors = list(self.app.run_errors)[-3:]
        self.query_one("#run-errors", Static).update(Text("\n".join(errors), style="red") if errors else "")
        self.show_run()

    def show_run(self) -> None:
        """Rows changed since the last look; the cursor follows the newest unless moved."""
        if self._auto_row is not None and self.table.cursor_row != self._auto_row:
            self.follow = False  # the cursor is not where we left it: the operator looks somewhere
        changed = self.show_changes(SHOWN)
        if changed and self.follow:
            newest = max(changed, key=lambda r: r["updated_at"])
            self._auto_row = self.table.get_row_index(newest["id"])
            self.table.move_cursor(row=self._auto_row)

    def on_job_done(self) -> None:
        self.show_all(SHOWN)  # the run ended: every row once more, as the store has it
        self.tick()

    def action_follow(self) -> None:
        self.follow, self._auto_row = True, None
        self.notify("Following the newest rows.")

    def action_pause(self) -> None:
        control = self.app.run_control
        if control is None or not self.app.run_active(self.batch_id):
            self.notify("This batch is not being paid now.", severity="warning")
            return
        if control.progress is not None and control.progress.paused:
            control.resume()
        else:
            control.pause()

    def action_stop(self) -> None:
        control = self.app.run_control
        if control is not None and self.app.run_active(self.batch_id):
            control.stop()
            self.app.show_activity()
            self.notify("Stopping after the rows in flight; nothing is cut off half-way.")

    def action_review(self) -> None:

        self.app.open_screen(ReviewScreen(self.batch_id))

    def action_results(self) -> None:

        self.app.open_screen(ResultsScreen(self.batch_id))

    def action_back(self) -> None:
        self.dismiss()
