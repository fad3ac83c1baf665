"""One run of a batch in an event loop of its own, steered from outside it.

The TUI starts `run()` in a thread worker and steers it from its UI thread; the CLI runs it
in its main thread and steers it from signal handlers. Either way pause/resume/stop/cut are
handed to the run's loop, and the plan is checked again (and approved) only inside `run()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from buypower_tui.core.models import utcnow
from buypower_tui.core.plan import RunPlan, commit_plan
from buypower_tui.services.operations import Services

if TYPE_CHECKING:
    from buypower_tui.core.money_lock import MoneyLock
    from buypower_tui.core.vending import Progress, Runner, RunResult

# Once every row of a run has been sent, its pending rows are requeried this long, and no
# longer: a row sent again meanwhile (BuyPower never received it) does not start the wait
# again, a requery in flight at its end is given up, and it ends sooner when no pending row is
# due before then (vending.Runner._requery_loop). Only a POST in flight then still ends with
# its answer. The failed/pending view (and start-up recovery) carry on from there. The TUI's
# wait; the CLI's `run --wait-pending` has its own default.
WAIT_PENDING_S = 120.0


class RunCancelled(Exception):
    """Stopped while the plan was checked again, before any row was approved: nothing was paid."""

    def __init__(self) -> None:
        super().__init__("stopped while the plan was checked again, before any row was approved: nothing was paid")


class RunControl:
    """`settle_only`: nothing new is sent; the batch's pending rows are requeried (a run that
    found nothing to pay but rows still pending)."""

    def __init__(self, services: Services, plan: RunPlan, on_progress: Callable[[Progress], None],
                 wait_pending: float = WAIT_PENDING_S, *, settle_only: bool = False) -> None:
        self.services, self.plan, self.on_progress = services, plan, on_progress
        self.wait_pending, self.settle_only = wait_pending, settle_only
        self.batch_id = plan.batch_id
        self.progress: Progress | None = None
        self.runner: Runner | None = None
        self.client = None
        self.retried: list = []  # rows commit sent again under a new orderId (BuyPower said the old one failed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_asked = False
        self._cut_asked = False
        self._commit: asyncio.Future | None = None  # the check of the plan, until the runner starts
        self.finished = threading.Event()  # set when every row of the run is recorded
        self._lock: MoneyLock | None = None  # the batch's, while it runs

    def run(self) -> RunResult:
        """The operator confirmed: check the plan again, approve and pay (PlanChanged when it
        no longer holds: nothing is paid, the face asks again)."""
        try:
            with self.services.money(self.batch_id) as lock:
                self._lock = lock
                return asyncio.run(self._go())
        finally:
            self.finished.set()

    async def _go(self) -> RunResult:
        from buypower_tui.core.vending import Runner, RunOptions  # with the client: when a run starts

        self._loop = asyncio.get_running_loop()
        options = RunOptions(concurrency=self.services.settings.concurrency,
                             requery=self.services.policy.requery, wait_pending=self.wait_pending)
        async with self.services.client() as client:
            self.client = client
            balance, only, read_at = self.plan.balance, frozenset[int](), None
            if not self.settle_only:
                if self._stop_asked:
                    raise RunCancelled()
                # A stop before the runner starts ends the check: nothing is approved. The check
                # approves without awaiting after its wallet read, so it ends before or after it.
                read_at = utcnow()  # commit_plan reads the wallet first: just before it
                self._commit = asyncio.ensure_future(commit_plan(self.services.store, client, self.plan,
                                                                 self.services.policy))
                try:
                    self.retried, balance = await self._commit
                except asyncio.CancelledError:
                    if self._commit.cancelled() and self._stop_asked:
                        raise RunCancelled() from None
                    raise
                only = self.plan.to_send
            # a lock the server let go of (a restart, a cut connection) stops the sending: another
            # process may take the batch now
            self.runner = Runner(self.services.store, client, self.batch_id, options, on_progress=self._progress,
                                 only=only, lock_held=self._lock.held)
            if self._cut_asked:
                self.runner.cut()
            elif self._stop_asked:
                self.runner.stop()
            return await self.runner.run(balance, read_at)

    def _progress(self, progress: Progress) -> None:
        self.progress = progress
        self.on_progress(progress)

    def _call(self, name: str) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._in_loop, name)

    def _in_loop(self, name: str) -> None:
        if self.runner is not None:
            getattr(self.runner, name)()
        elif name in ("stop", "cut") and self._commit is not None:
            self._commit.cancel()  # the wallet read in flight ends now

    def pause(self) -> None:
        self._call("pause")

    def resume(self) -> None:
        self._call("resume")

    def stop(self) -> None:
        """After the rows in flight: no request is cancelled half-way."""
        self._stop_asked = True
        self._call("stop")

    def cut(self) -> None:
        """Now: the requests in flight end at once, their rows stay PENDING and are requeried
        later (never sent again under a new order)."""
        self._stop_asked = self._cut_asked = True
        self._call("cut")

    @property
    def stopping(self) -> bool:
        return self._stop_asked

    @property
    def deadline(self) -> float | None:
        """How long a request in flight may still take, at most (seconds); None before it starts."""
        return self.client.deadline if self.client is not None else None
