"""Building the App for tests: real Context, real store, the demo's sandbox on 127.0.0.1."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import pytest
from sqlalchemy import update
from textual.widgets import Input

from buypower_tui.cli import build_parser
from buypower_tui.core.models import Batch
from buypower_tui.services import Context, Services
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.tui import demo_services

FIXED_TIME = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SIZE = (120, 36)


@pytest.fixture(autouse=True)
def steady_screen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No blinking cursor, UTC clock, a HOME under tmp_path (paths show as ~/...)."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("HOME", str(tmp_path))


def services(*argv: str, demo_home: Path | None = None) -> Services:
    args = build_parser().parse_args(list(argv))
    if demo_home is not None:  # as `buypower-tui --demo` builds it
        s = demo_services(args, demo_home)
        with s.store.session() as session:  # a fixed "created" time for the batches screen
            session.exec(update(Batch).values(created_at=FIXED_TIME))
            session.commit()
        return s
    s = Services(Context(args))
    s.refresh_key()
    return s


def demo_app(tmp_path: Path, open_batch: bool = True, recover: bool = True) -> BuyPowerApp:
    s = services(demo_home=tmp_path / "demo")
    return BuyPowerApp(s, open_batch=s.demo.batch_id if open_batch else None, recover=recover)


def screen_text(app: BuyPowerApp) -> str:
    """What the terminal shows, as text: the SVG screenshot's text runs put back in lines."""
    svg = app.export_screenshot()
    lines: dict[float, list[tuple[float, str]]] = {}
    for x, y, text in re.findall(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        lines.setdefault(float(y), []).append((float(x), html.unescape(text).replace("\xa0", " ")))
    out = []
    for y in sorted(lines):
        row = ""
        for x, text in sorted(lines[y]):
            row = row.ljust(round(x / 12.2)) + text
        out.append(row.rstrip())
    return "\n".join(out)


class NoKeyring(keyring.backend.KeyringBackend):
    """What a headless SSH session has: every call fails (fixed text, for the snapshots)."""

    priority = 1  # type: ignore[assignment]
    viable = False  # only ever set on purpose

    def get_password(self, *args: str) -> str | None:
        raise keyring.errors.NoKeyringError("no Secret Service on this D-Bus session")

    def set_password(self, *args: str) -> None:
        self.get_password()

    def delete_password(self, *args: str) -> None:
        self.get_password()


async def settle(pilot, delay: float | None = None, *, quiet: bool = False) -> None:
    """Wait for the App's workers and the screen; `quiet` drops toasts (snapshots show them)."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(delay)
    if quiet:
        pilot.app.clear_notifications()
        await pilot.pause()


async def until(pilot, condition, timeout: float = 60.0) -> None:
    """Let the app run until `condition()` holds (a failed assertion after `timeout` seconds)."""
    waited = 0.0
    while not condition():
        assert waited < timeout, "timed out"
        await pilot.pause(0.1)
        waited += 0.1
    await pilot.pause()


async def confirm_dialog(pilot, batch_id: int = 1):
    """The batch open in the editor, v pressed: the confirm dialog, with its plan."""
    from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
    from buypower_tui.ui.screens.editor import EditorScreen

    pilot.app.push_screen(EditorScreen(batch_id))
    await settle(pilot)
    await pilot.press("v")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ConfirmRunModal)
    return pilot.app.screen
