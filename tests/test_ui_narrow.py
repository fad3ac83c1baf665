"""Issue 14 §7: "at 80x24 the phone column cuts numbers so a short phone looks whole".

A number cut by the screen's edge reads as another number (0803123456 from 08031234567): the
editor's grid and the row tables fit their columns to the width so meter, phone and amount are
whole at 80 columns, and where the edge cuts such a cell anyway (a narrower screen, scrolled
sideways) the cut side shows "…". The batches table lets its name column take the slack so the
edge falls between two columns. Text (a status, a name, BuyPower's words) may be cut."""

from __future__ import annotations

import pytest

from buypower_tui.core.row_view import shown_value
from buypower_tui.ui.screens.batches import COLUMNS as BATCH_COLUMNS
from buypower_tui.ui.screens.batches import NAME_WIDTHS, BatchesScreen, name_width
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.widgets.grid import COLUMNS as GRID_COLUMNS
from buypower_tui.ui.widgets.paged_table import CUT, fitted_widths
from tests.test_ui_money_snapshots import as_a_run_left_it, as_production_paid_them
from tests.ui_support import demo_app, screen_text, settle, steady_screen  # noqa: F401 - autouse fixture


def shown_rows(app) -> dict[int, str]:
    """Sheet row number -> its line on screen (the grid's or a row table's)."""
    lines = {}
    for line in screen_text(app).splitlines():
        first = line.split(maxsplit=1)[0] if line.strip() else ""
        if first.isdigit():
            lines[int(first)] = line
    return lines


def visible(table) -> list[dict]:
    top = int(table.scroll_offset.y)
    return [table.row(i) for i in table.ids[top:top + table._visible_rows]]


def test_fitted_widths_give_a_number_room_from_the_text_before_it():
    columns = [("row", "Row", 3), ("status", "Status", 20, 8), ("phone", "Phone", 11), ("name", "Name", 15, 8),
               ("debt", "Debt", 9)]
    assert fitted_widths(columns, 200, 2) == [3, 20, 11, 15, 9]  # room for all: as given
    assert fitted_widths(columns, 30, 2) == [3, 11, 11, 15, 9]  # the phone's digits end at 30 (its padding may go)
    assert fitted_widths(columns, 20, 2) == [3, 20, 11, 15, 9]  # cannot fit even at 8: left as it is (and marked)
    assert fitted_widths(columns, 45, 2) == [3, 20, 11, 15, 9]  # past the first text column: reached by scrolling
    # the grid at 80 columns less a scrollbar: status gives up 9 cells, the phone (14: +234…) is whole
    widths = fitted_widths(GRID_COLUMNS, 78, 2)
    assert widths[1] == 11 and sum(w + 2 for w in widths[:7]) - 1 <= 78


async def test_at_80x24_the_grid_shows_every_meter_and_phone_whole(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, quiet=True)
        grid = app.screen.grid
        for down in (0, 36):  # the first rows, then row 38: a 13-digit IBADAN meter, and the invalid rows
            await pilot.press(*["down"] * down)
            await pilot.pause()
            lines = shown_rows(app)
            rows = visible(grid)
            assert len(rows) > 10
            for row in rows:
                line = lines[row["row_number"]]
                for field in ("meter", "phone", "amount"):
                    assert shown_value(row, field) in line, (field, line)
        assert "0159006592509" in screen_text(app)  # the 13-digit meter
        assert not any(CUT in line[20:] for line in lines.values())  # after the status (text): nothing cut
    app.services.close()


async def test_where_the_edge_cuts_a_phone_or_a_meter_the_cut_side_says_so(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=(76, 24)) as pilot:  # too narrow for the phone, even with the status at its least
        await settle(pilot, quiet=True)
        grid = app.screen.grid
        lines = shown_rows(app)
        for row in visible(grid):
            line, phone = lines[row["row_number"]][:grid.scrollable_content_region.width], shown_value(row, "phone")
            assert phone not in line and line.rstrip().endswith(f"{shown_value(row, 'amount')}  {CUT}"), line  # not "0"
        grid.scroll_to(x=5, animate=False)  # scrolled sideways: the meter's first digits are out of view
        await pilot.pause()
        lines = shown_rows(app)
        for row in visible(grid):
            line, meter = lines[row["row_number"]], shown_value(row, "meter")
            assert f"{CUT}{meter[5:]}" in line and meter not in line, line  # 4 digits out of view, then the cut
    app.services.close()


async def test_at_80x24_the_results_show_meters_amounts_and_tokens_whole(tmp_path):
    app = demo_app(tmp_path, recover=False)
    as_a_run_left_it(app)
    as_production_paid_them(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(ResultsScreen(app.services.demo.batch_id))
        await pilot.pause(0.3)
        await pilot.press(*["down"] * 38)  # rows 36-39: a key-change token (+KCT), a bonus, a 13-digit meter
        await pilot.pause()
        table = app.screen.table
        lines = shown_rows(app)
        paid = [row for row in visible(table) if row["token"]]
        assert {36, 37, 38} <= {row["row_number"] for row in paid}
        for row in visible(table):
            line = lines[row["row_number"]]
            assert (row["meter"] or row["meter_raw"]) in line, line
        for row in paid:
            line = lines[row["row_number"]]
            token = "-".join(row["token"][i:i + 4] for i in range(0, 20, 4))
            assert token in line, line
        assert lines[36].rstrip().endswith(f"{token_of(lines[36])} {CUT}")  # "+KCT" cut: said so, the token whole
    app.services.close()


def token_of(line: str) -> str:
    return next(word for word in line.split() if word.count("-") == 4)


@pytest.mark.parametrize("room", range(40, 201))
def test_the_batches_name_column_takes_the_slack_so_no_count_is_cut(room):
    name, x = name_width(room), 0
    for key, _, width in BATCH_COLUMNS:
        width = name if key == "name" else width
        assert key == "name" or not x + 1 < room < x + 1 + width, (room, key)
        x += width + 2
    assert name in NAME_WIDTHS


async def test_at_80x24_the_batches_screen_names_repeat_and_meter_history(tmp_path):
    app = demo_app(tmp_path, open_batch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, quiet=True)
        assert isinstance(app.screen, BatchesScreen)
        text = screen_text(app).splitlines()
        assert text[1].strip() == "1 batch(es). Enter opens one · R repeats it for a new month · h meter history"
        assert text[-1].rstrip().endswith("^p palette")  # the footer as it was: nothing pushed out of it
        assert app.screen.name_width == name_width(80)
        await pilot.resize_terminal(90, 24)
        await settle(pilot)
        assert app.screen.name_width == name_width(90) and app.screen.table.row_count == 1
        await pilot.press("R")  # the keys the hint names do what it says
        await pilot.pause()
        assert "New batch from batch 1" in screen_text(app)
    app.services.close()
