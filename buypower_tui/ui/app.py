"""The App: screens and modes, global keys, the command palette. How it starts (its first
frame before the store) is in `start.py`; the long work it owns (lookup, planning, the run,
requeries, changes to rows) is in `jobs.py`: leaving a screen cancels that screen's
workers, so a run must never belong to one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

from buypower_tui.logs import mask_message
from buypower_tui.services.context import Context
from buypower_tui.ui.jobs import JobsMixin
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.error import ErrorModal
from buypower_tui.ui.modals.help import HelpModal
from buypower_tui.ui.modals.recovery import RecoveryModal
from buypower_tui.ui.screens.batches import BatchesScreen
from buypower_tui.ui.screens.editor import EditorScreen
from buypower_tui.ui.screens.health import HealthScreen
from buypower_tui.ui.screens.report import ReportScreen
from buypower_tui.ui.screens.run import RunScreen
from buypower_tui.ui.screens.settings import SettingsScreen
from buypower_tui.ui.start import StartMixin

if TYPE_CHECKING:
    from buypower_tui.services import Services

log = logging.getLogger("buypower_tui.ui")


class BuyPowerApp(StartMixin, JobsMixin, App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "buypower-tui"
    MODES = {"main": BatchesScreen, "health": HealthScreen}  # the dashboard never pops the run's screens
    DEFAULT_MODE = "main"
    activity_text: reactive[str] = reactive("")  # what the App's jobs are doing (JobsMixin.show_activity)
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True, id="app.help"),  # priority: works in dialogs too
        Binding("question_mark", "help", "Help", show=False, id="app.help_question"),
        Binding("f2", "settings", "Settings", show=False, id="app.settings"),
        Binding("f3", "health", "Health", show=False, id="app.health"),
        Binding("f4", "run_view", "Run view", show=False, id="app.run_view"),
        Binding("f5", "report", "Report", show=False, id="app.report"),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
    ]

    def __init__(self, services: Services | Context, open_batch: int | None = None, *, recover: bool = True) -> None:
        """`services`, or a Context whose store is opened after the first frame (see start.py)."""
        super().__init__()
        self.services = None if isinstance(services, Context) else services
        self.ctx = services if isinstance(services, Context) else services.ctx
        self.open_batch = open_batch
        self.recover_at_start = recover
        self.last_folder = Path.cwd()  # where the file picker opens
        self.init_jobs()

    def started(self) -> None:
        """The store is open: say what opening it did, and settle what a crash left."""
        done = self.services.upgraded
        if done is not None and done.before is not None:
            self.notify(done.describe() + ".", title="Store upgraded", timeout=15, markup=False)
        for notice in self.ctx.loaded.notices:  # stderr is hidden under the full screen
            self.notify(notice, title="Setting no longer used", severity="warning", timeout=20, markup=False)
        if self.open_batch is not None:
            self.open_screen(EditorScreen(self.open_batch))
        if self.recover_at_start and self.services.needs_recovery():
            self.push_screen(RecoveryModal())  # before the first screen takes a key

    # -- keys and the palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the current screen is also a command, under its description."""
        yield from super().get_system_commands(screen)
        seen = {"Help", "Settings", "Quit", "Health", "Run view", "Report"}
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is not screen or not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            yield SystemCommand(binding.description, f"key: {self.get_key_display(binding)}",
                                partial(screen.run_action, binding.action))
        yield SystemCommand("Help", "keys and help for this screen (F1)", self.action_help)
        yield SystemCommand("Settings", "the API key, mode and where files live (F2)", self.action_settings)
        yield SystemCommand("Health", "the health dashboard (F3)", self.action_health)
        yield SystemCommand("Run view", "the batch being paid (F4)", self.action_run_view)
        yield SystemCommand("Report", "the month on one page: per disco, batch or column, with charts (F5)",
                            self.action_report)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpModal):
            self.push_screen(HelpModal(self.screen))

    def action_settings(self) -> None:
        if not self.store_opening() and not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen())

    def action_health(self) -> None:
        if self.store_opening():  # the start-up recovery must come in front of the batches, in "main"
            return
        self.switch_mode("main" if self.current_mode == "health" else "health")

    def action_run_view(self) -> None:
        if self.run_control is None:
            self.notify("No batch has been paid in this session.", severity="warning")
            return
        if self.current_mode != "main":
            self.switch_mode("main")
        if not isinstance(self.screen, RunScreen):
            self.open_screen(RunScreen(self.run_control.batch_id))

    def action_report(self) -> None:
        if not self.store_opening() and not isinstance(self.screen, ReportScreen):
            self.open_screen(ReportScreen())

    def open_screen(self, screen: Screen) -> None:
        """Show a batch's screen: the one already open for that batch (the screens above it
        closed), else this new one. Going editor → run → results → failed → results … piled
        up screens that Esc then had to close one by one (9 presses back to the batches)."""
        stack = self.screen_stack
        for depth, open_ in enumerate(reversed(stack)):
            if isinstance(open_, ModalScreen):
                break  # never close a dialog that waits for an answer
            if type(open_) is type(screen) and getattr(open_, "batch_id", None) == getattr(screen, "batch_id", None):
                for _ in range(depth):
                    self.pop_screen()
                return
        self.push_screen(screen)

    def show_error(self, title: str, text: str) -> None:
        self.push_screen(ErrorModal(title, text))

    def notify(self, message: str, *, title: str = "", **kwargs) -> None:
        """Every toast, from any screen, goes through the log's masking (Widget.notify comes here)."""
        super().notify(mask_message(message), title=mask_message(title), **kwargs)

    def _to_editors(self, message) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, EditorScreen) and screen.batch_id == message.batch_id:
                screen.post_message(message)

    def hang_up(self) -> None:
        """The terminal is gone (SIGHUP) or the system stops us (SIGTERM): stop the run after
        the rows in flight, stop any check or lookup, and leave."""
        self.quit_after_run = self.leaving = True
        if self.services is not None:
            self.services.stop_reads()
        if self.run_control is not None:
            self.run_control.stop()
        for worker in self.workers:
            worker.cancel()  # a lookup or a check stops at its next row; the run's thread goes on to its stop
        self.exit(return_code=129)

    async def action_quit(self) -> None:
        """During a run: ask, then stop after the rows in flight and quit when they are settled."""
        if not self.run_active():
            self.leaving = True
            if self.services is not None:
                self.services.stop_reads()  # a lookup or requery in a worker would hold the exit for its deadline
            self.exit()
            return

        def answer(yes: bool | None) -> None:
            if yes and self.run_control is not None:
                self.quit_after_run = True
                self.run_control.stop()
                self.notify("Stopping after the rows in flight; buypower-tui closes when they are recorded.")

        self.push_screen(ConfirmModal("A batch is being paid", "Stop after the rows in flight and quit? "
                                      "Rows not yet sent stay approved and are sent by the next run.",
                                      yes="Stop and quit"), answer)

    # -- never a traceback with locals (the key could be one) ---------------------------------

    def _fatal_error(self) -> None:
        """Textual prints a traceback with local variables; ours says where the log is."""
        log.error("buypower-tui stopped on an unexpected error", exc_info=sys.exc_info()[1] or self._exception)
        self.bell()
        self._exit_renderables.append(
            f"buypower-tui stopped on an unexpected error; details are in {self.ctx.paths.log_file}")
        self._close_messages_no_wait()
