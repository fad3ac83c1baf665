"""The save dialog for exports: a path to type (Tab completes folders) or a folder to pick in
the tree, and, for a batch, which export (the full one or the landlord's); it asks before
replacing a file, writes it, and says how it went."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label, RadioButton, RadioSet, Static

from buypower_tui.core.sheets import FileError
from buypower_tui.paths import existing_file
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.open_file import PathSuggester
from buypower_tui.ui.widgets.file_tree import FileTree
from buypower_tui.ui.wording import plural

log = logging.getLogger("buypower_tui.ui")


def safe_name(text: str) -> str:
    return text.replace("/", "-").replace(" ", "-")


@dataclass(frozen=True)
class Choice:
    """One of the files a dialog can write: `key` goes to the writer, `label` is shown, and
    `default` is the file name offered with it."""

    key: str
    label: str
    default: Path


class FolderTree(FileTree):
    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if p.is_dir() and not p.name.startswith(".")]


class ChoiceButton(RadioButton):
    """● when chosen, ○ when not: told apart without colour too (NO_COLOR)."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual's name
        return "●" if self.value else "○"


class SaveFileModal(ModalScreen[Path | None]):
    TITLE = "Save as"
    HELP_TEXT = ("Type where to write the file (Tab completes folder names), or pick a folder in the tree "
                 "and the file name stays. Enter writes; Esc cancels. An existing file is replaced only "
                 "after you say so.")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="save.cancel")]

    def __init__(self, title: str, default: Path, choices: Sequence[Choice] = (), suffixes: Sequence[str] = ()) -> None:
        """`choices`: which file to write, picked above the name (the first is chosen); `suffixes`:
        the only ones a name may end in (the suffix says how it is written)."""
        super().__init__()
        self.title_text, self.choices, self.suffixes = title, tuple(choices), tuple(suffixes)
        self.default = self.choices[0].default if self.choices else default
        self.choice: str | None = self.choices[0].key if self.choices else None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="open-file"):
            yield Label(self.title_text, id="dialog-title", markup=False)
            if self.choices:
                with RadioSet(id="layouts"):
                    for i, c in enumerate(self.choices):
                        yield ChoiceButton(c.label, value=i == 0, id=f"layout-{c.key}")
            yield Input(str(self.default), id="path", suggester=PathSuggester())
            how = f" ({' or '.join(self.suffixes)}, by its suffix)" if len(self.suffixes) > 1 else ""
            pick = "Shift+Tab picks which export; " if self.choices else ""
            yield Static(f"Enter writes the file{how}; {pick}Esc cancels; or pick a folder below.",
                         id="save-message", classes="dim", markup=False)
            yield FolderTree((self.default.parent if self.default.parent.is_dir() else Path(".")).resolve(), id="tree")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        """The name offered follows the choice until the operator types one of their own."""
        event.stop()
        chosen = self.choices[event.index]
        box = self.query_one("#path", Input)
        typed = Path(box.value.strip()).expanduser()
        if typed.name in {c.default.name for c in self.choices}:
            box.value = str(typed.with_name(chosen.default.name))
        self.choice = chosen.key
        box.focus()

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
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            names = " or ".join(f"{path.stem}{s}" for s in self.suffixes)
            self.query_one("#save-message", Static).update(
                f"The file's suffix says how it is written: name it {names}.")
            return
        self.dismiss(path)


def save_csv(app: App, title: str, default: Path, write: Callable[[Path], int], what: str) -> None:
    """`write(path)` writes the file (through paths.replace_file, as every export does) and
    returns how many `what`s it wrote."""
    _save(app, SaveFileModal(title, default), title, write, what)


def save_export(app: App, title: str, choices: Sequence[Choice], suffixes: Sequence[str],
                write: Callable[[Path, str], int], what: str) -> None:
    """The dialog with a choice of export: `write(path, choice key)`; a name must end in one of
    `suffixes`. Written in a thread worker of the App (a workbook of 100,000 rows takes
    openpyxl half a minute: the screen stays alive); a refusal of the writer's own (FileError)
    is shown, as a disk's is."""
    modal = SaveFileModal(title, choices[0].default, choices, suffixes)
    _save(app, modal, title, lambda path: write(path, modal.choice or choices[0].key), what, background=True)


def _save(app: App, modal: SaveFileModal, title: str, write: Callable[[Path], int], what: str, *,
          background: bool = False) -> None:
    def failed(path: Path, exc: Exception) -> None:
        why = f"{path}: {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        app.show_error(f"{title}: nothing was written", why)

    def wrote(path: Path, n: int) -> None:
        app.notify(f"Wrote {plural(n, what)} to {path.resolve()}.", title="Exported", markup=False)

    def write_now(path: Path) -> None:
        try:
            n = write(path)
        except (OSError, FileError) as exc:
            failed(path, exc)
            return
        wrote(path, n)

    def write_in_thread(path: Path) -> None:
        try:
            n = write(path)
        except (OSError, FileError) as exc:
            app.call_from_thread(failed, path, exc)
        except Exception as exc:  # never lost in a worker that nobody waits for
            log.exception("export to %s failed", path)
            app.call_from_thread(failed, path, exc)
        else:
            app.call_from_thread(wrote, path, n)

    def go(path: Path) -> None:
        if not background:
            write_now(path)
            return
        app.notify(f"Writing {path.name}…", title="Exporting", markup=False, timeout=2)
        app.run_worker(partial(write_in_thread, path), name=f"export {path.name}", group="export", thread=True,
                       exit_on_error=False)

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

    app.push_screen(modal, chosen)
