"""One run of a batch, in a thread with its own event loop, steered from the UI thread.

Not a Textual worker body of its own: the App starts `run()` in a thread worker and calls
pause/resume/stop from its event loop, which hand the call to the run's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from buypower_tui.core.plan import RunPlan, commit_plan
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.vending import Progress, Runner, RunOptions, RunResult
from buypower_tui.ui.services import Services

# After the last POST, pending rows are requeried this long before the run reports; the
# failed/pending view (and start-up recovery) carry on from there.
WAIT_PENDING_S = 120.0


class RunControl:
    def __init__(self, services: Services, plan: RunPlan, on_progress: Callable[[Progress], None],
                 wait_pending: float = WAIT_PENDING_S) -> None:
        self.services, self.plan, self.on_progress = services, plan, on_progress
        self.wait_pending = wait_pending
        self.batch_id = plan.batch_id
        self.progress: Progress | None = None
        self.runner: Runner | None = None
        self.client = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_asked = False
        self.finished = threading.Event()  # set when every row of the run is recorded

    def run(self) -> RunResult:
        """In a worker thread: the operator confirmed, so check the plan again, approve and pay
        (PlanChanged when it no longer holds: nothing is paid, the App asks again)."""
        try:
            with self.services.money_lock():
                return asyncio.run(self._go())
        finally:
            self.finished.set()

    async def _go(self) -> RunResult:
        self._loop = asyncio.get_running_loop()
        s = self.services.settings
        options = RunOptions(concurrency=s.concurrency, requery=RequeryPolicy.from_settings(s),
                             wait_pending=self.wait_pending)
        async with self.services.client() as client:
            self.client = client
            _, balance = await commit_plan(self.services.store, client, self.plan, self.services.policy)
            self.runner = Runner(self.services.store, client, self.batch_id, options, on_progress=self._progress,
                                 only=self.plan.to_send)
            if self._stop_asked:
                self.runner.stop()
            return await self.runner.run(balance)

    def _progress(self, progress: Progress) -> None:
        self.progress = progress
        self.on_progress(progress)

    def _call(self, name: str) -> None:
        if self._loop is not None and self.runner is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(getattr(self.runner, name))

    def pause(self) -> None:
        self._call("pause")

    def resume(self) -> None:
        self._call("resume")

    def stop(self) -> None:
        """After the rows in flight: no request is cancelled half-way."""
        self._stop_asked = True
        self._call("stop")

    @property
    def stopping(self) -> bool:
        return self._stop_asked
