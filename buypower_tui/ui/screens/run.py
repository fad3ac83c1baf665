"""The run view: a batch being paid, as it happens. The run belongs to the App: leaving this
view, or opening any other, never stops it."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Footer, ProgressBar, Static

from buypower_tui.core.times import clock_time
from buypower_tui.core.values import RowState
from buypower_tui.ui.messages import RowsChanged, RunProgress
from buypower_tui.ui.screens.batch_rows import BatchRowsScreen
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.screens.review import ReviewScreen
from buypower_tui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from buypower_tui.services import Progress
    from buypower_tui.ui.jobs import RunEnd

S = RowState
SHOWN = (S.APPROVED, S.SENDING, S.SUCCESS, S.FAILED, S.PENDING, S.NOT_SENT, S.NEEDS_REVIEW)
WAIT_ROWS_SHOWN = 6  # pending rows listed during the wait (the soonest requeried first)


def now() -> datetime:
    """The clock of the countdowns (a test sets its own)."""
    return datetime.now(UTC)


def span(seconds: float) -> str:
    """"1:05", "1:02:03": a countdown, whole seconds rounded up (0:00 only when it is due)."""
    whole = max(0, -int(-seconds // 1))
    h, rest = divmod(whole, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def wait_text(p: Progress | None, at: datetime) -> Text | None:
    """The wait for pending rows, as of `at`: the time left, then each pending row (sheet row,
    meter) with its next requery and a countdown. None when the run is not waiting."""
    if p is None or p.wait_ends_at is None or p.finished:
        return None
    left = (p.wait_ends_at - at).total_seconds()
    count = max(p.counts.get(S.PENDING, 0), len(p.pending))
    parts: list[Any] = [
        ("Sending is done. ", "bold"),
        f"Requerying {count} pending rows as BuyPower asks: ", (f"{span(left)} left", "bold yellow"),
        f" (the wait ends at {clock_time(p.wait_ends_at.timestamp())}; s ends it now, the rows stay PENDING and "
        "r or the next start requeries them)."]
    if p.paused:
        parts.append(" The wait goes on while paused.")
    for row in p.pending[:WAIT_ROWS_SHOWN]:
        parts += ["\n", f"  row {row.row_number:<5} meter {row.meter:<14} "]
        if row.next_requery_at is None:
            parts.append(("no requery scheduled", "dim"))
            continue
        due = (row.next_requery_at - at).total_seconds()
        parts.append(f"next requery {clock_time(row.next_requery_at.timestamp())}  ")
        if row.next_requery_at > p.wait_ends_at:
            parts.append(("after the wait (r requeries it then)", "dim"))
        else:
            parts.append((f"in {span(due)}", "bold") if due > 0 else ("asking now", "bold green"))
    if count > WAIT_ROWS_SHOWN:
        parts += ["\n", (f"  … and {count - WAIT_ROWS_SHOWN} more pending rows (r lists them all)", "dim")]
    return Text.assemble(*parts)


def store_errors() -> type[Exception]:
    """What a store that stopped answering raises (SQLAlchemy loads with the store, not before)."""
    from sqlalchemy.exc import SQLAlchemyError

    return SQLAlchemyError


def summary(p: Progress | None, c: dict[str, int], stopping: bool, ended: bool = False,
            end: RunEnd | None = None) -> Text:
    """`c`: counts by state read from the store just now (progress events are throttled);
    `ended`: the run is over (it may have ended before its first progress); `end`: what the
    App made of its end (rows left out, the wallet check)."""
    if p is None:
        return Text("This run ended before it sent anything: no row was approved by it, nothing was paid."
                    if ended else "Checking the plan again, approving the rows and starting…")
    b = p.breaker.state.value
    eta = f"ETA {p.eta_s:.0f} s" if p.eta_s and not (p.finished or p.paused or p.waiting) else "ETA –"
    parts: list[Any] = [(f"sent {p.sent}/{p.to_send}", "bold")]
    if p.resent:  # rows BuyPower never received, sent again under the same orderId
        parts += [" · ", (f"{p.resent} sent again", "yellow")]
    parts += [
        " │ ", (f"{c.get(S.SUCCESS, 0)} paid", "green"), " · ",
        (f"{c.get(S.FAILED, 0)} failed", "red" if c.get(S.FAILED) else ""), " · ",
        (f"{c.get(S.PENDING, 0)} pending", "yellow" if c.get(S.PENDING) else ""), " · ",
        f"{c.get(S.SENDING, 0)} sending", " · ",
        (f"{c.get(S.NEEDS_REVIEW, 0)} to review", "magenta" if c.get(S.NEEDS_REVIEW) else ""), " │ ",
        f"{p.vends_per_s:.1f} vends/s", " │ ", eta, " │ breaker ", (b, "green" if b == "closed" else "bold red")]
    unsent = c.get(S.APPROVED, 0) + c.get(S.NOT_SENT, 0)
    if p.finished:
        parts += ["\n", ("Stopped. " if stopping or p.halted else "Finished. ", "bold")]
        if p.halted:  # the store stopped answering: the counts above are the last it gave
            parts += [(p.halted[:1].upper() + p.halted[1:] + ".", "bold red"),
                      " (The counts above are the last the store gave.) "]
        elif unsent:
            parts += [(f"{unsent} rows were not sent", "bold yellow"), " (approved: v pays them, no new orderId). "]
        if end is not None and end.left:
            parts.append(f"{end.left} rows left out as you chose (the editor says why). ")
        parts.append("r: failed and pending rows · t: tokens and results")
        if end is not None and end.warning:
            parts += ["\n", ("Wallet check: ", "bold yellow"), end.warning]
    elif p.paused:
        parts += ["\n", ("PAUSED", "bold reverse yellow"), "  p resumes"]
    elif stopping:
        parts += ["\n", ("STOPPING", "bold reverse yellow"), "  after the rows in flight"]
    if p.waiting and not p.finished:
        parts += ["\n", ("Waiting: ", "bold yellow"), p.waiting]
    return Text.assemble(*parts)


class RunScreen(BatchRowsScreen):
    TITLE = "Run"
    HELP_TEXT = (
        "The batch being paid. Rows appear as they are sent and change as BuyPower answers; the table "
        "follows the newest row until you move the cursor (f follows again). 'sent 40/40' counts rows, each "
        "once; 'N sent again' counts rows sent a second time under the same orderId because BuyPower never "
        "received the first request. p pauses and resumes; s stops after the rows in flight (no request is "
        "ever cut off). Once every row is sent, the pending rows are requeried for a fixed time (each row's "
        "next requery and the time left are shown, counting down); s ends that wait. Leaving this view does "
        "not stop the run: F4 brings it back, and the top bar of every screen shows it. How the run ended "
        "stays here, not in toasts.")
    DEFAULT_CSS = """
    RunScreen #run-wait {
        height: auto;
        padding: 0 1;
        display: none;
    }
    """
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
        self._countdown: Timer | None = None  # once a second, only while the run waits for pending rows

    def compose(self) -> ComposeResult:
        batch = self.app.services.batch(self.batch_id)
        self.title = f"Paying {batch.name}" if batch else "Run"
        yield TopBar(self.title)
        yield Static(id="run-summary", markup=False)
        yield ProgressBar(id="run-bar", show_eta=False)
        yield Static(id="run-errors", markup=False)
        yield Static(id="run-wait", markup=False)
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
        try:
            counts = self.app.services.stats(self.batch_id).by_state
        except store_errors():  # the database stopped answering: the run's last word, not a crash
            counts, store_down = dict(p.counts) if p is not None else {}, True
        else:
            store_down = False
        ended = not self.app.run_active(self.batch_id)
        end = self.app.run_ends.get(self.batch_id) if ended else None
        self.query_one("#run-summary", Static).update(
            summary(p, counts, bool(control and control.stopping), ended, end))
        if p is not None:
            self.query_one(ProgressBar).update(total=max(p.to_send, 1), progress=p.sent)
        elif ended:
            self.query_one(ProgressBar).update(total=1, progress=0)
        errors = list(self.app.run_errors)[-3:]
        self.query_one("#run-errors", Static).update(Text("\n".join(errors), style="red") if errors else "")
        self.count_down()
        if not store_down:
            self.show_run()

    def count_down(self) -> None:
        """The wait for pending rows: time left, each row's next requery and its countdown. A
        clock, not a poll: it reads nothing, and ticks only while the run waits."""
        control = self.app.run_control
        p = self.progress or (control.progress if control is not None and control.batch_id == self.batch_id
                              else None)
        waits = self.app.run_active(self.batch_id) and not (control is not None and control.stopping)
        text = wait_text(p, now()) if waits else None
        panel = self.query_one("#run-wait", Static)
        panel.display = text is not None
        if text is not None:
            panel.update(text)
            if self._countdown is None:
                self._countdown = self.set_interval(1.0, self.count_down)
        elif self._countdown is not None:
            self._countdown.stop()
            self._countdown = None

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
        with contextlib.suppress(store_errors()):  # a store that stopped answering: the rows as last shown
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
