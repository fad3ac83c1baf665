"""An office's sheet in the TUI: the import summary says what the file did once; a lost
leading 0 is fixed with one key, for all rows; confirming a cell clears how it was stored."""

from __future__ import annotations

import openpyxl
import pytest

from buypower_tui.core.values import RowState
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.import_summary import ImportSummaryModal
from buypower_tui.ui.screens.editor import EditorScreen
from tests.ui_support import SIZE, NoKeyring, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture


def office_sheet(path) -> None:
    """A title line, meters typed as numbers (two lost their 0), a TOTAL row."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Sunrise Estate: March electricity"])
    ws.append(["Flat", "Meter Number", "DISCO", "Amount (₦)", "Phone"])
    ws.append(["A1", 42718923011, "IKEJA", 5000, 8031234567])
    ws.append(["A2", 4271892302, "IKEJA", 5000, 8031234567])
    ws.append(["A3", 4271892303, "EKO", 2500, 8031234567])
    ws.append(["TOTAL", None, None, 12000])
    wb.save(path)


async def open_sheet(pilot, name: str) -> None:
    await pilot.press("n", *name, "tab", "enter")  # Tab completes the path
    await settle(pilot)
    await pilot.pause(0.2)


def rows(app) -> dict[int, dict]:
    return {r["row_number"]: r for r in app.services.grid_rows(app.screen.batch_id)}


@pytest.fixture
def office(tmp_path, monkeypatch):
    office_sheet(tmp_path / "march.xlsx")
    monkeypatch.chdir(tmp_path)
    return BuyPowerApp(services("--sandbox", "--base-url", "http://127.0.0.1:9"))


async def test_the_summary_says_what_the_file_did_then_z_fixes_every_lost_zero_and_undo_takes_it_back(office):
    app = office
    async with app.run_test(size=SIZE) as pilot:
        await open_sheet(pilot, "march")
        assert isinstance(app.screen, ImportSummaryModal)
        text = screen_text(app)
        assert "title line above the header (row 1)" in text and "TOTAL" in text and "₦500.00" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen)
        assert [r["state"] for r in rows(app).values()] == [RowState.VALID, RowState.INVALID, RowState.INVALID]
        await pilot.press("Z")
        await settle(pilot)
        fixed = rows(app)
        assert [fixed[n]["meter"] for n in (4, 5)] == ["04271892302", "04271892303"]
        assert {r["state"] for r in fixed.values()} == {RowState.VALID}
        await pilot.press("ctrl+z")  # one undo step for the whole fix
        await settle(pilot)
        assert [rows(app)[n]["meter_raw"] for n in (4, 5)] == ["4271892302", "4271892303"]


async def test_confirming_a_number_stored_meter_clears_its_warning(office):
    app = office
    async with app.run_test(size=SIZE) as pilot:
        await open_sheet(pilot, "march")
        await pilot.press("escape")
        await pilot.pause()
        assert rows(app)[3]["warnings"][0]["stored"]
        await pilot.press("enter")  # the row editor on row 3, the one the cursor is on
        await pilot.pause()
        await pilot.press("ctrl+s")  # the same digits, confirmed
        await settle(pilot)
        row = rows(app)[3]
        assert row["meter"] == "42718923011" and row["warnings"] is None and row["state"] == RowState.VALID


def test_snapshot_import_summary_with_notices(snap_compare, tmp_path, monkeypatch):
    office_sheet(tmp_path / "march.xlsx")
    monkeypatch.chdir(tmp_path)

    async def run_before(pilot):
        await open_sheet(pilot, "march")

    assert snap_compare(BuyPowerApp(services("--sandbox", "--base-url", "http://127.0.0.1:9")),
                        terminal_size=SIZE, run_before=run_before)
