"""A persistent, copyable error: toasts vanish and cannot be selected, failures must not."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, TextArea

from buypower_tui.logs import mask_message


class ErrorModal(ModalScreen[None]):
    TITLE = "Error"
    HELP_TEXT = ("It stays until you close it. c copies its text to the clipboard (OSC 52, works over SSH "
                 "in most terminals); the text can also be selected with the mouse.")
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="error.close"),
        Binding("c", "copy", "Copy", id="error.copy"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        # Masked like the log: an error may quote a file that holds the key (a .env picked by mistake).
        self.title_text, self.text = mask_message(title), mask_message(text)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="error"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            # A read-only TextArea: server text is never parsed as markup, and can be selected.
            yield TextArea(self.text, read_only=True, soft_wrap=True, show_cursor=False, id="error-text")
            with Horizontal(classes="buttons"):
                yield Button("Copy (c)", id="copy", compact=True)
                yield Button("Close (Esc)", id="close", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(f"{self.title_text}\n{self.text}")
        self.notify("Sent to the terminal's clipboard (OSC 52). If nothing arrives, select the text "
                    "with Shift+drag instead.", title="Copied")
