"""Start-up recovery: before the first screen takes a key, settle what a crash or a stop
left in flight, and say what was found."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import RecoveryReport



class RecoveryModal(ModalScreen[None]):
    TITLE = "Recovery"
    HELP_TEXT = ("Rows were left SENDING or PENDING (a crash, a stop, a timeout). Before anything else, "
                 "BuyPower is asked about each of them, so nothing is paid twice and no token is lost.")
    BINDINGS = [Binding("escape", "close", "Close", id="recovery.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Recovery: settling rows left in flight", id="dialog-title")
            yield Static("Asking BuyPower about rows a crash or a stop left SENDING or PENDING…",
                         id="recovery-text", markup=False)
            yield ProgressBar(id="recovery-bar", show_eta=False, show_percentage=False)
            yield Button("Close (Esc)", id="close", variant="primary", compact=True, disabled=True)

    def on_mount(self) -> None:
        self.recover()

    @work(thread=True, exit_on_error=False, group="recovery")
    def recover(self) -> None:
        try:
            report = self.app.services.recover()
        except Exception as exc:  # no key, no lock, no network: say so, the app goes on
            self.app.call_from_thread(self.done, None, str(exc) or type(exc).__name__)
            return
        self.app.call_from_thread(self.done, report, None)

    def done(self, report: RecoveryReport | None, error: str | None) -> None:
        self.query_one(ProgressBar).display = False
        text = f"Recovery did not finish: {error}" if report is None else "Recovery: " + report.describe() + "."
        if report is not None and report.requeried.get("NOT_SENT"):
            text += "\nNOT_SENT rows never reached BuyPower: the next run (v) sends them under the same orderId."
        if report is not None and report.not_reached:
            text += "\nRows not reached stay as they are; the failed/pending view (r) can requery them later."
        self.query_one("#recovery-text", Static).update(text)
        close = self.query_one("#close", Button)
        close.disabled = False
        close.focus()
        self.app.refresh_screens()

    def action_close(self) -> None:
        if not self.query_one("#close", Button).disabled:
            self.dismiss()

    def on_button_pressed(self) -> None:
        self.action_close()
