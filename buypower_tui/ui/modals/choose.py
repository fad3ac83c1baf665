"""Pick one of a few options (the editor's filter)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ChooseModal(ModalScreen[str | None]):
    TITLE = "Choose"
    HELP_TEXT = "Up and down move, Enter chooses, Esc leaves things as they were. The number is how many rows."
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="choose.cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], current: str) -> None:
        super().__init__()
        self.title_text, self.options, self.current = title, options, current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="choose"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            yield OptionList(*(Option(label, id=key) for key, label in self.options), id="choices")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.highlighted = next((i for i, (k, _) in enumerate(self.options) if k == self.current), 0)
        choices.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
