"""A DirectoryTree whose labels are file names as text: never markup ("[b].csv"), and never
terminal control codes or direction overrides (a file name may hold an ESC)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DirectoryTree

from buypower_tui.core.rules import escape_hidden
from buypower_tui.logs import mask_message


class FileTree(DirectoryTree):
    def process_label(self, label: str | Text) -> Text:
        if isinstance(label, str):
            return Text(escape_hidden(mask_message(label)).split("\n")[0])
        return super().process_label(label)
