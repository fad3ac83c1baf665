"""Pick a CSV or Excel sheet: type a path (Tab or → completes it) or browse the tree."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import DirectoryTree, Input, Label, Static

from buypower_tui.core.sheets import file_problem
from buypower_tui.ui.widgets.file_tree import FileTree

SHEETS = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")



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
                 "on a file. Esc cancels.")
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="open.cancel"),
        Binding("tab", "complete", "Complete path", show=False, id="open.complete"),
    ]

    def __init__(self, start: Path) -> None:
        super().__init__()
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="open-file"):
            yield Label("New batch from a file", id="dialog-title")
            yield Input(placeholder="path of a .csv or .xlsx file (→ or Tab completes)", id="path",
                        suggester=PathSuggester())
            yield Static("", id="open-message", classes="message", markup=False)
            yield SheetTree(self.start, id="tree")

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
