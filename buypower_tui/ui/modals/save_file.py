"""Ask where to write a CSV, ask before replacing a file, write it, and say how it went."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App

from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.prompt import PromptModal
from buypower_tui.ui.wording import plural


def safe_name(text: str) -> str:
    return text.replace("/", "-").replace(" ", "-")


def save_csv(app: App, title: str, default: Path, write: Callable[[Path], int], what: str) -> None:
    """`write(path)` writes the file and returns how many `what`s it wrote."""

    def go(path: Path) -> None:
        try:
            n = write(path)
        except OSError as exc:
            app.show_error(f"{title}: nothing was written", f"{path}: {exc.strerror or exc}")
            return
        app.notify(f"Wrote {plural(n, what)} to {path}.", title="Exported", markup=False)

    def chosen(value: str | None) -> None:
        if not value:
            return
        path = Path(value).expanduser()
        if path.exists():
            app.push_screen(ConfirmModal("Replace the file?", f"{path} exists; write over it?", yes="Replace"),
                            lambda yes: go(path) if yes else None)
        else:
            go(path)

    app.push_screen(PromptModal(title, str(default), "Enter writes the file; Esc cancels."), chosen)
