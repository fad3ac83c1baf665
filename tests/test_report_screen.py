"""The month on one page in the TUI (issue 14, point 5): F5 from anywhere, the CLI's table and
wallet lines, bar charts of naira paid per disco and per day, grouping (g), months ([ and ]),
saving as .xlsx, and snapshots at 120x36, 80x24 and with NO_COLOR.

The snapshots' month is February 2026, its rows set in the store directly with fixed times
(and two runs' reconciliations as events), so they never change with the day they run on. The
flow pays a batch on the sandbox this month, as an operator would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import update

from buypower_tui.core.models import Event, Recipient
from buypower_tui.core.run_log import NOTE, record_run
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.help import HelpModal
from buypower_tui.ui.modals.save_file import SaveFileModal
from buypower_tui.ui.screens.report import ReportScreen, ordinal, step
from buypower_tui.ui.widgets.bar_chart import Bar, column_bars, horizontal_bars
from tests.engine_helpers import cli, cli_sandbox
from tests.ui_support import SIZE, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture

MONTH = "2026-02"
SHEET = ("meter,disco,amount,phone,Estate\n"
         "45143922351,IKEJA,5000,08031234567,Sunrise\n"
         "45143922352,IKEJA,7500,08031234567,Sunrise\n"
         "45143922353,ABUJA,2500,08031234567,Lakeview\n"
         "45143922354,EKO,1200,08031234567,Lakeview\n"
         "45143922355,ABUJA,3000,08031234567,Sunrise\n"
         "45143922356,IBADAN,1500,08031234567,[/oops]\n")


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=UTC)


# sheet row -> (state, paid_at, updated_at): two days paid (the 3rd and the 14th), a failure, a
# pending order and a closed row, all in February
FEBRUARY = {2: ("SUCCESS", at(3), at(3)), 3: ("SUCCESS", at(14), at(14)), 4: ("SUCCESS", at(14, 15), at(14, 15)),
            5: ("FAILED", None, at(20)), 6: ("PENDING", None, at(27)), 7: ("CLOSED", None, at(10))}


@pytest.fixture
def february(tmp_path):
    """Batch 1 "February": rows paid, failed, pending and closed in February 2026; two runs
    that month (one read the wallet before and after, one could not)."""
    s = services()
    sheet = tmp_path / "february.csv"
    sheet.write_text(SHEET)
    batch_id = s.import_sheet(sheet, name="February").batch_id
    with s.store.session() as session:
        for row, (state, paid_at, updated_at) in FEBRUARY.items():
            session.exec(update(Recipient).where(Recipient.batch_id == batch_id, Recipient.row_number == row)
                         .values(state=state, paid_at=paid_at, updated_at=updated_at, order_id=f"order-{row}"))
        session.commit()
    record_run(s.store, batch_id, Decimal("100000"), Decimal("85000"), Decimal("15000"), 3, set())
    record_run(s.store, batch_id, None, None, Decimal("0"), 0, set())
    with s.store.session() as session:
        session.exec(update(Event).where(Event.note == NOTE).values(at=at(14, 16)))
        session.commit()
    yield s
    s.close()


def open_february(by: str = "disco"):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        pilot.app.push_screen(ReportScreen(MONTH, by))
        await settle(pilot, quiet=True)

    return run_before


# -- the pieces ---------------------------------------------------------------------------

def test_months_step_across_years_and_days_have_their_ordinals():
    assert step("2026-01", -1) == "2025-12" and step("2025-12", 1) == "2026-01" and step("2026-05", 0) == "2026-05"
    assert [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "14th", "21st", "22nd", "23rd", "31st"]


def test_bars_take_the_width_they_are_given_and_a_small_value_still_shows():
    bars = [Bar("IKEJA", 1_250_000, "₦12,500.00"), Bar("ABUJA", 250_000, "₦2,500.00"), Bar("EKO", 100, "₦1.00")]
    for width in (40, 76, 116):
        lines = horizontal_bars(bars, width).plain.splitlines()
        assert all(len(line) <= width for line in lines)
        assert len(lines[0]) == width  # the largest takes the whole room
        assert lines[2].endswith("₦1.00  ▏")  # a kobo is a sliver, never nothing
        assert lines[1].startswith("ABUJA   ₦2,500.00  █")  # the amounts line up, right-aligned
    days = [Bar(str(d), 1000 if d in (3, 14) else 0) for d in range(1, 29)]
    wide = column_bars(days, 116, 8).plain.splitlines()
    assert len(wide) == 10 and wide[-1].split() == [str(d) for d in range(1, 29)]  # one label a day, on one line
    narrow = column_bars(days, 60, 8).plain.splitlines()
    assert len(narrow) == 11 and all(len(line) <= 60 for line in narrow)
    assert narrow[-2].split() == ["1"] * 10 + ["2"] * 9 and narrow[-1] == " ".join("1234567890123456789012345678")
    tight = column_bars(days, 28, 8).plain.splitlines()  # one cell a day: tens over units, no gaps
    assert tight[-2].strip() == "1111111111222222222" and tight[-1] == "1234567890123456789012345678"


# -- the screen ---------------------------------------------------------------------------

@pytest.fixture
def paid_this_month(monkeypatch, capsys, tmp_path):
    """Batch 1 "march", paid on the sandbox now by the CLI: two rows paid (ABUJA), one failed
    for good and closed, one failed."""
    with cli_sandbox(monkeypatch, seed=21) as sandbox:
        sheet = tmp_path / "march.csv"
        sheet.write_text("meter,disco,amount,phone,Estate,Block\n"
                         "45143922351,ABUJA,1000,08031234567,Sunrise,A\n"
                         "45143922352,ABUJA,2500,08031234567,Sunrise,B\n"
                         "55500000007,ABUJA,1500,08031234567,Lakeview,A\n"
                         "55500000002,ABUJA,1200,08031234567,Lakeview,C\n")
        assert cli(capsys, sandbox, "import", str(sheet))[0] == 0
        code, out, err = cli(capsys, sandbox, "run", "1", "--yes")
        assert code == 1 and "2 SUCCESS" in out and "2 FAILED" in out, out + err
        assert cli(capsys, sandbox, "close", "1", "--rows", "4", "--note", "meter under maintenance")[0] == 0
        yield sandbox


async def test_f5_shows_the_month_as_the_cli_does_with_charts_groupings_months_and_a_saved_xlsx(
        paid_this_month, tmp_path):
    now = datetime.now().astimezone()
    month = f"{now:%Y-%m}"

    app = BuyPowerApp(services("--sandbox", "--base-url", paid_this_month.url), recover=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, quiet=True)
        await pilot.press("f5")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen) and app.screen.month == month
        shown = screen_text(app)
        abuja = next(line for line in shown.splitlines() if line.strip().startswith("ABUJA") and "₦1,200" in line)
        assert abuja.split() == ["ABUJA", "2", "₦3,500.00", "1", "₦1,200.00", "0", "—", "1"], abuja
        assert (f"{month} (local time, +00:00, sandbox batches only), by disco: a paid row counts in the month "
                "it was paid") in shown
        assert (f"wallet: 1 run in {month}; 1 read the balance before and after: it went down by ₦3,500.00, "
                "and their rows paid ₦3,500.00") in " ".join(shown.split())
        assert f"Naira paid per disco, {month}" in shown
        disco_bar = next(line for line in shown.splitlines() if line.strip().startswith("ABUJA") and "█" in line)
        assert "₦3,500.00" in disco_bar
        assert (f"Naira paid per day, {month}: the tallest bar is ₦3,500.00, on the {ordinal(now.day)}"
                in shown)
        assert "Group by (g): disco · batch · Estate · Block" in shown
        assert "[ Prev month" in shown and "] Next month" in shown and "g Group by" in shown and "o Save as" in shown

        await pilot.press("g")  # disco -> batch
        await settle(pilot)
        assert app.screen.by == "batch" and "1 march" in screen_text(app)
        await pilot.press("g")  # -> the Estate column kept from the sheet
        await settle(pilot)
        shown = screen_text(app)
        sunrise = next(line for line in shown.splitlines() if line.strip().startswith("Sunrise"))
        lakeview = next(line for line in shown.splitlines() if line.strip().startswith("Lakeview"))
        assert sunrise.split()[1:3] == ["2", "₦3,500.00"] and lakeview.split()[1:5] == ["0", "—", "1", "₦1,200.00"]

        await pilot.press("right_square_bracket")  # there is no later month to report yet
        await pilot.pause()
        assert app.screen.month == month and any("is this month" in n.message for n in app._notifications)

        # one payment moved to the month before: [ goes there, by Estate still
        before = (now.replace(day=1) - timedelta(days=1)).replace(day=15, hour=12)
        with app.services.store.session() as session:
            session.exec(update(Recipient).where(Recipient.row_number == 2).values(
                paid_at=before.astimezone(UTC)))
            session.commit()
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.screen.month == f"{before:%Y-%m}" and app.screen.by == "Estate"
        shown = screen_text(app)
        assert next(line for line in shown.splitlines() if line.strip().startswith("total")).split()[1:3] == [
            "1", "₦1,000.00"]
        assert "the tallest bar is ₦1,000.00, on the 15th" in shown
        assert f"wallet: no run in {before:%Y-%m} recorded the wallet" in " ".join(shown.split())
        await pilot.press("left_square_bracket")  # a month with nothing in it says so, without charts
        await settle(pilot)
        shown = screen_text(app)
        assert "Nothing was paid, failed, pending or closed in" in shown and "Naira paid per" not in shown
        assert app.screen.by == "disco" and "grouped by disco" in shown  # no row of it has an Estate
        await pilot.press("right", "right")
        await settle(pilot)
        assert app.screen.month == month

        out = tmp_path / "month.xlsx"
        await pilot.press("o")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SaveFileModal)
        assert dialog.query_one("#path").value == f"report-{month}-by-disco.xlsx"
        await pilot.press("ctrl+a", "ctrl+k", *str(tmp_path / "month.pdf"), "enter")
        await pilot.pause()
        assert app.screen is dialog  # the suffix says how it is written: .xlsx or .csv only
        await pilot.press("ctrl+a", "ctrl+k", *str(out), "enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert any(f"to {out}" in n.message for n in app._notifications)

        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal) and "Prev month" in screen_text(app)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "BatchesScreen"
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Report" in titles
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["by disco", "per day", "per disco", "wallet"]
    table = [[c.value for c in row] for row in wb["by disco"].iter_rows()]
    assert table[0][:3] == ["disco", "paid", "paid_naira"] and table[-1][:3] == ["TOTAL", 1, 2500]
    assert [row[0].value for row in wb["per disco"].iter_rows(min_row=2)] == ["ABUJA"]


async def test_the_month_set_in_the_store_groups_by_a_kept_column_and_names_the_tallest_day(february):
    app = BuyPowerApp(february, recover=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_february()(pilot)
        shown = screen_text(app)
        lines: dict[str, list[str]] = {}
        for line in shown.splitlines():  # the table's line, not the chart's (below it)
            if line.strip():
                lines.setdefault(line.split()[0], line.split())
        assert lines["IKEJA"][:3] == ["IKEJA", "2", "₦12,500.00"]
        assert lines["ABUJA"][:7] == ["ABUJA", "1", "₦2,500.00", "0", "—", "1", "₦3,000.00"]
        assert lines["total"] == ["total", "3", "₦15,000.00", "1", "₦1,200.00", "1", "₦3,000.00", "1"]
        assert "the tallest bar is ₦10,000.00, on the 14th" in shown
        assert "wallet: 1 run(s) could not read the balance and are not counted" in " ".join(shown.split())
        await pilot.press("g", "g")
        await settle(pilot)
        assert "[/oops]" in screen_text(app)  # a group name from the sheet, shown as written

        with february.store.session() as session:  # nothing paid, rows failed: the table, no charts
            session.exec(update(Recipient).where(Recipient.state == "SUCCESS").values(state="FAILED", paid_at=None))
            session.commit()
        await pilot.press("r")
        await settle(pilot)
        shown = screen_text(app)
        assert "Nothing was paid in 2026-02: no chart to draw." in shown and "Naira paid per" not in shown
        assert next(line for line in shown.splitlines() if line.strip().startswith("total")).split()[3:5] == [
            "4", "₦16,200.00"]

        app.push_screen(ReportScreen("1999-12"))  # a month that cannot be reported says why
        await settle(pilot)
        assert "1999-12: '1999-12' is not a month we could have paid in" in screen_text(app)


# -- snapshots ----------------------------------------------------------------------------

def test_report_screen(snap_compare, february):
    assert snap_compare(BuyPowerApp(february, recover=False), terminal_size=SIZE, run_before=open_february())


def test_report_screen_80x24(snap_compare, february):
    assert snap_compare(BuyPowerApp(february, recover=False), terminal_size=(80, 24), run_before=open_february())


def test_report_screen_80x24_scrolled_to_the_day_chart(snap_compare, february):
    async def run_before(pilot):
        await open_february()(pilot)
        await pilot.press("end")  # the body scrolls: the day chart is below the table, never cut
        await pilot.pause()

    assert snap_compare(BuyPowerApp(february, recover=False), terminal_size=(80, 24), run_before=run_before)


def test_report_screen_no_color(snap_compare, february, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")  # the bars are characters: they read the same without colour
    assert snap_compare(BuyPowerApp(february, recover=False), terminal_size=SIZE,
                        run_before=open_february("Estate"))
