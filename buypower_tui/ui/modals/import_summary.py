"""What an import found about the file as a whole (its encoding, title lines, TOTAL rows,
meters stored as numbers): said once, and kept on screen until read, not in a toast."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from buypower_tui.core.rules import escape_hidden
from buypower_tui.ui.wording import plural

if TYPE_CHECKING:
    from buypower_tui.core.importing import ImportReport


def summary(report: ImportReport) -> str:
    """The counts line the toast and this dialog share."""
    hidden = f" {plural(report.hidden_rows, 'row')} hidden in the sheet." if report.hidden_rows else ""
    sheets = ""
    if report.sheet is not None:  # a workbook: say which sheet, and which were left
        others = [escape_hidden(repr(n)) + (" (hidden)" if n in report.hidden_sheets else "")
                  for n in report.sheets if n != report.sheet]
        sheets = f" Read sheet {escape_hidden(repr(report.sheet))}" + (
            f"; not read: {', '.join(others)}." if others else ".")
    # the sheet's other columns: kept with each row (shown in the editor's row detail)
    kept = f" Kept columns: {escape_hidden(', '.join(report.kept_columns))}." if report.kept_columns else ""
    if report.ignored_columns:  # past the most that are kept
        kept += f" {plural(len(report.ignored_columns), 'more column')} not kept."
    return (f"{plural(report.rows, 'row')}: {report.valid} valid, {report.invalid} invalid, "
            f"{plural(report.duplicates, 'duplicate')}.{hidden}{sheets}{kept}")


class ImportSummaryModal(ModalScreen[None]):
    TITLE = "Import summary"
    HELP_TEXT = "What the file as a whole said. The rows it concerns carry their own message in the editor."
    BINDINGS = [Binding("escape,enter", "dismiss", "Close", id="import_summary.close")]

    def __init__(self, report: ImportReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        report = self.report
        with Vertical(id="dialog"):
            yield Label(f"Imported {Path(report.source).name} as batch {report.batch_id}", id="dialog-title",
                        markup=False)
            yield Static(summary(report), classes="dialog-text", markup=False)
            with VerticalScroll(id="notices"):
                for notice in report.notices:
                    yield Static(f"• {escape_hidden(notice)}", classes="notice", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Close (Esc)", id="close", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self) -> None:
        self.dismiss()
