"""Sheets as offices make them in Excel: plain "CSV" (cp1252, "?" for ₦), meters stored as
numbers, a title above the header, a TOTAL row under the data. Each table row is one quirk."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buypower_tui.core.importing import import_file
from buypower_tui.core.models import RowState
from buypower_tui.core.rules import Limits
from buypower_tui.core.sheets import FileError
from buypower_tui.core.store import Store

LIMITS = Limits()


def imported(path: Path, **options):
    """(report, {sheet row: row}) of `path` imported into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/s.db")
        try:
            report = import_file(path, store, LIMITS, **options)
            return report, {r.row_number: r for r in store.rows(report.batch_id)}
        finally:
            store.close()


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding, errors="replace"))
    return path


def workbook(tmp_path: Path, rows: list[list], name: str = "sheet.xlsx") -> Path:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    wb.save(tmp_path / name)
    return tmp_path / name


# -- Excel's plain "CSV" --------------------------------------------------------------------

# Excel's "CSV" writes ₦ as "?" and ọ (which cp1252 lacks) too; é it keeps, as one byte.
CP1252_SHEET = ("Meter,Disco,Amount (₦),Phone,Name\r\n"
                "04271892301,IKEJA,\"₦5,500.00\",08031234567,Adébáyọ Ọlá\r\n"
                "04271892302,EKO,₦ 1000,08031234567,Chidi Okeke\r\n"
                "04271892303,ABUJA,2500,08031234567,José\r\n")


@pytest.mark.parametrize("encoding,read_as,fixed,lost", [
    ("cp1252", "cp1252", 2, 1),  # é makes it cp1252; "?" for ₦ and for ọ
    ("ascii", "ascii", 2, 1),  # nothing but ASCII left: the "?" still says what was lost
])
def test_a_plain_csv_reads_question_marks_as_naira_and_warns_of_lost_letters(tmp_path, encoding, read_as,
                                                                            fixed, lost):
    text = CP1252_SHEET if encoding == "cp1252" else CP1252_SHEET.replace("é", "e").replace("á", "a")
    report, rows = imported(write(tmp_path, text, encoding))
    assert report.encoding == read_as
    assert (report.valid, report.invalid, report.naira_fixed, report.names_lost) == (3, 0, fixed, lost)
    assert rows[2].amount == Decimal("5500.00") and rows[2].amount_raw == "₦5,500.00"
    assert rows[3].amount == Decimal("1000.00")
    amount, name = rows[2].warnings  # each names its cell
    assert amount["field"] == "amount" and "read as ₦5,500.00" in amount["message"]
    assert name["field"] == "name" and "'?' where a letter was" in name["message"]
    assert [w["field"] for w in rows[3].warnings] == ["amount"] and rows[4].warnings is None
    (notice,) = report.notices
    assert '"CSV" rather than "CSV UTF-8"' in notice
    assert "2 amounts had \"?\" for ₦" in notice and "1 name lost letters" in notice


def test_a_csv_utf8_file_keeps_a_question_mark_an_error(tmp_path):
    # Excel's "CSV UTF-8" (with its BOM) holds ₦: a "?" there is what someone typed.
    report, rows = imported(write(tmp_path, "\ufeffmeter,disco,amount,phone\n04271892301,IKEJA,?500,08031234567\n"))
    assert report.encoding == "utf-8-bom" and report.invalid == 1 and not report.notices
    assert "not a naira amount" in rows[2].errors[0]["message"]


# -- meters stored as numbers ---------------------------------------------------------------

@pytest.mark.parametrize("meter,vend_type,state,kind", [
    (42718923010, "PREPAID", RowState.VALID, "warning"),  # 11 digits
    (4271892301000, "PREPAID", RowState.VALID, "warning"),  # 13 digits
    (4271892301, "PREPAID", RowState.INVALID, "fix"),  # one short of 11: the 0 proposed
    (427189230100, "PREPAID", RowState.INVALID, "fix"),  # one short of 13
    (42718923, "PREPAID", RowState.INVALID, "error"),  # too short to be a lost 0
    (12345, "POSTPAID", RowState.INVALID, "fix"),  # one short of the postpaid minimum (6)
    (123456, "POSTPAID", RowState.VALID, "warning"),
])
def test_numeric_meter_cells(tmp_path, meter, vend_type, state, kind):
    path = workbook(tmp_path, [["meter", "disco", "amount", "phone", "vend type"],
                               [meter, "IKEJA", 1000, 8031234567, vend_type]])
    report, rows = imported(path)
    row = rows[2]
    assert row.state == state
    problem = (row.warnings if state == RowState.VALID else row.errors)[0]
    assert problem["field"] == "meter" and problem["stored"]
    assert "stored as a number in the sheet" in problem["message"]
    assert ("fix" in problem) == (kind == "fix")
    if kind == "fix":
        assert problem["fix"] == {"meter": f"0{meter}"}
        fixed, rows = imported(path, fix_leading_zeros=True)
        assert rows[2].state == RowState.VALID and rows[2].meter == f"0{meter}"
        assert fixed.zeros_fixed == 1 and "0 was added" in rows[2].warnings[0]["message"]
    assert rows[2].phone == "08031234567"  # a phone stored as a number keeps today's rule


# -- a title above the header; TOTAL rows ---------------------------------------------------

def test_title_lines_above_the_header_are_skipped_and_named(tmp_path):
    text = ("Sunrise Estate: electricity for March,,,\n"
            "prepared by the office,,,\n"
            ",,,\n"
            "Meter No,DISCO,Amount,Phone\n"
            "04271892301,IKEJA,1000,08031234567\n")
    report, rows = imported(write(tmp_path, text))
    assert report.title_rows == [1, 2] and list(rows) == [5] and rows[5].state == RowState.VALID
    assert "Skipped title lines above the header (rows 1, 2)." in report.notices


def test_a_title_without_separators_does_not_hide_the_delimiter(tmp_path):
    report, rows = imported(write(tmp_path, "Payments for March\nmeter;disco;amount;phone\n"
                                            "04271892301;IKEJA;1000;08031234567\n"))
    assert report.title_rows == [1] and rows[3].state == RowState.VALID


def test_no_header_in_the_first_ten_rows_is_refused_naming_the_first(tmp_path):
    text = "".join(f"note {i},,\n" for i in range(10)) + "meter,disco,amount\n04271892301,IKEJA,1000\n"
    with pytest.raises(FileError) as caught:
        imported(write(tmp_path, text))
    assert "(row 1) has no column for meter, disco, amount" in str(caught.value)


@pytest.mark.parametrize("total,difference", [("6,000.00", Decimal(0)), ("₦6,500", Decimal(500)),
                                              ("", None)])
def test_a_total_row_is_skipped_and_compared_with_the_rows_above(tmp_path, total, difference):
    text = ("S/N,Meter,Disco,Amount,Phone\n"
            "1,04271892301,IKEJA,1000,08031234567\n"
            "2,04271892302,IKEJA,\"2,000\",08031234567\n"
            "\n"
            "3,04271892303,IKEJA,3000,08031234567\n"
            f",Total:,,\"{total}\",\n")
    report, rows = imported(write(tmp_path, text))
    assert list(rows) == [2, 3, 5] and report.blank_rows == 1
    (found,) = report.totals
    assert (found.row, found.label, found.computed, found.rows) == (6, "Total", Decimal(6000), 3)
    assert found.difference == difference
    notice = next(n for n in report.notices if n.startswith("Total:"))
    if difference == 0:
        assert "matches the rows above it" in notice
    elif difference:
        assert "a difference of ₦500.00" in notice
    else:
        assert "no amount to compare" in notice


def test_subtotals_cover_the_rows_since_the_last_one_and_a_grand_total_all(tmp_path):
    path = workbook(tmp_path, [["meter", "disco", "amount"],
                               ["04271892301", "EKO", 1000], ["04271892302", "EKO", 2000],
                               ["SUBTOTAL", None, 3000],
                               ["04271892303", "EKO", 150000],  # over the maximum: still in the sum
                               ["sub total", None, 150000],
                               ["GRAND TOTAL", None, 153000]])
    report, rows = imported(path)
    assert [(t.label, t.computed, t.difference) for t in report.totals] == [
        ("SUBTOTAL", 3000, 0), ("sub total", 150000, 0), ("GRAND TOTAL", 153000, 0)]
    assert report.rows == 3


def test_a_row_saying_total_with_a_meter_is_a_recipient(tmp_path):
    report, rows = imported(write(tmp_path, "name,meter,disco,amount,phone\n"
                                            "Total,04271892301,IKEJA,1000,08031234567\n"))
    assert not report.totals and rows[2].state == RowState.VALID


# -- the whole office sheet: the "done when" ----------------------------------------

def test_an_office_sheet_imports_with_every_correct_recipient_valid(tmp_path):
    rows = [["Sunrise Estate: March electricity"], [],
            ["S/N", "Flat", "Customer Name", "Meter Number", "DISCO", "Amount (₦)", "Phone"]]
    good = [[n, f"A{n}", f"Tenant {n}", 42718923000 + n, "Ikeja Electric", 5000, 8031234567]
            for n in range(1, 9)]
    rows += good[:4] + [[]] + good[4:]
    rows += [[9, "B1", "Lost Zero", 4271892399, "IKEJA", 5000, "08031234567"],  # 10 digits: 0 lost
             [None, "TOTAL", None, None, None, 45000]]
    report, stored = imported(workbook(tmp_path, rows))
    assert report.title_rows == [1] and report.blank_rows == 1
    assert (report.rows, report.valid, report.invalid) == (9, 8, 1)
    assert report.numeric_meters == 8 and report.zero_proposals == 1
    (broken,) = [r for r in stored.values() if r.state == RowState.INVALID]
    assert broken.errors[0]["fix"] == {"meter": "04271892399"}
    assert report.totals[0].difference == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(
    st.integers(10**10, 10**11 - 1),  # an 11-digit meter with no leading 0: a number can hold it
    st.sampled_from(["IKEJA", "EKO", "Abuja Electric", "PHED"]),
    st.integers(10000, 10000000),  # kobo: ₦100 to ₦100,000
    st.sampled_from(["08031234567", "07051234567", "09121234567"]),
    st.text(alphabet="abcdeéèñüAZ -'", min_size=1, max_size=12).filter(str.strip)),
    min_size=1, max_size=6))
def test_the_same_sheet_saved_three_ways_gives_the_same_recipients(tmp_path, recipients):
    """CSV UTF-8, Excel's plain "CSV" (cp1252, ₦ as "?") and XLSX with numeric cells."""
    header = ["Meter", "Disco", "Amount (₦)", "Phone", "Name"]

    def amount(kobo: int) -> Decimal:
        return Decimal(kobo) / 100

    lines = [",".join(header)] + [f'{m},{d},"₦{amount(k):,.2f}",{p},"{n}"' for m, d, k, p, n in recipients]
    text = "\r\n".join(lines) + "\r\n"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = [write(folder, "\ufeff" + text, "utf-8", "utf8.csv"), write(folder, text, "cp1252", "plain.csv"),
                 workbook(folder, [header, *([m, d, float(amount(k)), int(p), n] for m, d, k, p, n in recipients)])]
        seen = []
        for path in paths:
            report, rows = imported(path)
            assert report.invalid == 0, [r.errors for r in rows.values()]
            seen.append([(r.meter, r.disco, r.amount, r.phone, r.vend_type, r.name) for r in rows.values()])
    assert seen[0] == seen[1] == seen[2]


# -- the CLI says it once ---------------------------------------------------------------------

def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "BUYPOWER_TUI_KEYRING": "memory"}
    return subprocess.run([sys.executable, "-m", "buypower_tui", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_validate_json_gives_the_notices_first_on_stderr_and_rows_on_stdout(tmp_path):
    import json

    path = write(tmp_path, "Payments,,,\n" + CP1252_SHEET.replace("Name\r\n", "Name\r\n", 1), "cp1252")
    result = run_cli(tmp_path, "validate", "--json", str(path))
    first = json.loads(result.stderr.splitlines()[0])
    assert first["file"] == str(path) and len(first["notices"]) == 2
    assert [json.loads(line)["row"] for line in result.stdout.splitlines()] == [3, 4, 5]
    plain = run_cli(tmp_path, "validate", str(path))
    assert plain.stdout.count('note: The file was saved as "CSV"') == 1


def test_a_number_format_that_shows_leading_zeros_is_read_as_shown(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["meter", "disco", "amount", "phone"])
    for meter, fmt in ((4271892301, "00000000000"), (12345678901, "0000000000000"), (4271892301, "General"),
                       (-42718923011, "00000000000"), (1234567890123456, "0")):
        ws.append([meter, "IKEJA", 1000, "08031234567"])
        ws.cell(ws.max_row, 1).number_format = fmt
    wb.save(tmp_path / "formats.xlsx")
    report, rows = imported(tmp_path / "formats.xlsx")
    assert (rows[2].meter, rows[3].meter) == ("04271892301", "0012345678901")  # as Excel shows them
    assert all(r.warnings[0]["stored"] for r in (rows[2], rows[3]))
    assert rows[4].state == RowState.INVALID and "fix" in rows[4].errors[0]  # General: the 0 is gone
    assert "is negative" in rows[5].errors[0]["message"]
    assert "more digits than Excel keeps" in rows[6].errors[0]["message"]


def test_a_row_that_looks_like_a_recipient_above_the_header_refuses_the_file(tmp_path):
    # sorted without "My data has headers": the header moved down among the rows
    text = ("Adebayo,12345678901,IKEJA,5000,08031234567\r\n"
            "name,meter,disco,amount,phone\r\n"
            "Olu,12345678903,IKEJA,7000,08031234567\r\n")
    with pytest.raises(FileError) as caught:
        imported(write(tmp_path, text))
    assert "row 1 is above the header row (row 2) but looks like a recipient" in str(caught.value)


def test_a_question_mark_amount_is_read_as_naira_with_a_warning(tmp_path):
    report, rows = imported(write(tmp_path, "meter,disco,Amount (?),phone\r\n04271892301,IKEJA,?500,08031234567\r\n"))
    assert rows[2].amount == Decimal(500) and rows[2].state == RowState.VALID
    assert "check the amount" in rows[2].warnings[0]["message"]  # a minus sign or ≥ is written "?" too


def test_the_header_decides_the_delimiter_not_a_title_with_other_separators(tmp_path):
    report, rows = imported(write(tmp_path, "Sunrise Estate; Block A; March\r\nmeter,disco,amount,phone\r\n"
                                            "04271892301,IKEJA,1000,08031234567\r\n"))
    assert report.title_rows == [1] and rows[3].state == RowState.VALID
