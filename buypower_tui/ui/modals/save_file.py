"""The save dialog for exports: a path to type (Tab completes folders) or a folder to pick in
the tree; it asks before replacing a file, writes it, and says how it went."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label, Static

from buypower_tui.paths import existing_file
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.open_file import PathSuggester
from buypower_tui.ui.widgets.file_tree import FileTree
from buypower_tui.ui.wording import plural


def safe_name(text: str) -> str:
    return text.replace("/", "-").replace(" ", "-")


class FolderTree(FileTree):
    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if p.is_dir() and not p.name.startswith(".")]


class SaveFileModal(ModalScreen[Path | None]):
    TITLE = "Save as"
    HELP_TEXT = ("Type where to write the file (Tab completes folder names), or pick a folder in the tree "
                 "and the file name stays. Enter writes; Esc cancels. An existing file is replaced only "
                 "after you say so.")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="save.cancel")]

    def __init__(self, title: str, default: Path) -> None:
        super().__init__()
        self.title_text, self.default = title, default

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="open-file"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            yield Input(str(self.default), id="path", suggester=PathSuggester())
            yield Static("Enter writes the file; Esc cancels; or pick a folder below.", id="save-message",
                         classes="dim", markup=False)
            yield FolderTree((self.default.parent if self.default.parent.is_dir() else Path(".")).resolve(), id="tree")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        box = self.query_one("#path", Input)
        box.value = str(event.path / Path(box.value or self.default.name).name)
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if not event.value.strip() or path.is_dir():
            self.query_one("#save-message", Static).update("Type a file name, e.g. batch-results.csv.")
            return
        if not path.parent.is_dir():
            self.query_one("#save-message", Static).update(f"There is no folder {path.parent}; pick one below.")
            return
        self.dismiss(path)


def save_csv(app: App, title: str, default: Path, write: Callable[[Path], int], what: str) -> None:
    """`write(path)` writes the file (through paths.replace_file, as every export does) and
    returns how many `what`s it wrote."""

    def failed(path: Path, exc: OSError) -> None:
        app.show_error(f"{title}: nothing was written", f"{path}: {exc.strerror}" if exc.strerror else str(exc))

    def go(path: Path) -> None:
        try:
            n = write(path)
        except OSError as exc:
            failed(path, exc)
            return
        app.notify(f"Wrote {plural(n, what)} to {path.resolve()}.", title="Exported", markup=False)

    def chosen(path: Path | None) -> None:
        if path is None:
            return
        try:
            existing = existing_file(path)  # a link or a device is refused before asking to replace it
        except OSError as exc:
            failed(path, exc)
            return
        if existing is not None:
            app.push_screen(ConfirmModal("Replace the file?", f"{path} exists; write over it?", yes="Replace"),
                            lambda yes: go(path) if yes else None)
        else:
            go(path)

    app.push_screen(SaveFileModal(title, default), chosen)
