"""The long work the App owns: lookup, planning, the run, recovery and requeries.

A mixin of the App (workers need a DOM node, and the run must outlive every screen). Each
job is a thread worker running a Services call in an event loop of its own; results and
errors come back in one `on_worker_state_changed`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Literal, TypeVar

from textual.worker import Worker, WorkerState, get_current_worker

from buypower_tui import services as layer
from buypower_tui.core.money_lock import MoneyLockError
from buypower_tui.core.run_progress import StoreUnavailable
from buypower_tui.core.times import clock_time
from buypower_tui.ui.messages import JobDone, LookupFinished, LookupProgress, RowsChanged, RunProgress
from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
from buypower_tui.ui.screens.run import RunScreen

if TYPE_CHECKING:
    from buypower_tui.services import Progress, RunControl, RunPlan, RunResult

log = logging.getLogger("buypower_tui.ui")
T = TypeVar("T")
END_TOAST_S = 4.0  # the one toast at the end of a run: the run view keeps what it says


@dataclass(frozen=True)
class RunEnd:
    """What a run's end says, kept for the run view (F4) instead of toasts over other screens."""

    title: str  # "Run finished" or "Run stopped"
    facts: str  # counts by state, rows not sent, rows left out (the toast's text)
    left: int = 0  # rows the operator chose to leave out (duplicates skipped, over --max-total or the wallet)
    warning: str | None = None  # the wallet check, when pending rows may explain it


class LookupStopped(Exception):
    """The App is closing: the lookup stops after the rows in flight (nothing is paid)."""


JobKind = Literal["lookup", "plan", "run", "requery", "change"]


@dataclass(frozen=True)
class Job:
    """What one of the App's workers does, and for which batch."""

    kind: JobKind
    batch_id: int


class JobsMixin:
    run_control: RunControl | None = None
    quit_after_run = False
    wait_pending_s: float | None = None  # how long a run requeries its pending rows at the end (None: the default)

    def init_jobs(self) -> None:
        self.lookup_done: tuple[int, int] = (0, 0)
        self.run_errors: deque[str] = deque(maxlen=5)
        self.run_ends: dict[int, RunEnd] = {}  # batch id -> how its last run in this session ended
        self.jobs: dict[Worker, Job] = {}

    def busy(self, kind: JobKind, batch_id: int | None = None) -> bool:
        return any(job.kind == kind and not worker.is_finished and (batch_id is None or job.batch_id == batch_id)
                   for worker, job in list(self.jobs.items()))

    def lookup_running(self, batch_id: int | None = None) -> bool:
        return self.busy("lookup", batch_id)

    def run_active(self, batch_id: int | None = None) -> bool:
        return self.busy("run", batch_id)

    def activity(self) -> str:
        """What is running, for the status in every screen's top bar."""
        if self.run_active() and self.run_control is not None:
            p, b = self.run_control.progress, self.run_control.batch_id
            if p is None:
                return f"paying batch {b}"
            state = " paused" if p.paused else " stopping" if self.run_control.stopping else ""
            if p.wait_ends_at is not None and not state:  # the run view counts down; the bar has no clock
                return (f"paying batch {b}: {p.sent}/{p.to_send} sent, requerying "
                        f"{p.counts.get('PENDING', 0)} pending until {clock_time(p.wait_ends_at.timestamp())}")
            return f"paying batch {b}: {p.sent}/{p.to_send}{state}"
        if self.busy("plan"):
            return "checking before paying (recovery, lookup, wallet)"
        if self.lookup_running():
            done, total = self.lookup_done
            return f"looking up: {done}/{total}" if total else "looking up"
        if self.busy("requery"):
            return "requerying"
        return ""

    def _job(self, kind: JobKind, batch_id: int, work) -> None:
        worker = self.run_worker(work, name=f"{kind} {batch_id}", group=kind, thread=True, exit_on_error=False)
        self.jobs[worker] = Job(kind, batch_id)
        self.show_activity()

    def show_activity(self) -> None:
        """Every top bar watches `activity_text`: it changes when a job starts, moves or ends."""
        self.activity_text = self.activity()

    # -- changes to the store: never on the UI thread --------------------------------------------

    def change(self, batch_id: int, work: Callable[[], T], done: Callable[[T], None] | None = None, *,
               refused: str = "Nothing was changed") -> None:
        """A write to the store (through the application layer) in a thread worker; `done` gets
        its answer back on the UI thread. A change the rows no longer allow (StateConflict,
        ValueError) is shown under `refused`, with the reason."""

        def go() -> None:
            try:
                result = work()
            except (layer.StateConflict, ValueError, MoneyLockError) as exc:
                self.call_from_thread(self.show_error, refused, str(exc))
                return
            self.call_from_thread(self._changed, batch_id, done, result)

        self._job("change", batch_id, go)

    def _changed(self, batch_id: int, done, result) -> None:
        if done is not None:
            done(result)
        for screen in self.screen_stack:
            screen.post_message(RowsChanged(batch_id))

    # -- lookup ------------------------------------------------------------------------------

    def start_lookup(self, batch_id: int) -> None:
        if self.lookup_running() or self.run_active() or self.busy("plan"):
            self.notify("Wait for the lookup or run in progress to finish.", severity="warning")
            return
        self.lookup_done = (0, 0)
        self._job("lookup", batch_id, partial(self._lookup, batch_id))

    def _lookup(self, batch_id: int):
        worker = get_current_worker()

        def on_row(done: int, total: int, row_id: int) -> None:
            if worker.is_cancelled:
                raise LookupStopped()
            self.lookup_done = (done, total)
            self.post_message(LookupProgress(batch_id, done, total, row_id))

        return self.services.lookup(batch_id, on_row)

    def on_lookup_progress(self, message: LookupProgress) -> None:
        self.show_activity()
        self._to_editors(message)

    def on_run_progress(self, message: RunProgress) -> None:
        self.show_activity()
        for screen in self.screen_stack:  # those of another batch ignore it
            screen.post_message(RunProgress(message.batch_id, message.progress))

    # -- paying ------------------------------------------------------------------------------

    def pay(self, batch_id: int, *, retrying: tuple[int, ...] = (), accepting: frozenset[int] = frozenset()) -> None:
        """Plan (recovery, lookup, wallet, pre-flight), then ask; nothing moves before the answer."""
        if self.run_active() or self.busy("plan") or self.lookup_running():
            self.notify("Wait for the run, check or lookup in progress to finish (F4 shows the run; s there ends "
                        "its wait for pending rows).", severity="warning")
            return
        self.notify("Checking: recovery, meter lookup, wallet, duplicates…")
        self._job("plan", batch_id, partial(self._plan, batch_id, accepting, retrying))

    def _plan(self, batch_id: int, accepting: frozenset[int], retrying: tuple[int, ...]) -> RunPlan:
        worker = get_current_worker()

        def on_row(*_: int) -> None:
            if worker.is_cancelled:  # the App is closing: stop looking up (nothing is paid)
                raise LookupStopped()

        return self.services.plan(batch_id, accepting=accepting, retrying=retrying, on_row=on_row)

    def _planned(self, plan: RunPlan, changes: list[str] | None = None) -> None:

        def answer(choice: str | None) -> None:
            if choice == "pay":
                self.start_run(plan)
            elif choice == "skip":  # the duplicates stay unpaid and say why (checked again like VEND)
                self.start_run(replace(plan, skipping=True))
            elif choice == "fit" and (fitted := plan.fitted()) is not None:  # as the dialog showed it
                self.start_run(fitted)
            elif choice == "accept":
                # exactly the duplicates the dialog showed (and those accepted before): one that
                # turns up only now is shown and asked about again, never paid unseen
                shown = frozenset(plan.preflight.unaccepted) | (plan.accepting or frozenset())
                self.pay(plan.batch_id, retrying=plan.retry_asked, accepting=shown)

        self.push_screen(ConfirmRunModal(plan, self.services.mode, changes), answer)

    def _plan_changed(self, changed: layer.PlanChanged) -> None:
        """Checked again at VEND, the plan no longer held: nothing was paid; show it as it is
        now, with what changed, and ask again."""

        self.run_control = None
        if isinstance(self.screen, RunScreen):
            self.pop_screen()
        self._planned(changed.plan, changed.changes)

    def start_run(self, plan: RunPlan) -> None:

        self.run_errors.clear()
        self.run_ends.pop(plan.batch_id, None)

        def on_progress(p: Progress) -> None:  # the run's thread: plain assignments and a message
            if p.last_error and (not self.run_errors or self.run_errors[-1] != p.last_error):
                self.run_errors.append(p.last_error)
            self.post_message(RunProgress(plan.batch_id, p))

        waits = {} if self.wait_pending_s is None else {"wait_pending": self.wait_pending_s}
        self.run_control = layer.RunControl(self.services, plan, on_progress, **waits)
        self._job("run", plan.batch_id, self.run_control.run)
        self.open_screen(RunScreen(plan.batch_id))

    def _ran(self, result: RunResult, batch_id: int) -> None:
        """The run's end goes into the run view (F4), not into toasts: at most one short toast,
        and none while the run view of the batch is on screen (it says the same). An error, or
        a wallet difference no pending row explains, opens the error modal (it stays)."""
        c = self.services.stats(batch_id).by_state  # the progress event may be a little behind
        unsent = c.get("APPROVED", 0) + c.get("NOT_SENT", 0)
        plan = self.run_control.plan if self.run_control is not None else None
        left = len(plan.skipped) + len(plan.preflight.left_out_by_max_total) if plan is not None else 0
        facts = (f"Batch {batch_id}: {c.get('SUCCESS', 0)} paid, {c.get('FAILED', 0)} failed, "
                 f"{c.get('PENDING', 0)} pending" + (f", {unsent} not sent (v sends them)" if unsent else "")
                 + (f", {left} left out as you chose (the editor says why)" if left else "") + ".")
        problems = [x for x in (result.error, result.reconciliation) if x]
        for problem in problems:
            log.warning("run of batch %s: %s", batch_id, problem)
        if self.quit_after_run:  # the operator is leaving: the log keeps the problems
            self.exit()
            return
        unsettled = sum(c.get(s, 0) for s in ("PENDING", "SENDING", "NEEDS_REVIEW"))
        warning = None
        if result.reconciliation and unsettled and not result.error:  # pending rows may explain it
            warning = result.reconciliation + ". Requery the pending rows (r) and look again."
        end = RunEnd("Run stopped" if unsent else "Run finished", facts, left, warning)
        self.run_ends[batch_id] = end
        if result.error or (result.reconciliation and not unsettled):
            self.show_error("The run needs your attention", "\n\n".join(problems))
        elif not (isinstance(self.screen, RunScreen) and self.screen.batch_id == batch_id):
            self.notify(facts + (" Wallet check: see the run view (F4)." if warning else " F4 shows the run."),
                        title=end.title, severity="warning" if warning else "information",
                        timeout=END_TOAST_S, markup=False)

    # -- requery -----------------------------------------------------------------------------

    def requery(self, batch_id: int, row_ids: list[int]) -> None:
        if self.run_active() or self.busy("requery"):
            self.notify("The run (or a requery) is still asking BuyPower about these rows; wait for it, or "
                        "press s in the run view (F4) to end the run's wait.", severity="warning")
            return
        self._job("requery", batch_id, partial(self.services.requery, row_ids))

    # -- results of every job ----------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        job = self.jobs.get(worker)
        if job is None or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        del self.jobs[worker]
        self.show_activity()
        if event.state == WorkerState.CANCELLED:
            return
        batch_id = job.batch_id
        if event.state == WorkerState.ERROR:
            error = worker.error
            if isinstance(error, layer.PlanChanged) and not self.quit_after_run:
                self._plan_changed(error)
            elif not isinstance(error, LookupStopped) and not self.quit_after_run:
                log.error("%s of batch %s stopped", job.kind, batch_id, exc_info=error)
                titles = {"lookup": "The lookup stopped", "plan": "Nothing was paid",
                          "run": "The run stopped", "requery": "The requery stopped",
                          "change": "The change was not saved"}
                self.show_error(titles[job.kind], str(error) or type(error).__name__)
            if job.kind == "run" and self.quit_after_run:
                self.exit()
        elif job.kind == "plan":
            self._planned(worker.result)
        elif job.kind == "run":
            self._ran(worker.result, batch_id)
        elif job.kind == "requery":
            report = worker.result
            self.notify("Requeried: " + (", ".join(f"{n} now {k}" for k, n in sorted(report.requeried.items()))
                                         or "nothing") + "".join(f"; {x}" for x in report.not_reached),
                        title="Requery", markup=False)
        if job.kind == "lookup":
            self._to_editors(LookupFinished(batch_id, worker.result if event.state == WorkerState.SUCCESS else None))
        if event.state == WorkerState.ERROR and isinstance(worker.error, StoreUnavailable):
            # the database stopped answering: the run view keeps the run's last word; the other
            # screens are not told to read again now (from a store that does not answer)
            for screen in self.screen_stack:
                if isinstance(screen, RunScreen):
                    screen.post_message(JobDone(job.kind, batch_id))
        elif job.kind != "change":  # a change's `done` shows its own rows: no screen reads every row again
            self.refresh_screens(JobDone(job.kind, batch_id))

    def refresh_screens(self, done: JobDone | None = None) -> None:
        """Every screen hears that a job ended; those that show rows read them again."""
        for screen in self.screen_stack:
            screen.post_message(JobDone(done.kind, done.batch_id) if done else JobDone())

