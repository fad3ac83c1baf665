"""A meter's history across batches (issue 14, point 4): the services' read, `buypower-tui
history METER`, the search on the batches screen (`h`) and its snapshot.

Two batches share meter 04123456789: February's row was paid with key-change tokens (set in
the store directly, as BuyPower listed them: credit token first), March's is not paid yet."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import update

from buypower_tui.cli import main
from buypower_tui.core.models import Batch, Recipient
from buypower_tui.settings import ConfigError
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.screens.editor import EditorScreen
from buypower_tui.ui.screens.meter_history import MeterHistoryScreen
from buypower_tui.ui.screens.results import ResultsScreen
from tests.ui_support import SIZE, screen_text, services, settle, steady_screen  # noqa: F401 - autouse fixture

METER, OTHER = "04123456789", "45678901234"
TOKEN, KCT1, KCT2 = "31720000000000000003", "51200000000000000001", "88410000000000000002"
PAID_AT = datetime(2026, 2, 2, 9, 30, tzinfo=UTC)


def grouped(digits: str) -> str:
    return "-".join(digits[i:i + 4] for i in range(0, 20, 4))


@pytest.fixture
def svc(tmp_path):
    s = services()
    for name, created, rows in (("February", datetime(2026, 2, 1, 8, tzinfo=UTC), ((METER, 5000), (OTHER, 2000))),
                                ("March [/oops]", datetime(2026, 3, 1, 8, tzinfo=UTC), ((OTHER, 2000), (METER, 5500)))):
        path = tmp_path / f"{name[:5]}.csv"
        path.write_text("meter,disco,amount,phone\n" + "".join(f"{m},IKEJA,{a},08031234567\n" for m, a in rows))
        batch_id = s.import_sheet(path, name=name).batch_id
        with s.store.session() as session:
            session.exec(update(Batch).where(Batch.id == batch_id).values(created_at=created))
            session.commit()
    with s.store.session() as session:  # February's row paid: BuyPower lists the credit token first
        session.exec(update(Recipient).where(Recipient.batch_id == 1, Recipient.meter == METER).values(
            state="SUCCESS", order_id="order-1", token=TOKEN, units=Decimal("31.4"), receipt_no="RCPT-0001",
            paid_at=PAID_AT, parcels=[{"type": "TOKEN", "content": TOKEN}, {"type": "KCT1", "content": KCT1},
                                      {"type": "KCT2", "content": KCT2}]))
        session.commit()
    yield s
    s.close()


def test_every_row_of_the_meter_newest_first_with_its_tokens_in_typing_order(svc):
    found = svc.meter_history(" 0412-345 6789 ")  # as typed: spaces and dashes dropped
    assert found.meters == (METER,) and found.batches == 2
    march, february = found.rows
    assert (march.batch_id, march.batch_name, march.row_number, march.state, march.paid) == (
        2, "March [/oops]", 3, "VALID", False)
    assert march.at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC) and march.amount == Decimal("5500") and not march.tokens
    assert (february.batch_id, february.state, february.at, february.paid) == (1, "SUCCESS", PAID_AT, True)
    assert [t.kind for t in february.tokens] == ["KCT1", "KCT2", "TOKEN"]
    assert (february.units, february.receipt, february.order_id) == (Decimal("31.4"), "RCPT-0001", "order-1")
    # a meter that lost its leading 0 in a spreadsheet finds the 11-digit one too
    short = svc.meter_history(METER[1:])
    assert short.meters == (METER[1:], METER) and [r.row_id for r in short.rows] == [r.row_id for r in found.rows]
    assert svc.meter_history(OTHER).batches == 2 and not svc.meter_history("99999999999").rows
    for bad in ("12ab", "123", "", "12345678901234567"):
        with pytest.raises(ConfigError):
            svc.meter_history(bad)


def test_the_command_prints_the_rows_and_says_with_its_exit_code_whether_any_were_found(svc, capsys):
    assert main(["history", METER]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith(f"2 rows for meter {METER} in 2 batches, newest first")
    assert shown[2].startswith("2 March [/oops]") and "₦5,500.00" in shown[2] and "VALID" in shown[2]
    assert shown[3].startswith("1 February") and "2026-02-02 09:30" in shown[3] and "RCPT-0001" in shown[3]
    assert shown[3].endswith(f"KCT1 {grouped(KCT1)}, KCT2 {grouped(KCT2)}, token {grouped(TOKEN)}")

    assert main(["history", METER, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["batch"], r["row"], r["date_is"]) for r in rows] == [(2, 3, "batch created"), (1, 2, "paid")]
    assert rows[1] == {"meter": METER, "batch": 1, "batch_name": "February", "row": 2,
                       "date": "2026-02-02T09:30:00+00:00", "date_is": "paid", "amount": "5000.00",
                       "state": "SUCCESS", "tokens": [{"kind": "KCT1", "token": KCT1}, {"kind": "KCT2", "token": KCT2},
                                                      {"kind": "TOKEN", "token": TOKEN}],
                       "units": "31.4", "receipt": "RCPT-0001", "order_id": "order-1",
                       "approved_by": None}  # set in the store directly: no approval event

    assert main(["history", "99999999999", "--json"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "no rows for meter 99999999999 in any batch" in out.err
    assert main(["history", "0412x"]) == 2
    assert "not a meter number" in capsys.readouterr().err


async def test_h_on_the_batches_screen_finds_the_meter_and_enter_opens_the_row_in_its_batch(svc):
    app = BuyPowerApp(svc, recover=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, quiet=True)
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, MeterHistoryScreen)
        await pilot.press(*"0412x", "enter")
        await pilot.pause()
        assert "'0412x' is not a meter number" in screen_text(app)
        await pilot.press(*["backspace"] * 5, *METER, "enter")
        await pilot.pause()
        table = app.screen.table
        assert table.row_count == 2 and table.has_focus
        assert f"KCT1  {grouped(KCT1)}" in screen_text(app)

        await pilot.press("enter")  # March: not sent, so the editor, on that row
        await pilot.pause(0.2)
        editor = app.screen
        assert isinstance(editor, EditorScreen) and editor.batch_id == 2
        assert editor.current_row()["meter"] == METER
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert isinstance(app.screen, MeterHistoryScreen)

        await pilot.press("down", "enter")  # February: paid, so the results, on that row
        await pilot.pause(0.2)
        results = app.screen
        assert isinstance(results, ResultsScreen) and results.batch_id == 1
        assert results.row(results.table.current_id)["token"] == TOKEN
        await pilot.press("escape", "escape")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "BatchesScreen"


async def test_at_80_columns_every_number_is_whole_on_screen_and_a_resize_keeps_the_row(svc):
    with svc.store.session() as session:  # March's row has the meter as a spreadsheet left it: a Meter too
        session.exec(update(Recipient).where(Recipient.batch_id == 2, Recipient.meter == METER).values(meter=METER[1:]))
        session.commit()
    app = BuyPowerApp(svc, recover=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, quiet=True)
        await pilot.press("h", *METER[1:], "enter", "down")  # the cursor on February's paid row
        await pilot.pause()
        screen = app.screen
        for size in ((80, 24), (120, 36), (80, 24), (64, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            shown = screen_text(app)
            assert max(map(len, shown.splitlines())) <= size[0]
            for label, token in (("KCT1 ", KCT1), ("KCT2 ", KCT2), ("Token", TOKEN)):
                assert f"{label} {grouped(token)}" in shown, size
            for number in ("₦5,000.00", "₦5,500.00", "RCPT-0001", "31.4", f" {METER} ", f" {METER[1:]} "):
                assert number in shown, (size, number)
            assert not screen.cramped and screen.table.cursor_row == 1, size
            layout = [fields for fields, _ in screen.shown]
            if size[0] == 120:  # a column each
                assert all(len(fields) == 1 for fields in layout) and screen.table.header_height == 1
            else:  # the amount under the date, the receipt and the units under the state
                assert ("state", "receipt", "units") in layout and ("tokens",) in layout
        assert screen.table.get_row_height(screen.current()) == 4  # batch, meter, date, amount


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x36", "80x24"])
def test_meter_history_screen(snap_compare, svc, size):
    async def run_before(pilot):
        await settle(pilot, quiet=True)
        await pilot.press("h", *METER[1:], "enter")  # 10 digits: the 11-digit meter is found too
        await pilot.pause()

    assert snap_compare(BuyPowerApp(svc, recover=False), terminal_size=size, run_before=run_before)
