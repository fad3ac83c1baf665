"""Issue 10, point 14f: a right-to-left override, a zero-width space or a control character
in a name (from the sheet, or from BuyPower's customer name) is flagged on the row and shown
escaped in the editor's grid and detail line, never raw."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from textual.widgets import Static

from buypower_tui.core.importing import import_file
from buypower_tui.core.models import Recipient
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.screens.editor import EditorScreen
from tests.ui_support import SIZE, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture

RAW = ("\u202e", "\u200b", "\u2066", "\x85")


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=5, delay=(0,))) as server:
        monkeypatch.setenv("BUYPOWER_API_KEY", server.key)
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        yield server


async def test_hidden_characters_are_escaped_in_the_grid_and_the_detail_line(tmp_path, sandbox):
    sheet = tmp_path / "estate.csv"
    sheet.write_text("meter,disco,amount,phone,name\n"
                     "04271892301,IKEJA,1000,08031234567,Ada \u202eibO\n"
                     "04271892302,IKEJA,1000,08031234567,Bola\u200b Chi\n", encoding="utf-8")
    s = services("--sandbox", "--base-url", sandbox.url)
    report = import_file(sheet, s.store, s.limits, mode="sandbox")
    assert (report.valid, report.warnings) == (2, 2)
    with s.store.session() as session:  # a hostile customer name and address, as a lookup stores them
        session.exec(update(Recipient).where(Recipient.row_number == 3)
                     .values(customer_name="Chi\u2066 Okoro", customer_address="Lekki\x85Phase 1"))
        session.commit()
    app = BuyPowerApp(s, open_batch=report.batch_id)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        grid = editor.grid
        cells = {grid.row(i)["row_number"]: " │ ".join(c.plain for c in grid.cells(grid.row(i))) for i in grid.ids}
        assert "Ada ⟨U+202E⟩ibO" in cells[2] and "! name contains" in cells[2]
        assert "Bola⟨U+200B⟩ Chi" in cells[3] and "Chi⟨U+2066⟩ Okoro" in cells[3]
        assert "Lekki⟨U+0085⟩Phase 1" in cells[3]
        detail = editor.query_one("#detail", Static)
        for number in (2, 3):
            editor.grid.move_cursor(row=number - 2)
            await pilot.pause()
            text = str(detail.render())
            assert f"Row {number} (VALID, look at it): name contains" in text
            assert "U+202E RIGHT-TO-LEFT OVERRIDE" in text if number == 2 else "Chi⟨U+2066⟩ Okoro" in text
        assert "2 warnings" in str(editor.query_one("#counts", Static).render())
        shown = screen_text(app) + "".join(cells.values()) + str(detail.render())
        assert not any(ch in shown for ch in RAW)


def test_editing_a_row_sets_and_clears_its_warning(tmp_path, store):
    from buypower_tui.core import editing, rows
    from buypower_tui.core.rules import Limits

    sheet = tmp_path / "s.csv"
    sheet.write_text("meter,disco,amount,phone,name\n04271892301,IKEJA,1000,08031234567,Ada\n", encoding="utf-8")
    report = import_file(sheet, store, Limits())
    (row,) = editing.grid_rows(store, report.batch_id)
    assert row["warnings"] is None
    rows.edit_row(store, row["id"], {"name": "Ada\u200f"}, Limits())
    (row,) = editing.grid_rows(store, report.batch_id)
    assert row["state"] == "VALID" and "U+200F RIGHT-TO-LEFT MARK" in row["warnings"][0]["message"]
    assert store.stats(report.batch_id).warnings == 1
    rows.edit_row(store, row["id"], {"name": "Ada"}, Limits())
    (row,) = editing.grid_rows(store, report.batch_id)
    assert row["warnings"] is None and store.stats(report.batch_id).warnings == 0
    new_id = editing.add_row(store, report.batch_id, {"meter": "04271892302", "disco": "EKO", "amount": "1000",
                                                      "phone": "08031234567", "name": "\u202eBola"}, Limits())
    (added,) = editing.grid_rows(store, report.batch_id, [new_id])
    assert added["warnings"][0]["field"] == "name"
