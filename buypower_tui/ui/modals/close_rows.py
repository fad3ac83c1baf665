"""Close rows that will not be paid (or reopen closed ones): what that means, the rows, and a
note that is required (it is kept in each row's history and shown as the row's status)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.values import from_kobo
from buypower_tui.ui.wording import plural

SHOWN_ROWS = 5  # the dialog must fit 80x24


class CloseRowsModal(ModalScreen[str | None]):
    """Returns the note (Enter or the button), or None (Esc: nothing changes)."""

    TITLE = "Close rows"
    HELP_TEXT = ("A closed row will not be paid: it is never sent, retried or requeried, and does not count as "
                 "failed; a batch whose rows are all paid or closed is done. The note is required: it is kept in "
                 "the row's history and shown as its status. k on a closed row opens it again, as it was. "
                 "Enter closes, Esc leaves the rows as they are.")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="close_rows.cancel")]
    DEFAULT_CSS = """
    #close-rows { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, rows: list[dict[str, Any]], *, reopen: bool = False) -> None:
        super().__init__()
        self.rows, self.reopen = rows, reopen

    def compose(self) -> ComposeResult:
        n = len(self.rows)
        verb = "Reopen" if self.reopen else "Close"
        with Vertical(id="dialog"):
            yield Label(f"{verb} {plural(n, 'row')}? · Enter {verb.lower()}s · Esc cancels", id="dialog-title",
                        markup=False)
            about = ("Each goes back to the state it had before it was closed (FAILED rows can then be retried, "
                     "invalid ones fixed in the editor)." if self.reopen else
                     "They will not be paid: never sent, retried or requeried, and not counted as failed. "
                     "k on a closed row opens it again.")
            yield Static(about, classes="dialog-text", markup=False)
            yield Static(self.listing(), id="close-rows", classes="dialog-text")
            yield Input("", id="close-note", placeholder="why (required), e.g. 'meter under maintenance'"
                        if not self.reopen else "why (required), e.g. 'maintenance over, pay it this month'")
            yield Static("The note is kept in each row's history.", id="close-message", classes="message dim",
                         markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{verb} {plural(n, 'row')}", id="close", variant="warning", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def listing(self) -> Text:
        """The rows, as the view shows them: sheet row, state, meter, amount, why."""
        text = Text()  # one line a row, its reason cut to fit (#close-rows does not wrap)
        for row in self.rows[:SHOWN_ROWS]:
            amount = from_kobo(row["amount_kobo"])
            why = row["provider_message"] or "; ".join(e["message"] for e in row["errors"] or ())
            text.append(f"row {row['row_number']:<5}", style="bold")
            text.append(f" {row['state']:<13} {escape_hidden(row['meter'] or row['meter_raw'] or ''):<13} "
                        f"{'' if amount is None else naira(amount):>12}  ")
            text.append(escape_hidden(why), style="dim")
            text.append("\n")
        if len(self.rows) > SHOWN_ROWS:
            text.append(f"and {plural(len(self.rows) - SHOWN_ROWS, 'more row')}\n", style="dim")
        text.rstrip()
        return text

    def on_mount(self) -> None:
        self.query_one("#close-note", Input).focus()

    def on_input_submitted(self) -> None:
        self.action_close()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "close":
            self.action_close()
        else:
            self.dismiss(None)

    def action_close(self) -> None:
        note = " ".join(self.query_one("#close-note", Input).value.split())
        if not note:
            message = self.query_one("#close-message", Static)
            message.update("A note is required: say why" + (" it is opened again." if self.reopen else
                                                            " these rows will not be paid."))
            message.remove_class("dim")
            return
        self.dismiss(note)
