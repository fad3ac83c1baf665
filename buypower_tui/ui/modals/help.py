"""F1: what this screen is for and every key it answers to."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static


def key_table(screen: Screen) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or binding.description in seen or active.node is not screen and \
                active.node is not screen.app:
            continue
        seen.add(binding.description)
        table.add_row(Text(binding.key_display or screen.app.get_key_display(binding)), Text(binding.description))
    return table


class HelpModal(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help.close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label(f"Help: {self.for_screen.title or 'buypower-tui'}", id="dialog-title", markup=False)
            with VerticalScroll():
                yield Static(getattr(self.for_screen, "HELP_TEXT", ""), markup=False, classes="dialog-text")
                yield Static(key_table(self.for_screen))
                yield Static("Every action is also in the command palette (ctrl+p). ctrl+q quits.",
                             classes="dim", markup=False)
