"""Every screen and modal of the TUI, as SVG snapshots at 120x36 with fixed data.

Update with `pytest tests/test_ui_snapshots.py --snapshot-update` after a deliberate change,
and look at the report before committing the new SVGs.
"""

from __future__ import annotations

import keyring
import pytest

from buypower_tui.ui.app import BuyPowerApp
from tests.ui_support import SIZE, NoKeyring, demo_app, services, settle, steady_screen  # noqa: F401 - autouse fixture


def test_batches_screen(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)

    assert snap_compare(demo_app(tmp_path, open_batch=False), terminal_size=SIZE, run_before=run_before)


def test_editor_with_errors(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press(*["down"] * 27)  # row 29: the meter that lost its leading zero

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_row_editor_modal_shows_messages_as_you_type(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press(*["down"] * 29, "e")  # row 31: amount 50, below the minimum
        await pilot.pause()
        await pilot.press("ctrl+a", "ctrl+k", *"99x")  # the amount (focused first: it is wrong)
        await pilot.pause()

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_row_editor_messages_stand_out_with_no_color(snap_compare, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # red turns dark grey: the messages are bold instead

    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press(*["down"] * 29, "e")
        await pilot.pause()

    assert snap_compare(demo_app(tmp_path), terminal_size=(80, 24), run_before=run_before)


def test_editor_after_lookup(snap_compare, tmp_path):
    async def run_before(pilot):
        await pilot.press("l")
        await settle(pilot, quiet=True)
        await pilot.press(*["down"] * 18)

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_editor_lookup_shows_debt(snap_compare, tmp_path):
    async def run_before(pilot):
        await pilot.press("l")
        await settle(pilot, quiet=True)
        await pilot.press(*["down"] * 37)  # row 39: a prepaid meter with debt (row 19: postpaid with debt)
        grid = pilot.app.screen.grid
        grid.scroll_to(x=grid.max_scroll_x, animate=False)  # the Outstanding and Repayment columns
        await pilot.pause()

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_editor_filtered_to_names_that_differ_from_buypowers(snap_compare, tmp_path):
    """Issue 13. The fixture meters' rows as the lookup leaves them (written here: the demo's
    whole lookup takes seconds), then the "Name differs from BuyPower's" view."""
    from sqlmodel import select

    from buypower_tui.core.models import Recipient
    from buypower_tui.core.names import with_name_warning
    from buypower_tui.core.sandbox.fixtures import FIXTURE_METERS

    app = demo_app(tmp_path)
    with app.services.store.session() as s:
        for row in s.exec(select(Recipient).where(Recipient.state == "VALID")):
            if (customer := FIXTURE_METERS.get(row.meter)) and customer.disco == row.disco:
                row.state, row.customer_name, row.customer_address = "VERIFIED", customer.name, customer.address
                row.warnings = with_name_warning(row.warnings, row.name, customer.name)
                s.add(row)
        s.commit()

    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("f", *["down"] * 4, "enter")  # "Name differs from BuyPower's"
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_filter_modal(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("f", "down")

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_editor_filtered_to_invalid_rows(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("f", "down", "enter")
        await pilot.pause()

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_delete_confirmation(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("space", "shift+down", "d")

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_open_file_modal(snap_compare, tmp_path, monkeypatch):
    sheets = tmp_path / "sheets"
    (sheets / "march").mkdir(parents=True)
    for name in ("estate-a.csv", "estate-b.xlsx", "notes.txt", "photo.png"):
        (sheets / name).write_text("meter,disco,amount\n")
    monkeypatch.chdir(sheets)

    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("n", *"est")
        await pilot.pause(0.2)

    assert snap_compare(demo_app(tmp_path, open_batch=False), terminal_size=SIZE, run_before=run_before)


def test_rename_prompt(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("r")

    assert snap_compare(demo_app(tmp_path, open_batch=False), terminal_size=SIZE, run_before=run_before)


def test_help_modal(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("f1")

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_error_modal(snap_compare, tmp_path):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        pilot.app.show_error("The file was not imported",
                             "sheet.csv: row 3 has two columns for amount ('Amount' and 'Amount (NGN)'); "
                             "keep one and import again. [/x] stays literal.")
        await pilot.pause()

    assert snap_compare(demo_app(tmp_path), terminal_size=SIZE, run_before=run_before)


def _settings_app() -> BuyPowerApp:
    return BuyPowerApp(services("--sandbox", "--base-url", "http://127.0.0.1:8765/v2"))


def test_settings_with_a_stored_key(snap_compare, memory_keyring):
    memory_keyring.set_password("buypower-tui", "sandbox", "0123456789abcdef" * 3 + "00000000c0ffee42")

    async def run_before(pilot):
        await pilot.press("f2")
        await settle(pilot, quiet=True)

    assert snap_compare(_settings_app(), terminal_size=SIZE, run_before=run_before)


def test_settings_without_a_keyring(snap_compare, monkeypatch):
    keyring.set_keyring(NoKeyring())

    async def run_before(pilot):
        await pilot.press("f2")
        await settle(pilot, quiet=True)

    assert snap_compare(_settings_app(), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24)])
def test_editor_at_80x24(snap_compare, tmp_path, size):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press(*["down"] * 28, "enter")
        await pilot.pause()

    assert snap_compare(demo_app(tmp_path), terminal_size=size, run_before=run_before)
