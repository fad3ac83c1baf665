"""Issue 13 in the editor: mark rows (space stays, shift+arrows extend), b sets one value on all
of them in one step that ctrl+z takes back whole; ctrl+t in the row editor splits an amount over
the maximum. Plus the bulk edit dialog's snapshot."""

from __future__ import annotations

from sqlalchemy import update

from buypower_tui.core.models import Recipient
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.bulk_edit import BulkEditModal
from buypower_tui.ui.screens.editor import EditorScreen
from tests.ui_support import SIZE, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture

SHEET = ("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n45143922321,ABUJA,5000,08034210294\n"
         "62010000111,EKO,2000,08031234560\n71120000018,KANO,250000,07011223344\n")


def sheet_app(tmp_path) -> BuyPowerApp:
    path = tmp_path / "estate.csv"
    path.write_text(SHEET)
    s = services("--sandbox", "--base-url", "http://127.0.0.1:9/v2", "--db", f"sqlite:///{tmp_path / 'store.db'}")
    return BuyPowerApp(s, open_batch=s.import_sheet(path).batch_id, recover=False)


def rows(app) -> list[tuple]:
    return [(r.row_number, r.state, r.disco_raw, r.amount_raw, r.disco, r.amount_kobo)
            for r in app.services.rows(app.screen.batch_id)]


async def test_mark_three_rows_bulk_edit_them_and_undo_in_one_step(tmp_path, isolated_home):
    app = sheet_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = rows(app)
        await pilot.press("space")  # marks row 2; the cursor stays
        assert app.screen.grid.cursor_row == 0 and len(app.screen.marked) == 1
        await pilot.press("shift+down", "shift+down", "down")  # rows 3 and 4 too; row 5 stays out
        with app.services.store.session() as s:  # row 5 got an orderId elsewhere: never in a bulk edit
            s.exec(update(Recipient).where(Recipient.row_number == 5).values(order_id="bp-1", state="APPROVED"))
            s.commit()
        await pilot.press("space", "b")
        await pilot.pause()
        assert isinstance(app.screen, BulkEditModal) and app.screen.left_out == [5]
        await pilot.press(*"eko", "tab", *"750", "enter")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen)
        after = rows(app)
        assert [r[2:] for r in after[:3]] == [("eko", "750", "EKO", 75000)] * 3 and after[3][2:] == before[3][2:]
        # the rows changed are unmarked (the next d or b starts afresh); row 5, left out, stays marked
        assert [r.row_number for r in app.services.rows(app.screen.batch_id) if r.id in app.screen.marked] == [5]
        app.lookup_running = lambda batch_id=None: True  # a lookup of the batch: ctrl+z waits like e, d and b
        assert app.screen.check_action("undo", ()) is None
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert rows(app) == after
        del app.lookup_running
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert rows(app)[:3] == before[:3] and not app.services.can_undo(app.screen.batch_id)
        assert "space Mark  b Bulk edit" in screen_text(app)  # in the footer at 120 columns (not at 80)
        await pilot.press("f1")
        await pilot.pause()
        assert all(key in screen_text(app) for key in ("shift+↓    Mark down", "shift+↑    Mark up", "b          Bulk"))


async def test_split_an_amount_over_the_maximum_from_the_row_editor(tmp_path, isolated_home):
    app = sheet_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("end", "e", "ctrl+t")  # row 5: ₦250,000
        await settle(pilot)
        assert [(r[0], r[3]) for r in rows(app)[3:]] == [(5, "100000"), (6, "100000"), (7, "50000")]
        assert "split into 3 rows" in list(app._notifications)[-1].message  # toasts are off: read the record
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert [(r[0], r[3]) for r in rows(app)[3:]] == [(5, "250000")]


def test_bulk_edit_dialog(snap_compare, tmp_path, isolated_home):
    app = sheet_app(tmp_path)

    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("space", "shift+down", "shift+down", "b", *"ikeja", "tab", *"99x")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
