"""Issue 14: the import keeps a sheet's other columns (Flat, Block…), and `repeat` / R makes this
month's batch from last month's: the same recipients checked again, nothing of the payments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import update

from buypower_tui.cli import main
from buypower_tui.core.headers import read_header
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.repeat import parse_amount_change
from buypower_tui.core.rules import Limits
from buypower_tui.core.sheets import Source
from buypower_tui.core.store import Store
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.repeat_batch import RepeatModal
from buypower_tui.ui.screens.editor import EditorScreen
from tests.ui_support import FIXED_TIME, SIZE, demo_app, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture

S = RowState
KEY = "0123456789abcdef" * 4  # what an API key looks like: never stored
SAMPLE = Path(__file__).parent.parent / "buypower_tui/data/sample-recipients.csv"
SHEET = ("Meter Number,Flat,Disco,Amount,Phone,Notes,Notes,Paid %\n"
         "04271892301,3B,IKEJA,\"2,345\",08031234567, ground floor ,x,10\n"
         "04271892302,4A,EKO,1000.50,08031234567,,,\n"
         f"04271892302,4A,EKO,1000.50,08031234567,{KEY},,\n"  # the same meter again; a key in a kept column
         "1234,5C,EKO,2500,08031234567,,,\n"  # a meter too short: invalid
         "04271892305,6D,EKO,99000,08031234567,,,\n"  # +10% takes it over the maximum
         "04271892306,7E,KANO\n")  # cells missing: invalid for that, whatever its values say


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(db: Path, batch_id: int) -> dict[int, Recipient]:
    store = Store.open(f"sqlite:///{db}")
    try:
        return {r.row_number: r for r in store.rows(batch_id)}
    finally:
        store.close()


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def imported(tmp_path, db, capsys) -> list[str]:
    """Batch 1 from SHEET; the argv prefix of every command."""
    sheet = tmp_path / "march.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    cli = ["--db", f"sqlite:///{db}", "--sandbox"]
    code, out, _ = run(capsys, *cli, "import", str(sheet))
    assert code == 1 and "kept columns: Flat, Notes, Notes (2), Paid %" in out and "ignored" not in out
    return cli


def test_the_import_keeps_a_csvs_other_columns_and_masks_a_key_there(imported, db):
    got = rows(db, 1)
    assert got[2].extras == {"Flat": "3B", "Notes": "ground floor", "Notes (2)": "x", "Paid %": "10"}
    assert list(got[2].extras) == ["Flat", "Notes", "Notes (2)", "Paid %"]  # the sheet's order
    assert got[3].extras == {"Flat": "4A"}  # an empty cell costs nothing to store
    assert KEY not in str(got[4].extras) and got[4].state == S.VALID  # a warning: not the payment's column
    assert any("column 'Notes' holds what looks like an API key" in w["message"] for w in got[4].warnings)
    assert got[7].extras["Flat"] == "7E" and got[7].state == S.INVALID


def test_the_import_keeps_a_workbooks_other_columns(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Block", "Meter Number", "Disco", "Amount", "Phone", "Flat"])
    ws.append(["A", "04271892301", "IKEJA", 5000, "08031234567", 3])  # a number in a kept column
    ws.append([None, "04271892302", "IKEJA", 5000, "08031234567"])  # empty cells: a workbook omits them
    wb.save(tmp_path / "book.xlsx")
    s = services("--db", f"sqlite:///{tmp_path / 'x.db'}", "--sandbox")
    try:
        report = s.import_sheet(tmp_path / "book.xlsx")
        assert report.kept_columns == ["Block", "Flat"] and report.valid == 2
        grid = s.grid_rows(report.batch_id)
        assert [r["extras"] for r in grid] == [{"Block": "A", "Flat": "3"}, None]
        assert s.extra_columns(report.batch_id) == ["Block", "Flat"]
        # the same recipient, whatever the editor does: a copy, a delete and its undo keep them
        copy = s.copy_row(grid[0]["id"])
        assert copy.extras == {"Block": "A", "Flat": "3"}
        s.delete_rows(report.batch_id, [grid[0]["id"]])
        s.undo(report.batch_id)
        assert s.grid_rows(report.batch_id)[0]["extras"] == {"Block": "A", "Flat": "3"}
        plain = s.import_sheet(SAMPLE)
        assert plain.kept_columns == [] and {r["extras"] for r in s.grid_rows(plain.batch_id)} == {None}
    finally:
        s.close()


def test_a_sheet_cannot_make_its_kept_columns_cost_more_than_its_cells(tmp_path, capsys):
    names = ["N" * 100, *(f"c{i}" for i in range(2, 56))]  # 55 other columns, one with a long name
    sheet = tmp_path / "wide.csv"
    sheet.write_text("meter,disco,amount,phone," + ",".join(names) + "\n04271892301,EKO,1000,08031234567,"
                     + ",".join("x" * len(names)) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "import", str(sheet))
    assert code == 0 and f"kept columns: {'N' * 63}…, c2, " in out
    assert "ignored columns (only the first 50 other columns are kept): c51, c52, c53, c54, c55" in out
    (row,) = rows(tmp_path / "x.db", 1).values()
    assert len(row.extras) == 50 and row.extras["c50"] == "x"


def test_a_merge_never_takes_the_exports_own_columns_for_the_sheets():
    cells = ["row", "Meter", "Disco", "Amount", "problems", "batch", "version", "Flat"]
    header = read_header(Path("fixed.csv"), cells, 1, Source(iter(()), strict_width=True), numbered=True)
    assert header.extras == ((7, "Flat"),)
    keyed = read_header(Path("a.csv"), ["meter", "disco", "amount", KEY], 1, Source(iter(()), strict_width=True))
    assert KEY not in keyed.extras[0][1]  # a column's name is stored with every row: never a key


def test_repeat_carries_the_recipients_and_nothing_of_the_payments(imported, db, capsys):
    store = Store.open(f"sqlite:///{db}")
    try:  # last month: row 2 paid, the duplicate pair accepted, row 5 deleted
        with store.engine.begin() as conn:
            t = Recipient.__table__
            conn.execute(update(t).where(t.c.row_number == 2).values(
                state=S.SUCCESS, order_id="ord-1", token="12345678901234567890", customer_name="ADA OBI"))
            conn.execute(update(t).where(t.c.row_number.in_([3, 4])).values(duplicate_accepted=True))
            conn.execute(t.delete().where(t.c.row_number == 5))
    finally:
        store.close()
    code, out, _ = run(capsys, *imported, "repeat", "1")
    assert code == 1  # row 7 is still invalid
    assert out.startswith("batch 2 created from batch 1: 5 rows (4 valid, 1 invalid)\n")
    assert "name: march (from batch 1); mode: sandbox" in out and "row 7: row has 3 cells" in out
    assert "meter 04271892302 appears 2 times" in out  # accepted last month, asked again
    old, new = rows(db, 1), rows(db, 2)
    assert sorted(new) == [2, 3, 4, 6, 7]  # the deleted row is not there; the others keep their numbers
    for n, row in new.items():
        assert (row.order_id, row.token, row.customer_name, row.duplicate_accepted) == (None, None, None, False)
        assert row.extras == old[n].extras and row.amount_raw == old[n].amount_raw
    assert new[2].state == S.VALID and new[7].state == S.INVALID  # its cells are still missing
    assert run(capsys, *imported, "repeat", "9")[0] == 2  # no such batch
    code, out, _ = run(capsys, *imported, "repeat", "2", "--name", "April")
    assert code == 1 and out.startswith("batch 3 created from batch 2:") and "name: April;" in out


def test_repeat_with_an_amount_change(imported, db, capsys):
    code, out, _ = run(capsys, *imported, "repeat", "1", "--amount", "+10%")
    assert code == 1 and "every amount +10% (rounded half-up to the naira)" in out
    new = rows(db, 2)
    assert [new[n].amount for n in (2, 3)] == [Decimal("2580"), Decimal("1101")]  # 2,579.50 and 1,100.55
    assert new[6].amount_raw == "108900" and new[6].amount is None  # out of range: no amount to pay
    assert new[6].state == S.INVALID and "above the maximum" in new[6].errors[0]["message"]
    run(capsys, *imported, "repeat", "1", "--amount", "-5%")
    assert rows(db, 3)[2].amount == Decimal("2228")  # 2,227.75
    run(capsys, *imported, "repeat", "1", "--amount", "5,000")
    assert {r.amount for r in rows(db, 4).values() if r.amount is not None} == {Decimal("5000")}
    for bad in ("50", "-100%", "ten", "+100000000000000000000000000000%"):  # refused, nothing made
        code, _, err = run(capsys, *imported, "repeat", "1", "--amount", bad)
        assert code == 2 and err
    assert [b.id for b in Store.open(f"sqlite:///{db}").batches()] == [1, 2, 3, 4]


def test_a_repeat_of_a_batch_whose_rows_are_all_valid_exits_0(tmp_path, capsys):
    cli = ["--db", f"sqlite:///{tmp_path / 'x.db'}", "--sandbox"]
    assert run(capsys, *cli, "import", str(SAMPLE))[0] == 0
    code, out, _ = run(capsys, *cli, "repeat", "1", "--amount", "2000")
    assert code == 0 and out.startswith("batch 2 created from batch 1: 12 rows (12 valid, 0 invalid)")


@pytest.mark.parametrize(("text", "fixed", "percent"), [
    ("₦5,000", Decimal("5000"), None), ("+7.5%", None, Decimal("7.5")), ("10 %", None, Decimal("10")),
    ("−5%", None, Decimal("-5")),
])
def test_amount_changes_are_read(text, fixed, percent):
    change = parse_amount_change(text, Limits())
    assert (change.fixed, change.percent) == (fixed, percent)


async def test_R_on_the_batches_screen_makes_the_new_batch_and_opens_it(tmp_path):
    s = services("--db", f"sqlite:///{tmp_path / 'x.db'}", "--sandbox", "--base-url", "http://127.0.0.1:9/v2")
    sheet = tmp_path / "march.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    s.import_sheet(sheet)
    app = BuyPowerApp(s)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, RepeatModal) and "march (from batch 1)" in screen_text(app)
        await pilot.press("tab", *"-200%", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RepeatModal) and "above -100%" in screen_text(app)  # said, not made
        await pilot.press(*["backspace"] * 5, *"+10%", "enter")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen) and app.screen.batch_id == 2
        assert "Flat: 3B, Notes: ground floor" in screen_text(app)  # the row detail shows the kept columns
        new = {r["row_number"]: r for r in app.services.grid_rows(2)}
        assert new[2]["amount_kobo"] == 258000 and new[2]["extras"]["Flat"] == "3B"


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x36", "80x24"])
def test_snapshot_repeat_dialog_with_a_message(snap_compare, tmp_path, size):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("R", "tab", *"+10")  # a percentage without its %: said under the field

    assert snap_compare(demo_app(tmp_path, open_batch=False), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x36", "80x24"])
def test_snapshot_repeat_dialog_with_closed_rows_and_meters_paid_recently(snap_compare, tmp_path, size):
    """Said before Enter, and it fits at 80x24: the rows left out and the meters paid recently
    (paid at a fixed time, changed just now: inside the window, the same text every day)."""
    app = demo_app(tmp_path, open_batch=False)
    with app.services.store.engine.begin() as conn:
        t = Recipient.__table__
        conn.execute(update(t).where(t.c.row_number.in_([2, 3, 4])).values(
            state=S.SUCCESS, order_id="ord-" + t.c.row_number, token="12345678901234567890", paid_at=FIXED_TIME,
            updated_at=datetime.now(UTC)))
        conn.execute(update(t).where(t.c.row_number.in_([5, 6])).values(state=S.CLOSED))

    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("R")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_a_row_closed_last_month_is_left_out_of_the_repeat_and_named(imported, db, capsys):
    from buypower_tui.core import closing

    store = Store.open(f"sqlite:///{db}")
    try:
        (row_5,) = [r.id for r in store.rows(1) if r.row_number == 5]  # INVALID (meter too short)
        closing.close_rows(store, [row_5], "tenant moved out")
    finally:
        store.close()
    code, out, _ = run(capsys, *imported, "repeat", "1")
    assert "left out, closed in batch 1: row 5" in out
    assert 5 not in rows(db, 2)  # a closed recipient is not paid again unasked


def paid_and_closed(db: Path, paid: dict[int, timedelta], closed: tuple[int, ...] = ()) -> None:
    """Rows of batch 1 (by sheet row) paid that long ago, and rows closed."""
    from buypower_tui.core import closing

    store = Store.open(f"sqlite:///{db}")
    try:
        with store.engine.begin() as conn:
            t = Recipient.__table__
            for number, ago in paid.items():
                at = datetime.now(UTC) - ago
                conn.execute(update(t).where(t.c.batch_id == 1, t.c.row_number == number).values(
                    state=S.SUCCESS, order_id=f"ord-{number}", token="12345678901234567890", paid_at=at,
                    updated_at=at))
        if closed:
            closing.close_rows(store, [r.id for r in store.rows(1) if r.row_number in closed], "tenant moved out")
    finally:
        store.close()


def test_a_repeat_soon_after_a_run_names_the_meters_paid_within_the_duplicate_window(imported, db, capsys,
                                                                                      monkeypatch):
    """The run's guard asks about the same meter AND amount only: `repeat --amount +10%` minutes
    after a run would pay the same meters again unasked. The repeat says so; its exit code stays."""
    paid_and_closed(db, {2: timedelta(minutes=5), 3: timedelta(hours=2), 6: timedelta(days=9)}, closed=(5,))
    code, out, _ = run(capsys, *imported, "repeat", "1", "--amount", "+10%")
    assert code == 1  # row 7 is still invalid: the warning changes nothing
    (warning,) = [line for line in out.splitlines() if line.startswith("warning: ") and "duplicate window" in line]
    # the latest first; one paid 9 days ago is not named
    assert warning.startswith("warning: 2 of these meters were paid in the last 7 days or are being paid: "
                              "04271892301 (batch 1, ")
    assert "04271892302 (batch 1, " in warning and "04271892305" not in warning
    assert "a run asks again about a meter paid within the duplicate window only when the amount is the same" in warning
    monkeypatch.setenv("BUYPOWER_DUPLICATE_WINDOW_DAYS", "30")
    code, out, _ = run(capsys, *imported, "repeat", "1")
    assert code == 1 and "warning: 3 of these meters were paid in the last 30 days or are being paid" in out
    monkeypatch.setenv("BUYPOWER_DUPLICATE_WINDOW_DAYS", "1")
    code, out, _ = run(capsys, *imported, "repeat", "1")
    assert "warning: 2 of these meters were paid in the last 24 hours or are being paid" in out


def test_a_repeat_of_a_batch_paid_long_ago_warns_of_nothing(imported, db, capsys):
    paid_and_closed(db, {2: timedelta(days=31)})
    code, out, _ = run(capsys, *imported, "repeat", "1")
    assert code == 1 and "duplicate window" not in out


async def test_the_repeat_dialog_names_the_closed_rows_left_out_and_the_meters_paid_recently(tmp_path):
    db = tmp_path / "x.db"
    s = services("--db", f"sqlite:///{db}", "--sandbox", "--base-url", "http://127.0.0.1:9/v2")
    sheet = tmp_path / "march.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    s.import_sheet(sheet)
    paid_and_closed(db, {2: timedelta(minutes=5)}, closed=(5, 7))
    app = BuyPowerApp(s)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause()
        text = screen_text(app)
        assert isinstance(app.screen, RepeatModal)
        assert "The 4 rows of “march” (2 closed rows left out), checked again" in text  # before Enter, not after
        assert "Paid recently: 1 of these meters was paid in the last 7 days or is being paid" in " ".join(text.split())
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EditorScreen) and len(app.services.grid_rows(2)) == 4
