"""Issue 14 in the TUI: k in the failed & pending view closes rows that will not be paid (a note
is required) and reopens closed ones; a row whose order may still take money is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from buypower_tui.core import rows
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.row_view import OPERATOR
from buypower_tui.ui.modals.close_rows import CloseRowsModal
from buypower_tui.ui.modals.error import ErrorModal
from buypower_tui.ui.screens.review import ReviewScreen
from tests.ui_support import FIXED_TIME, SIZE, demo_app, screen_text, settle, steady_screen  # noqa: F401 - autouse fixture

S = RowState
MAINTENANCE = "This account requires maintenance. Customer is advised to visit their service provider."


def after_a_run(app) -> dict[int, int]:
    """Rows 2-6 paid, 7 and 8 failed at BuyPower (maintenance), 9 marked failed by the operator
    (its order may still succeed): sheet row -> row id."""
    ids = {}
    with app.services.store.session() as s:
        for row in s.exec(select(Recipient).where(Recipient.batch_id == app.services.demo.batch_id)):
            ids[row.row_number] = row.id
            n = row.row_number
            if not 2 <= n <= 9:
                continue
            row.order_id, row.updated_at = f"order-{n:04d}", FIXED_TIME + timedelta(seconds=n)
            if n <= 6:
                row.state, row.token, row.provider_message = S.SUCCESS, f"{n:020d}", "Successful transaction"
            elif n <= 8:
                row.state, row.provider_code, row.provider_message = S.FAILED, "501", MAINTENANCE
            else:
                row.state, row.provider_code = S.FAILED, OPERATOR
                row.provider_message = "marked failed by OPERATOR: support says so"
                row.next_requery_at = FIXED_TIME + timedelta(days=1)
            s.add(row)
        s.commit()
    return ids


async def review(pilot, app, row_number: int) -> ReviewScreen:
    await settle(pilot, 0.2, quiet=True)
    app.push_screen(ReviewScreen(app.services.demo.batch_id))
    await pilot.pause(0.2)
    screen = app.screen
    row_id = next(i for i in screen.table.ids if screen.row(i)["row_number"] == row_number)
    screen.table.move_cursor(row=screen.table.get_row_index(row_id))
    await pilot.pause()
    return screen


async def test_k_closes_the_marked_rows_with_a_note_and_k_again_reopens_them(tmp_path):
    app = demo_app(tmp_path, recover=False)  # a picture of a run, not a crash to recover
    ids = after_a_run(app)
    store = app.services.store
    async with app.run_test(size=SIZE) as pilot:
        screen = await review(pilot, app, 7)
        await pilot.press("space", "space", "k")  # rows 7 and 8 marked: both are closed
        await pilot.pause()
        assert isinstance(app.screen, CloseRowsModal) and len(app.screen.rows) == 2
        await pilot.press("enter")  # no note: asked for one, nothing changes
        await pilot.pause()
        assert isinstance(app.screen, CloseRowsModal)
        assert "A note is required" in str(app.screen.query_one("#close-message").render())
        await pilot.press(*"meter under maintenance", "enter")
        await settle(pilot)
        assert app.screen is screen
        for n in (7, 8):
            row = rows.get(store, ids[n])
            assert (row.state, row.provider_message) == (S.CLOSED, "meter under maintenance")
            assert rows.history(store, ids[n])[-1].note == "closed by the operator: meter under maintenance"
        assert ids[7] in screen.table.ids and screen.row(ids[7])["state"] == S.CLOSED  # still shown: to reopen

        screen.table.move_cursor(row=screen.table.get_row_index(ids[8]))
        await pilot.press("k")  # row 8 is closed: k offers to reopen it
        await pilot.pause()
        assert isinstance(app.screen, CloseRowsModal) and app.screen.reopen
        await pilot.press(*"maintenance over", "enter")
        await settle(pilot)
        row = rows.get(store, ids[8])
        assert (row.state, row.provider_code, row.provider_message) == (S.FAILED, "501", MAINTENANCE)
        assert rows.get(store, ids[7]).state == S.CLOSED

        # the operator's FAILED row: its order may still succeed, so it is refused before a note is asked
        screen.table.move_cursor(row=screen.table.get_row_index(ids[9]))
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, ErrorModal)
        assert app.screen.title_text == "Nothing was closed" and "marked failed by OPERATOR" in app.screen.text
        assert rows.get(store, ids[9]).state == S.FAILED
    app.services.close()


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x36", "80x24"])
def test_the_close_dialog(snap_compare, tmp_path, size):
    app = demo_app(tmp_path, recover=False)
    after_a_run(app)

    async def run_before(pilot):
        await review(pilot, app, 7)
        await pilot.press("space", "space", "k")  # rows 7 and 8
        await pilot.pause()
        await pilot.press(*"meter under maintenance")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_a_batch_of_paid_and_closed_rows_shows_as_done_on_the_batches_screen(tmp_path):
    app = demo_app(tmp_path, open_batch=False, recover=False)
    with app.services.store.session() as s:
        for row in s.exec(select(Recipient)):
            row.state, row.order_id = (S.SUCCESS, f"order-{row.row_number}") if row.row_number % 2 else \
                (S.CLOSED, None)
            s.add(row)
        s.commit()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, quiet=True)
        text = screen_text(app)
        assert "✓ Demo estate" in text and "✓: done (every row paid or closed)" in text
    app.services.close()
