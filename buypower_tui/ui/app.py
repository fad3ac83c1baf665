"""The App: screens, global keys, the command palette, and the long work it owns.

Long work (the lookup now, the run later) belongs to the App, not to a screen: leaving a
screen would cancel its workers.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from buypower_tui.ui.messages import LookupFinished, LookupProgress
from buypower_tui.ui.modals.error import ErrorModal
from buypower_tui.ui.modals.help import HelpModal
from buypower_tui.ui.screens.batches import BatchesScreen
from buypower_tui.ui.screens.editor import EditorScreen
from buypower_tui.ui.screens.settings import SettingsScreen
from buypower_tui.ui.services import Services

log = logging.getLogger("buypower_tui.ui")


class LookupStopped(Exception):
    """The App is closing: the lookup stops after the rows in flight (nothing is paid)."""


class BuyPowerApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "buypower-tui"
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True, id="app.help"),  # priority: works in dialogs too
        Binding("question_mark", "help", "Help", show=False, id="app.help_question"),
        Binding("f2", "settings", "Settings", show=False, id="app.settings"),
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
    ]

    def __init__(self, services: Services, open_batch: int | None = None) -> None:
        super().__init__()
        self.services = services
        self.open_batch = open_batch
        self.undo_stacks: dict[int, list] = {}  # per batch: undo survives leaving the editor
        self.last_folder = Path.cwd()  # where the file picker opens
        self.lookup_done: tuple[int, int] = (0, 0)

    def get_default_screen(self) -> Screen:
        return BatchesScreen()

    def on_mount(self) -> None:
        if self.open_batch is not None:
            self.push_screen(EditorScreen(self.open_batch))

    # -- keys and the palette -------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the current screen is also a command, under its description."""
        yield from super().get_system_commands(screen)
        seen = {"Help", "Settings", "Quit"}
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is not screen or not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            yield SystemCommand(binding.description, f"key: {self.get_key_display(binding)}",
                                partial(screen.run_action, binding.action))
        yield SystemCommand("Help", "keys and help for this screen (F1)", self.action_help)
        yield SystemCommand("Settings", "the API key, mode and where files live (F2)", self.action_settings)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpModal):
            self.push_screen(HelpModal(self.screen))

    def action_settings(self) -> None:
        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen())

    def show_error(self, title: str, text: str) -> None:
        self.push_screen(ErrorModal(title, text))

    # -- the lookup --------------------------------------------------------------------

    def lookup_running(self, batch_id: int | None = None) -> bool:
        return any(w.group == "lookup" and w.is_running and (batch_id is None or w.name == f"lookup {batch_id}")
                   for w in self.workers)

    def start_lookup(self, batch_id: int) -> None:
        if self.lookup_running():
            self.notify("A lookup is already running; wait for it to finish.", severity="warning")
            return
        self.lookup_done = (0, 0)
        self.run_worker(partial(self._lookup, batch_id), name=f"lookup {batch_id}", group="lookup",
                        thread=True, exit_on_error=False)

    def _lookup(self, batch_id: int):
        worker = get_current_worker()

        def on_row(done: int, total: int, row_id: int) -> None:
            if worker.is_cancelled:
                raise LookupStopped()
            self.post_message(LookupProgress(batch_id, done, total, row_id))

        return self.services.lookup(batch_id, on_row)

    def on_lookup_progress(self, message: LookupProgress) -> None:
        self.lookup_done = (message.done, message.total)
        self._to_screens(message)

    def activity(self) -> str:
        """What is running, for the status in every screen's top bar."""
        for worker in self.workers:
            if worker.group == "lookup" and worker.is_running:
                done, total = self.lookup_done
                return f"looking up batch {worker.name.split()[1]}: {done}/{total}" if total else \
                    f"looking up batch {worker.name.split()[1]}"
        return ""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "lookup" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        batch_id = int(worker.name.split()[1])
        if event.state == WorkerState.ERROR and not isinstance(worker.error, LookupStopped):
            log.error("lookup of batch %s stopped", batch_id, exc_info=worker.error)
            self.show_error("The lookup stopped", str(worker.error) or type(worker.error).__name__)
        self._to_screens(LookupFinished(batch_id, worker.result if event.state == WorkerState.SUCCESS else None))

    def _to_screens(self, message) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, EditorScreen) and screen.batch_id == message.batch_id:
                screen.post_message(message)

    # -- never a traceback with locals (the key could be one) ---------------------------------

    def _fatal_error(self) -> None:
        """Textual prints a traceback with local variables; ours says where the log is."""
        log.error("buypower-tui stopped on an unexpected error", exc_info=sys.exc_info()[1] or self._exception)
        self.bell()
        self._exit_renderables.append(
            f"buypower-tui stopped on an unexpected error; details are in {self.services.paths.log_file}")
        self._close_messages_no_wait()
