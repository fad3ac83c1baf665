"""One line of text: a batch's new name, a search, a file name."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class PromptModal(ModalScreen[str | None]):
    TITLE = "Type a value"
    HELP_TEXT = "Enter accepts what is typed, Esc cancels."
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, value: str = "", hint: str = "",
                 check: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.title_text, self.value, self.hint, self.check = title, value, hint, check

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            yield Input(self.value, id="prompt-input", select_on_focus=True)
            yield Static(self.hint, id="prompt-message", classes="message", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.check(event.value) if self.check else None
        if problem:
            message = self.query_one("#prompt-message", Static)
            message.update(problem)
            message.add_class("error")
            return
        self.dismiss(event.value)
