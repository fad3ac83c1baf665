"""Pick a CSV or Excel sheet: type a path (Tab or → completes it) or browse the tree. The same
dialog writes a template to fill in (ctrl+t), and, when a batch is selected, merges a corrected
invalid-rows export into it instead of making a new batch."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, DirectoryTree, Input, Label, Static

from buypower_tui.core.sheets import FileError, file_problem
from buypower_tui.ui.widgets.file_tree import FileTree

SHEETS = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")
TEMPLATE = "recipients-template"



class PathSuggester(Suggester):
    """Completes the last part of a path from the folder it names (folders get a slash)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, stem = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
        try:
            names = sorted(p for p in folder.iterdir() if p.name.startswith(stem) and not p.name.startswith(".")
                           and (p.is_dir() or p.suffix.lower() in SHEETS))
        except OSError:
            return None
        if not names:
            return None
        rest = names[0].name[len(stem):] + ("/" if names[0].is_dir() else "")
        return value + rest if rest else None


class SheetTree(FileTree):
    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in SHEETS)]


def check_sheet(value: str) -> str | None:
    path = Path(value).expanduser()
    if not value.strip():
        return "Type the path of a CSV or Excel file, or pick one in the tree."
    problem = file_problem(path)  # the import's own check: a FIFO or a device is no sheet
    if problem:
        return problem
    if path.suffix.lower() not in SHEETS:
        return f"{path.name} is not a CSV or Excel (.xlsx) file; save the sheet as one of those."
    return None


class OpenFileModal(ModalScreen[Path | None]):
    TITLE = "New batch from a file"
    HELP_TEXT = ("Type the path of a CSV or Excel (.xlsx) file: → or Tab completes it, and typing a folder "
                 "followed by / shows that folder in the tree. Or move to the tree (Tab) and press Enter "
                 "on a file. Esc cancels. ctrl+t writes a template to fill in (the columns the import knows, "
                 "meters and phones kept as text, a list of discos) into the folder the tree shows. With a batch "
                 "selected, tick 'Merge into batch N' to bring back its invalid rows fixed in a spreadsheet (the "
                 "file x wrote in the editor): those rows change in place, matched by its 'row' column.")
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="open.cancel"),
        Binding("tab", "complete", "Complete path", show=False, id="open.complete"),
        Binding("ctrl+t", "template", "Write a template", id="open.template"),
    ]

    def __init__(self, start: Path, merge_into: tuple[int, str] | None = None, merging: bool = False) -> None:
        """`merge_into`: (id, name) of the batch a corrected file may be merged into; `merging`:
        that choice ticked from the start."""
        super().__init__()
        self.start, self.merge_into = start, merge_into
        # Kept here, not read from the checkbox: the caller asks once the dialog is gone.
        self.merging = self.merging_at_start = merging and merge_into is not None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="open-file"):
            yield Label(self.title_for(self.merging_at_start), id="dialog-title", markup=False)
            yield Input(placeholder="path of a .csv or .xlsx file (→ or Tab completes)", id="path",
                        suggester=PathSuggester())
            yield Static("", id="open-message", classes="message", markup=False)
            if self.merge_into is not None:
                yield Checkbox(f"Merge into batch {self.merge_into[0]} instead: a corrected invalid-rows export, "
                               "its rows changed in place", self.merging_at_start, id="merge", compact=True)
            yield SheetTree(self.start, id="tree")
            with Horizontal(classes="buttons"):
                yield Button("Write a template here (ctrl+t)", id="template", compact=True)

    def title_for(self, merging: bool) -> str:
        if merging and self.merge_into is not None:
            return f"Merge a corrected file into batch {self.merge_into[0]} “{self.merge_into[1]}”"
        return "New batch from a file"

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.merging = event.value  # the file chosen goes into `merge_into`, not a new batch
        self.query_one("#dialog-title", Label).update(self.title_for(event.value))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "template":
            self.action_template()

    def action_template(self) -> None:
        """Write a template into the folder the tree shows (under a name not taken there)."""
        folder = Path(self.query_one(SheetTree).path).expanduser()
        self.run_worker(partial(self.write_template, folder), thread=True, group="template", exit_on_error=False)

    def write_template(self, folder: Path) -> None:
        app = self.app
        name = next((n for n in (f"{TEMPLATE}.xlsx", *(f"{TEMPLATE}-{i}.xlsx" for i in range(2, 100)))
                     if not os.path.lexists(folder / n)), None)
        try:
            if name is None:
                raise FileError(f"{folder}: holds {TEMPLATE}.xlsx to {TEMPLATE}-99.xlsx already; use one of them.")
            path = app.services.write_template(folder / name)
        except (FileError, OSError) as exc:
            text = f"{folder}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
            app.call_from_thread(app.show_error, "No template was written", text)
            return
        app.notify(f"Wrote a template to {path.resolve()}. Fill it in (replace the example row), save it, "
                   "then pick it here to make a batch.", title="Template written", timeout=15, markup=False)
        app.call_from_thread(self.written)

    def written(self) -> None:
        if self.is_attached:
            self.query_one(SheetTree).reload()  # the new file shows in the tree

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def action_complete(self) -> None:
        box = self.query_one("#path", Input)
        before = box.value
        if box.has_focus and box.cursor_at_end:
            box.action_cursor_right()  # at the end of the text this accepts the suggestion
        if box.value == before:
            self.focus_next()

    def on_input_changed(self, event: Input.Changed) -> None:
        folder = Path(event.value).expanduser()
        if event.value.endswith("/") and folder.is_dir():  # the tree follows the typed folder
            self.query_one(SheetTree).path = folder

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        box = self.query_one("#path", Input)
        box.value = str(event.path)
        self.submit(box.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.submit(event.value)

    def submit(self, value: str) -> None:
        problem = check_sheet(value)
        if problem:
            self.query_one("#open-message", Static).update(problem)
            return
        self.dismiss(Path(value).expanduser())
