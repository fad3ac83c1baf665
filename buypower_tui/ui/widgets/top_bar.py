"""The first line of every screen: where you are, and in plain sight whether money is real."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label


class TopBar(Horizontal):
    def __init__(self, title: str) -> None:
        super().__init__(id="top-bar")
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Label(f"buypower-tui › {self.title_text}", id="top-title", markup=False)
        yield Label("", id="activity", markup=False)
        mode = self.app.mode
        demo = " DEMO" if self.app.is_demo else ""
        yield Label(f" {mode.upper()}{demo} ", id="mode-badge", classes=mode)

    def on_mount(self) -> None:
        self.watch(self.app, "activity_text", self.show_activity)  # no timer: the App says when it changes

    def show_activity(self, text: str) -> None:
        self.query_one("#activity", Label).update(f"⟳ {text} " if text else "")
