"""A report to read and keep (what a merge changed, row by row): the error modal's persistent,
copyable text, without its red border. A toast would vanish with the list half read."""

from __future__ import annotations

from buypower_tui.ui.modals.error import ErrorModal


class ReportModal(ErrorModal):
    TITLE = "Report"
    HELP_TEXT = ("It stays until you close it (Esc). c copies its text to the clipboard (OSC 52, works over "
                 "SSH in most terminals); the text can also be selected with the mouse.")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#dialog").remove_class("error")
