"""`R` on the batches screen: the new batch's name and an optional change of every amount."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from buypower_tui.ui.wording import plural


class RepeatModal(ModalScreen[tuple[str, str] | None]):
    """Answers (name, amount change: "" keeps the amounts) or None (cancelled)."""

    TITLE = "Repeat a batch"
    HELP_TEXT = (
        "A new batch with the same recipients: what the sheet said (meter, disco, amount, phone, vend type, name, "
        "email) and its other columns, checked again by today's rules. Nothing of the payments is carried: no "
        "orderId, token, lookup or state, and duplicates are asked about again. Amount: empty keeps each row's, "
        "5000 pays that to every row, +10% or -5% changes each row's amount (rounded half-up to the naira). "
        "Rows closed in the old batch are left out. \"Paid recently\" names its meters paid within the duplicate "
        "window (duplicate_window_days): a run asks again only about the same meter and amount, so a new amount "
        "would pay them again unasked. Enter makes the batch, Esc cancels.")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="repeat.cancel")]

    def __init__(self, batch_id: int, name: str, rows: int, new_name: str,
                 check: Callable[[str], str | None], *, closed: int = 0, recent: str | None = None) -> None:
        """`rows`: the rows the new batch gets; `closed`: the source's closed rows, left out;
        `recent`: a warning that some of its meters were paid within the duplicate window."""
        super().__init__()
        self.batch_id, self.source_name, self.rows, self.new_name, self.check = batch_id, name, rows, new_name, check
        self.closed, self.recent = closed, recent

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"New batch from batch {self.batch_id} · Enter makes it · Esc cancels", id="dialog-title",
                        markup=False)
            left_out = f" ({plural(self.closed, 'closed row')} left out)" if self.closed else ""
            yield Static(f"The {plural(self.rows, 'row')} of “{self.source_name}”{left_out}, checked again by today's "
                         "rules; no orderId, token, lookup or state is carried, and duplicates are asked again.",
                         classes="dialog-text", markup=False)
            if self.recent:  # the run asks only about the same meter AND amount: said before Enter
                yield Static(Text.assemble(("Paid recently: ", "bold yellow"), (self.recent, "yellow")),
                             id="repeat-recent", classes="dialog-text")
            with Grid(id="fields"):
                yield Label("Name", classes="field-label")
                with Vertical(classes="field"):
                    yield Input(self.new_name, id="repeat-name", select_on_focus=False)
                    yield Static("", id="repeat-name-message", classes="message", markup=False)
                yield Label("Amount", classes="field-label")
                with Vertical(classes="field"):
                    yield Input("", id="repeat-amount",
                                placeholder="as they were; or 5000 for all, +10% or -5% of each")
                    yield Static("", id="repeat-amount-message", classes="message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Make batch", id="make", variant="primary", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._show("name", "")
        self._show("amount", "")
        self.query_one("#repeat-name", Input).focus()

    def _show(self, which: str, problem: str | None) -> None:
        message = self.query_one(f"#repeat-{which}-message", Static)
        message.update(problem or "")
        message.display = bool(problem)  # no empty lines: the dialog must fit 80x24

    def _problems(self) -> tuple[str | None, str | None]:
        name, amount = self.query_one("#repeat-name", Input).value, self.query_one("#repeat-amount", Input).value
        return (None if name.strip() else "A batch needs a name; type one."), self.check(amount)

    def on_input_changed(self) -> None:
        for which, problem in zip(("name", "amount"), self._problems(), strict=True):
            self._show(which, problem)

    def on_input_submitted(self) -> None:
        self.action_make()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "make":
            self.action_make()
        else:
            self.dismiss(None)

    def action_make(self) -> None:
        problems = self._problems()
        if any(problems):
            self.on_input_changed()
            return
        self.dismiss((self.query_one("#repeat-name", Input).value.strip(),
                      self.query_one("#repeat-amount", Input).value.strip()))
