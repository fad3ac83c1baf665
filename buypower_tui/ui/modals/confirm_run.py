"""The last question before money moves: what, how much, from which wallet, in which mode.

It takes a deliberate act: typing VEND. A stray Enter (or any other word) never confirms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from buypower_tui.core.rules import naira
from buypower_tui.ui.wording import plural

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.core.plan import RunPlan

WORD = "VEND"


class ConfirmRunModal(ModalScreen[str | None]):
    """Dismisses with "pay", "accept" (plan again accepting the duplicates) or None."""

    TITLE = "Confirm payment"
    HELP_TEXT = (f"Nothing has been paid or changed yet. Type {WORD} and press Enter to approve these rows "
                 "and pay them; Esc cancels. When duplicates wait for your decision, typing ACCEPT includes "
                 "them and runs the check again.")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="confirm_run.cancel")]

    def __init__(self, plan: RunPlan, mode: str, changes: list[str] | None = None) -> None:
        super().__init__()
        self.plan, self.mode, self.changes = plan, mode, changes or []

    def compose(self) -> ComposeResult:
        p = self.plan.preflight
        live = self.mode == "live"
        with Vertical(id="dialog", classes="confirm-run live" if live else "confirm-run"):
            yield Label(Text.assemble(("Pay in ", "bold"), (f" {self.mode.upper()} ", "bold reverse red" if live
                                                               else "bold reverse green"),
                                      (" mode" + (": real money" if live else ": the sandbox, no real money"),
                                       "bold")), id="dialog-title")
            facts = Table.grid(padding=(0, 2))
            facts.add_column(style="bold")
            facts.add_column(justify="right")
            facts.add_row("Rows to send", str(p.count) + (f" ({len(p.resend)} with an orderId already)"
                                                          if p.resend else ""))
            facts.add_row("Total", naira(p.total))
            facts.add_row("Wallet balance", naira(self.plan.balance))
            if live:
                facts.add_row("BuyPower", self.app.services.settings.effective_base_url)
            if p.shortfall:
                facts.add_row(Text("Shortfall", style="bold red"), Text(naira(p.shortfall), style="bold red"))
            if p.unaccepted:
                facts.add_row(Text("Duplicates to decide", style="yellow"),
                              Text(f"{len(p.unaccepted)} (left out unless accepted)", style="yellow"))
            if accepted := self.plan.accepted:  # paid although a duplicate: named, never a bare count
                rows_ = ", ".join(str(p.seen[i][0]) for i in accepted[:8]) + (" …" if len(accepted) > 8 else "")
                facts.add_row(Text("Duplicates accepted", style="yellow"),
                              Text(f"{len(accepted)}: row{'s' if len(accepted) > 1 else ''} {rows_}", style="yellow"))
            if p.name_differs:  # a warning: paid as they are, but the operator should know
                facts.add_row(Text("Names to check", style="yellow"),
                              Text(f"{plural(len(p.name_differs), 'row')}: the name differs from BuyPower's",
                                   style="yellow"))
            if self.plan.retrying:
                facts.add_row("Retried by hand", f"{len(self.plan.retrying)} FAILED rows, under new orderIds")
            if self.changes:
                yield Static(Text("Nothing was paid: since you were asked, " + "; ".join(self.changes)
                                  + ". Here is the plan as it stands now.", style="bold yellow"),
                             id="plan-changed", classes="dialog-text")
            yield Static(facts)
            yield Static(self._notes(), classes="dialog-text", markup=False)
            if (p.count and not p.shortfall) or p.unaccepted:
                hint = f"type {WORD} to pay" + (", ACCEPT to include the duplicates" if p.unaccepted else "")
                yield Input(placeholder=f"{hint}; Esc cancels", id="vend-word")
            yield Static("", id="vend-message", classes="message", markup=False)

    def _notes(self) -> str:
        p, plan = self.plan.preflight, self.plan
        notes = []
        if plan.recovery.found_anything:
            notes.append(f"Recovery first: {plan.recovery.describe()}.")
        if plan.lookup is not None and (plan.lookup.not_found or plan.lookup.out_of_range or plan.lookup.errors):
            notes.append(f"Lookup: {plan.lookup.not_found} not found, {plan.lookup.out_of_range} outside the "
                         f"meter's range, {len(plan.lookup.errors)} not checked: those rows are not paid.")
        notes += [f"Not retried: {why}." for why in plan.not_retried]
        if plan.retrying:
            notes.append("Retrying is safe: BuyPower said each of these rows' earlier order failed, so it took "
                         "no money; the new order gets a new orderId, the old one stays in the history.")
        if p.unaccepted:
            notes.append(f"{plural(len(p.unaccepted), 'row')} pay a meter that appears twice in the batch or was "
                         "paid recently: type ACCEPT to include them (the check runs again), or VEND to pay "
                         "without them.")
        if p.name_differs:
            notes.append("Names to check are paid as they are: BuyPower's customer for the meter shares no word "
                         "with the sheet's name. If a meter number may be wrong, press Esc and look at them in "
                         "the editor (f, \"Name differs\").")
        if p.shortfall:
            notes.append("The wallet cannot pay for all these rows: top it up, or take rows out, then try again.")
        elif not p.count and p.unaccepted:
            notes.append("Nothing to send without your decision: every row ready to pay is a duplicate.")
        elif not p.count:
            notes.append("Nothing to send: no row is verified and waiting.")
        return "\n".join(notes)

    def on_mount(self) -> None:
        box = self.query_one_optional("#vend-word", Input)
        if box is not None:
            box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        word = event.value.strip()
        p = self.plan.preflight
        if word == WORD and p.count and not p.shortfall:
            self.dismiss("pay")
        elif word.upper() == "ACCEPT" and self.plan.preflight.unaccepted:
            self.dismiss("accept")
        else:
            also = ", or ACCEPT to include the duplicates" if p.unaccepted else ""
            self.query_one("#vend-message", Static).update(f"Type {WORD} exactly (capitals) to pay{also}; "
                                                           "Esc cancels.")
