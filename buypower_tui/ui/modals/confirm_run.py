"""The last question before money moves: what, how much, from which wallet, in which mode.

It takes a deliberate act: typing VEND (SKIP: pay without the duplicates that wait for a
decision; FIT: pay the rows the wallet holds). A stray Enter (or any other word) never confirms.
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

WORD, SKIP, FIT = "VEND", "SKIP", "FIT"
SHOWN_DUPLICATES = 5  # the duplicates named one by one in the dialog; the rest are counted


class ConfirmRunModal(ModalScreen[str | None]):
    """Dismisses with "pay", "skip" (pay without the duplicates that wait for a decision), "fit"
    (pay the rows the wallet holds: `plan.fitted()`), "accept" (plan again accepting the
    duplicates) or None. Whatever is paid, the plan is checked again first (under the money lock)."""

    TITLE = "Confirm payment"
    HELP_TEXT = (f"Nothing has been paid or changed yet. Type {WORD} and press Enter to approve these rows "
                 f"and pay them; Esc cancels. When duplicates wait for your decision, typing {SKIP} pays the "
                 "other rows without them (they stay unpaid and say why), ACCEPT includes them and runs the "
                 f"check again. When the wallet holds less than the total, typing {FIT} pays the rows that "
                 "fit, in sheet order, and names those left out. The plan is checked again before anything "
                 "is approved. With approval = \"two-person\" the dialog says who prepared the batch (imported or "
                 "edited it): they cannot confirm it; an operator who prepared no part of it must.")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="confirm_run.cancel")]

    def __init__(self, plan: RunPlan, mode: str, changes: list[str] | None = None) -> None:
        super().__init__()
        self.plan, self.mode, self.changes = plan, mode, changes or []
        self.fits = plan.fitted()  # "pay what fits", when the wallet is short
        self.refusal: str | None = None  # two-person approval: why this operator may not confirm it

    def compose(self) -> ComposeResult:
        p = self.plan.preflight
        live = self.mode == "live"
        services = self.app.services
        if services.two_person:  # a read of one row: on the UI thread, as every read
            self.refusal = services.approval_problem(self.plan)
        with Vertical(id="dialog", classes="confirm-run live" if live else "confirm-run"):
            yield Label(Text.assemble(("Pay in ", "bold"), (f" {self.mode.upper()} ", "bold reverse red" if live
                                                               else "bold reverse green"),
                                      (" mode" + (": real money" if live else ": the sandbox, no real money"),
                                       "bold")), id="dialog-title")
            facts = Table.grid(padding=(0, 2))
            facts.add_column(style="bold")
            facts.add_column(justify="right")
            facts.add_row("Rows to send", str(p.count) + _resend_text(p.resend, self.plan.retrying))
            facts.add_row("Total", naira(p.total))
            facts.add_row("Wallet balance", naira(self.plan.balance))
            if live:
                facts.add_row("BuyPower", services.settings.effective_base_url)
            if services.two_person:
                who = services.preparer(self.plan.batch_id)
                facts.add_row("Prepared by", Text(who.describe() if who else "nobody recorded",
                                                  style="bold red" if self.refusal else ""))
            if p.shortfall:
                facts.add_row(Text("Shortfall", style="bold red"), Text(naira(p.shortfall), style="bold red"))
            if self.fits is not None:
                f = self.fits.preflight
                facts.add_row(Text("Pay what fits", style="bold"), f"{plural(f.count, 'row')}, {naira(f.total)}")
            for cut in (self.fits, self.plan):  # rows left out: of what fits, or of a plan already cut
                if cut is not None and (left := cut.preflight.left_out_by_max_total):
                    facts.add_row(Text("Left out", style="yellow"),
                                  Text(f"{plural(len(left), 'row')}, {naira(cut.preflight.amount_of(left))}: "
                                       + cut.preflight.sheet_rows(left, 8), style="yellow"))
                    break
            if (after := self.plan.low_wallet_after) is not None:
                facts.add_row(Text("Wallet after", style="yellow"),
                              Text(f"{naira(after)}, below the low-wallet threshold "
                                   f"{naira(self.plan.low_wallet_threshold)}", style="yellow"))
            if p.unaccepted:
                facts.add_row(Text("Duplicates to decide", style="yellow"),
                              Text(f"{len(p.unaccepted)} (left unpaid unless accepted)", style="yellow"))
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
            if self.refusal:  # no word is asked for: this operator cannot pay it
                yield Static(Text(f"You cannot confirm this: {self.refusal}.", style="bold red"),
                             id="approval-refused", classes="dialog-text")
            yield Static(self._notes(), classes="dialog-text", markup=False)
            with Vertical(id="vend-answer"):  # docked: in a small terminal the plan scrolls above it
                if choices := self._choices():
                    yield Input(placeholder=f"type {', '.join(choices)}; Esc cancels", id="vend-word")
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
            without = SKIP if not p.shortfall else FIT if self.fits is not None else None
            notes.append(f"{plural(len(p.unaccepted), 'row')} pay a meter that appears twice in the batch or was "
                         "paid recently: type ACCEPT to include them (the check runs again)"
                         + (f", or {without} to pay without them (they stay unpaid, and say why in the editor):"
                            if without else ":"))
            named = [i for i in p.unaccepted if i in p.seen]
            notes += [f"- {self._duplicate(i)}" for i in named[:SHOWN_DUPLICATES]]
            if len(named) > SHOWN_DUPLICATES:
                notes.append(f"- … and {len(named) - SHOWN_DUPLICATES} more")
        if p.name_differs:
            notes.append("Names to check are paid as they are: BuyPower's customer for the meter shares no word "
                         "with the sheet's name. If a meter number may be wrong, press Esc and look at them in "
                         "the editor (f, \"Name differs\").")
        if p.shortfall and self.fits is not None:
            notes.append(f"The wallet cannot pay for all these rows: type {FIT} to pay those that fit, in sheet "
                         "order (the rows left out stay unpaid, say why, and are paid by a later run), or top "
                         "it up and try again.")
        elif p.shortfall:
            notes.append("The wallet cannot pay for all these rows: top it up, or take rows out, then try again.")
        elif not p.count and p.unaccepted:
            notes.append("Nothing to send without your decision: every row ready to pay is a duplicate.")
        elif not p.count:
            notes.append("Nothing to send: no row is verified and waiting.")
        return "\n".join(notes)

    def _duplicate(self, row_id: int) -> str:
        p = self.plan.preflight
        number, meter = p.seen[row_id][:2]
        return f"row {number}, meter {meter}: {p.why.get(row_id, 'a duplicate')}"

    def _choices(self) -> list[str]:
        """What may be typed now, each with what it does (the placeholder and the reminder say them)."""
        p, n = self.plan.preflight, len(self.plan.preflight.unaccepted)
        choices = []
        if self.refusal:  # two-person approval: another operator must confirm it
            return choices
        if p.count and not p.shortfall:
            choices.append(f"{SKIP} to pay without the {plural(n, 'duplicate')}" if n else f"{WORD} to pay")
        if self.fits is not None:
            choices.append(f"{FIT} to pay the {plural(self.fits.preflight.count, 'row')} that fit")
        if n:
            choices.append("ACCEPT to include the duplicates")
        return choices

    def on_mount(self) -> None:
        box = self.query_one_optional("#vend-word", Input)
        if box is not None:
            box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        word = event.value.strip()
        p = self.plan.preflight
        if self.refusal:
            return
        if word in (WORD, SKIP) and p.count and not p.shortfall and (word == WORD or p.unaccepted):
            self.dismiss("skip" if p.unaccepted else "pay")  # VEND never pays a duplicate either
        elif word == FIT and self.fits is not None:
            self.dismiss("fit")
        elif word.upper() == "ACCEPT" and self.plan.preflight.unaccepted:
            self.dismiss("accept")
        else:
            choices = self._choices()
            said = ("Type exactly: " + ", or ".join(choices)) if choices else "Nothing can be paid now"
            self.query_one("#vend-message", Static).update(f"{said}; Esc cancels.")


def _resend_text(resend: list[int], retrying: tuple[int, ...]) -> str:
    """Which rows are not new: a FAILED row retried gets a new orderId (BuyPower said its order
    failed), a row stopped after approval is sent under the orderId it has."""
    retried = len(set(resend) & set(retrying))
    kept = len(resend) - retried
    parts = ([f"{retried} retried under new orderIds"] if retried else []) + (
        [f"{kept} under the orderId {'it has' if kept == 1 else 'they have'} already"] if kept else [])
    return f" ({'; '.join(parts)})" if parts else ""
