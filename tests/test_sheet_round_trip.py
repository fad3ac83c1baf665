"""Sheets out and back (issue 13): the template imports as one valid row, and a corrected
invalid-rows export merges into its batch in place."""

from __future__ import annotations

import csv

import openpyxl
import pytest
from sqlalchemy import update

from buypower_tui.cli import build_parser, main
from buypower_tui.core.models import Recipient
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from buypower_tui.services import Context, Services
from buypower_tui.ui.modals.report import ReportModal
from buypower_tui.ui.screens.editor import EditorScreen
from tests.ui_support import SIZE, demo_app, settle, steady_screen  # noqa: F401 - autouse fixture

HEADER = "Meter Number,Disco,Amount,Phone,Name\n"
ROWS = ("12345678910,ABUJA,5000,08034210294,Ada\n"
        "62010000001,EKO,50,08031234567,Bola\n"      # row 3: amount too small
        "04271892301,IKEDC,2000,0803123,Chi\n"       # row 4: phone too short
        "4271892311,EKO,3000,08031234567,Dayo\n"     # row 5: meter lost its 0
        "62010000002,EKO,40,08031234567,Efe\n")      # row 6: amount too small; gets an orderId meanwhile


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_template_round_trip_imports_one_valid_row(tmp_path, capsys):
    services = Services(Context(build_parser().parse_args(["batches"])), face="cli")
    try:
        for name in ("t.xlsx", "t.csv"):
            path = services.write_template(tmp_path / name)
            report = services.import_sheet(path)
            assert (report.rows, report.valid, report.invalid, report.warnings) == (1, 1, 0, 0), name
    finally:
        services.close()
    assert (tmp_path / "t.csv").read_bytes().startswith(b"\xef\xbb\xbfmeter,disco,amount,phone,vend_type,name,email")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    assert [c.value for c in ws[1]] == ["meter", "disco", "amount", "phone", "vend_type", "name", "email"]
    assert ws.column_dimensions["A"].number_format == ws.column_dimensions["D"].number_format == "@"
    assert ws["A2"].number_format == "@" and ws["A2"].data_type == "s"
    (rule,) = ws.data_validations.dataValidation
    assert rule.type == "list" and "IKEJA" in rule.formula1 and str(rule.sqref).startswith("B2:B")

    assert run(capsys, "template", str(tmp_path / "t.xlsx"))[0] == 2  # never over a file without --force
    assert run(capsys, "template", str(tmp_path / "t.xlsx"), "--force")[0] == 0
    code, _, err = run(capsys, "template", str(tmp_path / "t.ods"))
    assert code == 2 and "as .xlsx" in err and "or .csv" in err


def test_a_corrected_invalid_rows_export_merges_into_its_batch(tmp_path, capsys):
    sheet = tmp_path / "estate.csv"
    sheet.write_text(HEADER + ROWS)
    assert run(capsys, "import", str(sheet))[0] == 1
    fix = tmp_path / "fix.csv"
    code, _, err = run(capsys, "export", "1", "--invalid", "-o", str(fix))
    assert code == 0 and f"import {fix} --into 1" in err
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    before = {r.row_number: r for r in store.rows(1)}
    with store.session() as s:  # another process approved row 6 meanwhile
        s.exec(update(Recipient).where(Recipient.id == before[6].id).values(order_id="bp-6", state="APPROVED"))
        s.commit()

    lines = list(csv.reader(fix.open(encoding="utf-8-sig")))  # with a BOM, so Excel reads it as UTF-8
    assert [line[0] for line in lines] == ["row", "3", "4", "5", "6"]
    assert lines[0][-2:] == ["batch", "version"]
    lines[1][3], lines[3][1], lines[4][3] = "2500", "04271892311", "4000"  # row 4 left as it was
    lines[2][4] = lines[2][4].lstrip("0")  # Excel dropped the phone's leading 0: not a change
    lines.append(["99", "62010000003", "EKO", "1000", "", "", "", "", "", "1", ""])
    with fix.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(lines)

    code, out, _ = run(capsys, "import", str(fix), "--into", "1")
    assert code == 1  # row 4 is still invalid, row 6 refused, row 99 not in the batch
    assert "row 3: amount '50' -> '2500'; now VALID" in out
    assert "row 5: meter '4271892311' -> '04271892311'; now VALID" in out
    assert "row 6: refused, left as it was: has an orderId (bp-6)" in out
    assert "rows 99" in out and "unchanged: rows 4" in out and "still to fix: rows 4" in out

    after = {r.row_number: r for r in store.rows(1)}
    store.close()
    assert {n: r.id for n, r in after.items()} == {n: r.id for n, r in before.items()}  # in place
    assert [after[n].state for n in (2, 3, 4, 5, 6)] == ["VALID", "VALID", "INVALID", "VALID", "APPROVED"]
    assert (after[3].amount_raw, after[5].meter) == ("2500", "04271892311")
    assert (after[6].amount_raw, after[6].order_id) == ("40", "bp-6")
    assert run(capsys, "import", str(sheet), "--into", "1")[0] == 2  # no 'row' column: refused whole
    # The same file again: the merged rows are as it says (unchanged), and the row changed by hand
    # since the export is not put back as the file had it.
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    with store.session() as s:
        s.exec(update(Recipient).where(Recipient.id == before[4].id).values(name_raw="Chidi"))
        s.commit()
    store.close()
    lines[2][6] = "Chi (sister)"
    with fix.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(lines)
    code, out, _ = run(capsys, "import", str(fix), "--into", "1")
    assert "row 4: refused, left as it was: changed since the file was exported" in out
    assert "unchanged: rows 3, 5" in out
    # A file without the export's version column cannot say which rows are as exported.
    with fix.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([line[:-1] for line in lines])
    code, _, err = run(capsys, "import", str(fix), "--into", "1")
    assert code == 2 and "no 'version' column" in err
    # The export names its batch: the same sheet row numbers in another batch are other people.
    assert run(capsys, "import", str(sheet))[0] == 1  # batch 2
    code, _, err = run(capsys, "import", str(fix), "--into", "2")
    assert code == 2 and "came from batch 1" in err and "Nothing was merged" in err


async def test_in_the_tui_a_template_is_written_and_a_corrected_file_merged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = demo_app(tmp_path, open_batch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "ctrl+t")  # the dialog writes a template into the folder it shows
        written = tmp_path / "recipients-template.xlsx"
        for _ in range(100):  # not settle(): the dialog's tree keeps a loader worker waiting
            await pilot.pause(0.05)
            if any(str(written) in n.message for n in app._notifications):
                break
        assert written.is_file() and any(str(written) in n.message for n in app._notifications)
        await pilot.press("escape")

        fix = tmp_path / "fix.csv"
        app.services.export_invalid(1, fix)  # the editor's x
        lines = list(csv.reader(fix.open(encoding="utf-8")))
        assert lines[1][:2] == ["29", "4271892311"]
        lines[1][1] = "04271892311"
        with fix.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(lines)

        await pilot.press("m")  # m: the dialog with "merge into batch 1" ticked
        await pilot.pause()
        app.screen.query_one("#path").value = str(fix)  # typed, without a key press per character
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause(0.2)
        assert isinstance(app.screen, ReportModal)
        assert "row 29: meter '4271892311' -> '04271892311'; now VALID" in app.screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen) and app.screen.batch_id == 1

        def row29() -> dict:
            return next(r for r in app.services.grid_rows(1) if r["row_number"] == 29)

        assert row29()["state"] == "VALID" and row29()["meter_raw"] == "04271892311"
        await pilot.press("ctrl+z")  # one undo step puts the merge back
        await settle(pilot)
        assert row29()["state"] == "INVALID" and row29()["meter_raw"] == "4271892311"


@pytest.mark.parametrize("field,old,new,same", [
    ("meter", "04271892301", "4271892301", True),  # Excel dropped the 0 of a number-like cell
    ("meter", "04271892301", "4271892302", False),
    ("meter", "4271892301", "04271892301", False),  # the operator added the lost 0: a change
    ("name", "Adẹbáyọ̀", "Ad?b\xe1y??", True),  # saved as plain "CSV": the letters it has not became "?"
    ("name", "Ada", "Ad?", False),
    ("amount", "=1+1", "'=1+1", True),  # our export's neutralised formula, read back
])
def test_what_a_spreadsheet_did_to_a_cell_is_not_a_change_to_merge(field, old, new, same):
    from buypower_tui.core.merging import _same

    assert _same(field, old, new) is same
