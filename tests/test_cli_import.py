"""The headless commands as an operator runs them: validate, import, batches."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from buypower_tui.cli import main
from buypower_tui.core import sheets, workbooks
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths

HEADER = "Meter Number,Disco,Amount (NGN),Phone Number,Meter Type,Customer Name,Email\n"


def write(tmp_path: Path, text: str, name: str = "sheet.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_validate_sample_is_all_valid_with_one_duplicate_warning(capsys):
    code, out, _ = run(capsys, "validate", "--sample")
    assert code == 0
    assert "12 rows, 12 valid, 0 invalid, 2 warnings" in out
    assert "meter 71120000018 appears 2 times" in out


def test_validate_reports_each_invalid_row_and_exits_1(tmp_path, capsys):
    path = write(tmp_path, HEADER
                 + "04271892301,IKEJA,1000,08031234567,,Ada,\n"
                 + "4271892301,LAGOS,50,0803,,Bola,\n"
                 + "\n"
                 + "12345678910,EKO,1.000,00,08031234567,,Chi,\n")
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 1
    assert "3 rows, 1 valid, 2 invalid" in out
    row3 = next(line for line in out.splitlines() if line.startswith("row 3:"))
    assert "meter '4271892301' has 10 digits" in row3
    assert "disco 'LAGOS'" in row3 and "amount ₦50.00 is below the minimum" in row3 and "phone '0803'" in row3
    # the blank line is sheet row 4, so the next record is row 5
    assert "row 5:" in out and "cells but the header has 7" in out
    assert "skipped 1 blank rows" in out


def test_validate_json_has_one_object_per_data_row(tmp_path, capsys):
    path = write(tmp_path, HEADER
                 + "0427-189-2301,ikedc,\"₦1,000\",+234 803 123 4567,postpaid,  Ada  Obi ,ada@example.com\n"
                 + "04271892301,EKO,abc,08031234567,,,not-an-email\n")
    code, out, err = run(capsys, "validate", "--json", str(path))
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["row"] for r in rows] == [2, 3]
    first, second = rows
    assert first == {
        "row": 2, "valid": True, "errors": [],
        "warnings": [{"field": "meter", "message": first["warnings"][0]["message"]}],
        "values": {"meter": "04271892301", "disco": "IKEJA", "amount": "1000.00",
                   "phone": "08031234567", "vend_type": "POSTPAID", "name": "Ada Obi",
                   "email": "ada@example.com"},
    }
    assert "appears 2 times" in first["warnings"][0]["message"]
    assert second["valid"] is False
    assert {e["field"] for e in second["errors"]} == {"amount", "email"}
    assert second["values"]["amount"] == "abc"  # the raw text, so it can be found and fixed
    assert "2 rows, 1 valid, 1 invalid, 2 warnings" in err


def test_missing_required_column_fails_the_file_with_exit_2(tmp_path, capsys):
    path = write(tmp_path, "Meter No.,Phone,Colour\n04271892301,08031234567,red\n")
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2
    assert str(path) in err
    assert "no column for disco, amount" in err
    assert "'Meter No.', 'Phone', 'Colour'" in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("content,problem", [
    (b"", "empty"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old Excel"),
    (b"PK\x03\x04not a real zip", "Excel workbook"),
])
def test_unreadable_files_exit_2_without_traceback(tmp_path, capsys, content, problem):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2
    assert problem in err and "Traceback" not in err


def test_missing_file_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "validate", str(tmp_path / "nope.csv"))
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_dialects_and_bom(tmp_path, capsys, delimiter, newline):
    head = delimiter.join(["meter_no", "DISCO_CODE", "amount_naira", "msisdn"])
    row = delimiter.join(["04271892301", "Ikeja Electric", '"1,000.50"', "08031234567"])
    path = write(tmp_path, "\ufeff" + head + newline + row + newline)
    code, out, _ = run(capsys, "validate", "--json", str(path))
    assert code == 0
    values = json.loads(out.splitlines()[0])["values"]
    assert values["meter"] == "04271892301" and values["amount"] == "1000.50"


def test_cp1252_export_is_read_and_junk_bytes_are_row_errors(tmp_path, capsys):
    text = HEADER + "04271892301,IKEJA,1000,08031234567,,Adébáyọ́,\n"
    path = tmp_path / "excel.csv"
    path.write_bytes(HEADER.replace("₦", "").encode("cp1252")
                     + "04271892301,IKEJA,1000,08031234567,,Renée,\n".encode("cp1252")
                     + b"04271892302,IKEJA,1000,08031234567,,Bad\x81Name,\n")
    code, out, _ = run(capsys, "validate", "--json", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["values"]["name"] == "Renée" and rows[0]["valid"]
    assert rows[1]["valid"] is False
    assert rows[1]["errors"][0]["field"] == "name" and "unreadable" in rows[1]["errors"][0]["message"]
    assert text  # utf-8 names survive in a utf-8 file too:
    utf8 = write(tmp_path, text, "utf8.csv")
    run(capsys, "validate", str(utf8))
    code, out, _ = run(capsys, "validate", "--json", str(utf8))
    assert json.loads(out)["values"]["name"] == "Adébáyọ́"


def test_unknown_columns_are_kept_and_reported_once(tmp_path, capsys):
    path = write(tmp_path, "meter,disco,amount,phone,Colour,Notes\n"
                 "04271892301,EKO,1000,08031234567,red,x\n04271892302,EKO,1000,08031234567,blue,y\n")
    code, out, _ = run(capsys, "validate", str(path))
    assert code == 0
    assert out.count("kept columns: Colour, Notes") == 1


def test_xlsx_with_sheet_choice_and_numeric_meter(tmp_path, capsys):
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active.append(["nothing here"])
    ws = wb.create_sheet("Recipients")
    ws.append(["Meter Number", "Disco", "Amount (NGN)", "Phone Number"])
    ws.append(["04271892301", "IKEJA", 1000, "08031234567"])
    ws.append([4271892301.0, "IKEJA", 2500.5, 8031234567])
    ws.append([])
    ws.append(["45143922321", "abuja", "₦3,000", "+2348031234567"])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    code, out, err = run(capsys, "validate", "--json", "--sheet", "Recipients", str(path))
    assert code == 1
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["row"] for r in rows] == [2, 3, 5]
    assert rows[0]["valid"] and rows[2]["valid"] and rows[2]["values"]["amount"] == "3000.00"
    (meter_error,) = rows[1]["errors"]
    assert meter_error["field"] == "meter" and "stored as a number" in meter_error["message"]
    assert rows[1]["values"]["phone"] == "08031234567"  # a phone that lost its 0 in Excel
    code, _, err = run(capsys, "validate", "--sheet", "Missing", str(path))
    assert code == 2 and "no sheet named 'Missing'" in err and "Recipients" in err


def test_import_creates_a_batch_and_batches_lists_derived_counts(tmp_path, capsys):
    path = write(tmp_path, HEADER
                 + "04271892301,IKEJA,1000,08031234567,,Ada,\n"
                 + "04271892301,IKEJA,2000,08031234567,,Ada,\n"
                 + "123,IKEJA,1000,08031234567,,Bad,\n")
    code, out, _ = run(capsys, "import", str(path), "--name", "March estate")
    assert code == 1  # created, but one row is invalid
    assert "batch 1 created (live)" in out
    code, out, _ = run(capsys, "--sandbox", "import", str(path))
    assert "batch 2 created (sandbox)" in out
    code, out, _ = run(capsys, "batches")
    assert code == 0
    assert "March estate" in out and "₦3,000.00" in out
    code, out, _ = run(capsys, "batches", "--json")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(b["name"], b["mode"], b["rows"], b["valid"], b["invalid"], b["warnings"], b["total_valid"])
            for b in listed] == [("March estate", "live", 3, 2, 1, 2, "3000.00"),
                                 ("sheet", "sandbox", 3, 2, 1, 2, "3000.00")]
    # counts are derived from row states: change a state in the store and the listing follows
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    with store.session() as s:
        from buypower_tui.core.models import Recipient
        row = s.get(Recipient, 1)
        row.state = "SUCCESS"
        s.add(row)
        s.commit()
    store.close()
    code, out, _ = run(capsys, "batches", "--json")
    assert json.loads(out.splitlines()[0])["by_state"] == {"SUCCESS": 1, "VALID": 1, "INVALID": 1}


def test_import_with_db_url_flag(tmp_path, capsys):
    path = write(tmp_path, HEADER + "04271892301,IKEJA,1000,08031234567,,Ada,\n")
    db = tmp_path / "elsewhere.db"
    code, out, _ = run(capsys, "--db", f"sqlite:///{db}", "import", str(path))
    assert code == 0 and db.exists()
    assert not AppPaths.resolve().db_file.exists()


def test_python_dash_m_runs_the_same_cli(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "buypower_tui", "validate", "--sample"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "12 valid" in result.stdout


def test_an_unreadable_csv_row_has_only_its_own_error(tmp_path, capsys):
    long_cell = "x" * 200_000  # beyond csv's field size limit
    path = write(tmp_path, HEADER + f"04271892301,IKEJA,1000,08031234567,,{long_cell},\n"
                 + "04271892301,IKEJA,1000,08031234567,,Ada,\n")
    code, out, _ = run(capsys, "validate", "--json", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [e["field"] for e in rows[0]["errors"]] == ["row"]
    assert "cannot be read as CSV" in rows[0]["errors"][0]["message"]
    assert rows[-1]["valid"] and rows[-1]["row"] == 3


def test_one_junk_byte_does_not_turn_a_utf8_file_into_cp1252(tmp_path, capsys):
    path = tmp_path / "junk.csv"
    path.write_bytes(HEADER.encode() + "04271892301,IKEJA,1000,08031234567,,Adébáyọ̀ Renée,\n".encode()
                     + b"04271892302,IKEJA,1000,08031234567,,Bad\xffname,\n")
    code, out, _ = run(capsys, "validate", "--json", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["valid"] and rows[0]["values"]["name"] == "Adébáyọ̀ Renée"
    assert not rows[1]["valid"] and rows[1]["errors"][0]["field"] == "name"


def test_utf16_tab_separated_export(tmp_path, capsys):
    path = tmp_path / "unicode.txt"
    path.write_bytes("meter\tdisco\tamount\tphone\tname\r\n04271892301\tIKEJA\t1000\t08031234567\tỌlá\r\n"
                     .encode("utf-16"))
    code, out, _ = run(capsys, "validate", "--json", str(path))
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and row["row"] == 2 and row["values"]["name"] == "Ọlá"


def test_xlsx_with_a_wrong_or_missing_dimension_is_read_whole(tmp_path, capsys):
    import io
    import re
    import zipfile

    wb = openpyxl.Workbook()
    wb.active.append(["meter", "disco", "amount", "phone", "name"])
    wb.active.append(["04271892301", "IKEJA", 1000, "08031234567"])  # trailing optional cell empty
    buf = io.BytesIO()
    wb.save(buf)
    for replacement in (b'<dimension ref="A1"/>', b""):
        src, out_buf = zipfile.ZipFile(buf), io.BytesIO()
        with zipfile.ZipFile(out_buf, "w") as z:
            for name in src.namelist():
                data = src.read(name)
                if name == "xl/worksheets/sheet1.xml":
                    data = re.sub(rb"<dimension [^>]*/>", replacement, data)
                z.writestr(name, data)
        path = tmp_path / "dim.xlsx"
        path.write_bytes(out_buf.getvalue())
        code, out, err = run(capsys, "validate", "--json", str(path))
        assert code == 0, err
        assert json.loads(out)["values"]["meter"] == "04271892301"


def test_sheet_option_on_a_csv_and_a_data_sheet_that_is_not_first(tmp_path, capsys):
    path = write(tmp_path, HEADER + "04271892301,IKEJA,1000,08031234567,,Ada,\n")
    code, _, err = run(capsys, "validate", "--sheet", "Data", str(path))
    assert code == 2 and "--sheet applies to Excel workbooks" in err
    wb = openpyxl.Workbook()
    wb.active.title = "Cover"
    wb.active.append(["Prepared by", "Ops"])
    wb.create_sheet("Data").append(["meter", "disco", "amount"])
    book = tmp_path / "book.xlsx"
    wb.save(book)
    code, _, err = run(capsys, "validate", str(book))
    assert code == 2 and "sheet 'Cover'" in err and "'Data'" in err and "--sheet" in err


def test_an_import_cut_short_is_listed_as_incomplete(tmp_path, capsys, monkeypatch):
    import buypower_tui.core.store as store_module

    path = write(tmp_path, HEADER + "04271892301,IKEJA,1000,08031234567,,Ada,\n")
    with monkeypatch.context() as m:
        m.setattr(store_module.Store, "finish_import", lambda *a: None)  # as if killed before the end
        run(capsys, "import", str(path))
    code, out, _ = run(capsys, "batches")
    assert "IMPORT INCOMPLETE" in out
    code, out, _ = run(capsys, "batches", "--json")
    assert json.loads(out)["import_complete"] is False


def test_an_unwritable_log_folder_is_one_message(isolated_home, capsys):
    isolated_home.mkdir(parents=True)
    (isolated_home / "logs").write_text("a file where the log folder should be")
    code, out, err = run(capsys, "validate", "--sample")
    assert code == 2 and "cannot write the log file" in err
    assert "Traceback" not in err and "Logging error" not in err


def test_json_mode_reports_kept_columns_on_stderr(tmp_path, capsys):
    path = write(tmp_path, "meter,disco,amount,phone,Notes\n04271892301,EKO,1000,08031234567,x\n")
    code, out, err = run(capsys, "validate", "--json", str(path))
    assert "kept columns: Notes" in err and "Notes" not in out


def test_global_options_work_after_the_command_too(tmp_path, capsys):
    path = write(tmp_path, HEADER + "04271892301,IKEJA,1000,08031234567,,Ada,\n")
    code, out, _ = run(capsys, "import", str(path), "--sandbox")
    assert code == 0 and "created (sandbox)" in out
    code, out, _ = run(capsys, "config", "--sandbox", "http://127.0.0.1:9/v2")
    assert code == 0 and "base URL in use            http://127.0.0.1:9/v2" in out
    assert "mode                       sandbox" in out
    code, out, _ = run(capsys, "--sandbox", "batches", "--db", f"sqlite:///{tmp_path / 'other.db'}")
    assert code == 0 and "no batches yet" in out  # an option after the command is not lost


# -- issue 10 point 10: a quote left open must not swallow rows ------------------------------

SHORT_HEADER = "meter,disco,amount,phone,Customer Name\n"


def recipients(first: int, n: int) -> str:
    return "".join(f"0427189{first + i:04d},IKEJA,1000,08031234567,Name {first + i}\n" for i in range(n))


def test_an_unterminated_quote_refuses_the_file_naming_the_row_the_cell_and_the_lines(tmp_path, capsys):
    # The quote opened in row 2's name is never closed: the 50 rows under it became that
    # name, and the import said "1 rows, 1 valid". The operator must fix the file instead.
    path = write(tmp_path, SHORT_HEADER + '04271892301,IKEJA,1000,08031234567,"Ada Obi\n' + recipients(3, 50))
    for command in ("validate", "import"):
        code, out, err = run(capsys, command, str(path))
        assert code == 2, (out, err)
        assert "1 rows" not in out + err and "Traceback" not in err
        message = " ".join(err.split())
        assert f"{path}: row 2" in message and "'Customer Name' cell" in message
        assert "runs on to the end of the file, so lines 3-52 (50 lines) were read into that cell" in message
        assert "close the quote" in message.lower()
    code, out, _ = run(capsys, "batches")
    assert "no batches yet" in out  # the refused import left no half batch behind


def test_a_quote_closed_rows_later_refuses_the_file_and_one_line_quotes_still_work(tmp_path, capsys):
    good = '04271892301,IKEJA,"1,000",08031234567,"Obi, Ada ""Jr"""\n'
    path = write(tmp_path, SHORT_HEADER + good + '04271892302,IKEJA,1000,08031234567,"Bola\n'
                 + recipients(3, 3) + '04271892306,IKEJA,1000,08031234567,Chi"\n' + recipients(7, 2))
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2
    message = " ".join(err.split())
    assert "row 3" in message and "'Customer Name' cell" in message
    assert "closed only on line 7, so lines 4-7 (4 lines) were read into that cell" in message
    # the same rows, quoted properly on one line each, import whole
    path = write(tmp_path, SHORT_HEADER + good + '04271892302,IKEJA,1000,08031234567,"Bola"\n' + recipients(3, 6))
    code, out, err = run(capsys, "validate", "--json", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["row"] for r in rows] == list(range(2, 10))
    assert rows[0]["values"]["name"] == 'Obi, Ada "Jr"' and rows[0]["values"]["amount"] == "1000.00"


def test_an_open_quote_beyond_the_field_size_limit_refuses_the_file(tmp_path, capsys):
    # csv gives up after 128 KB of one cell: the rows it read into the cell were lost too.
    path = write(tmp_path, SHORT_HEADER + '04271892301,IKEJA,1000,08031234567,"Ada\n' + recipients(0, 5000))
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2 and "Traceback" not in err
    message = " ".join(err.split())
    assert "row 2" in message and "cannot be read as CSV" in message and "close the quote" in message.lower()


# -- issue 10 point 11: a FIFO or a device is refused before it is opened -------------------

@pytest.mark.parametrize("kind", ["fifo", "urandom", "folder"])
def test_a_fifo_or_a_device_is_refused_up_front(tmp_path, kind):
    # Run as a process with a time-out: before the check, opening a FIFO blocked forever and
    # /dev/urandom was read forever (the time-out only turns such a hang into a failure).
    import os
    import subprocess
    import sys

    if kind == "fifo":
        path = tmp_path / "recipients.csv"
        os.mkfifo(path)
        what = "named pipe (FIFO)"
    elif kind == "urandom":
        path = Path("/dev/urandom")
        what = "device"
    else:
        path = tmp_path / "sheets.csv"
        path.mkdir()
        what = "folder"
    for command in ("validate", "import"):
        result = subprocess.run([sys.executable, "-m", "buypower_tui", command, str(path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
        assert f"{path}: is a {what}" in result.stderr and "CSV or XLSX file" in result.stderr


# -- issue 10 point 12: a workbook's size is capped before openpyxl parses it ---------------

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_WORKBOOK_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="'
        'application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName='
        '"/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'sharedStrings+xml"/></Types>'),
    "_rels/.rels": (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{_REL}/officeDocument" '
        f'Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook {_NS} xmlns:r="{_REL}"><sheets>'
        f'<sheet name="Recipients" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{_REL}/worksheet" '
        f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{_REL}/sharedStrings" '
        f'Target="sharedStrings.xml"/></Relationships>'),
}


def hand_made_workbook(path: Path, rows_xml: str, strings: list[str], padding_mb: int = 0) -> Path:
    """A workbook written part by part with zipfile; `padding_mb` MB of empty shared strings
    (13 bytes each, packing about 1000:1) make it a bomb."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in _WORKBOOK_PARTS.items():
            z.writestr(name, text)
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}>'
                                               f"<sheetData>{rows_xml}</sheetData></worksheet>")
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as f:
            f.write(f'<?xml version="1.0" encoding="UTF-8"?><sst {_NS}>'.encode())
            f.write("".join(f"<si><t>{s}</t></si>" for s in strings).encode())
            empty = b"<si><t/></si>" * (2**20 // 13)
            for _ in range(padding_mb):
                f.write(empty)
            f.write(b"</sst>")
    return path


def header_row(row: int = 1) -> str:
    return (f'<row r="{row}"><c r="A{row}" t="s"><v>0</v></c><c r="B{row}" t="s"><v>1</v></c>'
            f'<c r="C{row}" t="s"><v>2</v></c></row>')


def data_row(row: int) -> str:
    return (f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>04271892301</t></is></c>'
            f'<c r="B{row}" t="inlineStr"><is><t>IKEJA</t></is></c><c r="C{row}"><v>1000</v></c></row>')


def test_a_workbook_bomb_is_refused_before_it_is_parsed(tmp_path, capsys):
    # 300 MB of shared strings in a ~300 KB file: before the cap, openpyxl read all 24
    # million of them into memory (the 4 MB file took 278 s and 5.9 GB).
    import tracemalloc

    from buypower_tui.core import workbooks

    path = hand_made_workbook(tmp_path / "bomb.xlsx", header_row() + data_row(2), ["meter", "disco", "amount"],
                              padding_mb=300)
    assert path.stat().st_size < 5 * 2**20
    tracemalloc.start()
    try:
        code, out, err = run(capsys, "import", str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and "Traceback" not in err
    message = " ".join(err.split())
    assert f"{path}: the workbook is too large to read safely" in message
    assert "xl/sharedStrings.xml (the shared strings)" in message
    assert f"limit of {workbooks.XLSX_MAX_STRINGS_BYTES >> 20} MB" in message
    assert "Save the sheet as CSV" in message
    assert peak < 64 * 2**20  # refused from the zip's directory: nothing was unpacked
    code, out, _ = run(capsys, "batches")
    assert "no batches yet" in out


def test_a_workbook_that_packs_far_better_than_a_sheet_is_refused(tmp_path, capsys):
    # 20 MB: under the size limit, but packed ~1000:1 where a real sheet packs ~10:1
    path = hand_made_workbook(tmp_path / "dense.xlsx", header_row() + data_row(2), ["meter", "disco", "amount"],
                              padding_mb=20)
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "xl/sharedStrings.xml" in message and "over the limit of 100:1" in message


def test_a_sheet_over_the_cell_or_row_limit_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(workbooks, "XLSX_MAX_CELLS", 3 * 500)
    rows = header_row() + "".join(data_row(n) for n in range(2, 600))
    path = hand_made_workbook(tmp_path / "long.xlsx", rows, ["meter", "disco", "amount"])
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "has more than 1,500 cells" in message and "Save the sheet as CSV" in message
    # one row far below the others: openpyxl hands out every empty row in between
    path = hand_made_workbook(tmp_path / "far.xlsx", header_row() + data_row(2) + data_row(30_000_000),
                              ["meter", "disco", "amount"])
    monkeypatch.setattr(workbooks, "XLSX_MAX_CELLS", 5_000_000)
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "rows past row 1,048,576" in message


def test_the_workbook_limits_admit_a_real_100000_row_sheet(tmp_path):
    # A 2,000-row, 10-column sheet as openpyxl writes it (shared strings) and as write-only
    # mode writes it (inline strings): 50 times each part and each count fits the limits.
    # (The review's 100,000-row, 12-column sheet, written as Excel writes it, has 44 MB of
    # sheet and 12 MB of shared strings, and validates in ~10 s in ~150 MB.)
    import zipfile

    import openpyxl

    from buypower_tui.core import workbooks

    header = ["Meter Number", "Disco", "Amount", "Phone", "Meter Type", "Customer Name", "Email",
              "Address", "Notes", "Estate"]
    for write_only in (False, True):
        wb = openpyxl.Workbook(write_only=write_only)
        ws = wb.create_sheet("Recipients") if write_only else wb.active
        ws.append(header)
        for i in range(2000):
            name = f"Chukwuemeka Ogunlesi-Adeyemi {i}"
            ws.append([f"0427{i:07d}", "IKEJA", 5000, f"0803{i:07d}", "PREPAID", name,
                       f"{name.replace(' ', '.').lower()}@example.com",
                       f"{i % 300} Adeola Odeku Street, Block {i % 97}, Victoria Island, Lagos",
                       "gate code 1234, call first", f"Estate {i % 40}"])
        path = tmp_path / f"real-{write_only}.xlsx"
        wb.save(path)
        infos = zipfile.ZipFile(path).infolist()
        for info in infos:
            limit = (workbooks.XLSX_MAX_SHEET_BYTES if info.filename.startswith("xl/worksheets/sheet")
                     else workbooks.XLSX_MAX_STRINGS_BYTES if info.filename == "xl/sharedStrings.xml"
                     else workbooks.XLSX_MAX_RELS_BYTES if info.filename.endswith(".rels")
                     else workbooks.XLSX_MAX_PART_BYTES)
            assert 50 * info.file_size < limit, info
            if info.file_size > 2**16:  # a real sheet packs about 10:1, a third of the limit at most
                assert 3 * info.file_size < workbooks.XLSX_MAX_RATIO * info.compress_size, info
        assert 50 * sum(i.file_size for i in infos) < workbooks.XLSX_MAX_TOTAL_BYTES
    assert 4 * 100_000 * len(header) <= workbooks.XLSX_MAX_CELLS  # and room for a sheet 4 times as wide
    # Excel keeps every distinct text once in the shared strings: for these rows, 50 times
    # their table is still under its limit (openpyxl writes inline strings instead).
    table = {f"0427{i:07d}" for i in range(2000)} | {f"0803{i:07d}" for i in range(2000)}
    table |= {f"Chukwuemeka Ogunlesi-Adeyemi {i}" for i in range(2000)}
    table |= {f"chukwuemeka.ogunlesi-adeyemi.{i}@example.com" for i in range(2000)}
    table |= {f"{i % 300} Adeola Odeku Street, Block {i % 97}, Victoria Island, Lagos" for i in range(2000)}
    assert 50 * sum(len(f"<si><t>{s}</t></si>") for s in table) < workbooks.XLSX_MAX_STRINGS_BYTES  # 23.5 MB


# -- issue 10 point 14f: hidden characters in a cell are a warning, never shown raw ----------

def test_a_name_with_a_right_to_left_override_is_a_warning_and_the_row_stays_valid(tmp_path, capsys):
    path = write(tmp_path, HEADER + "04271892301,IKEJA,1000,08031234567,,Ada \u202eibO,\n"
                 + "04271892302,IKEJA,1000,08031234567,,Bola\u200b,bola@example.com\n"
                 + "04271892303,IKEJA,1000,08031234567,,Chi,\n")
    code, out, err = run(capsys, "validate", "--json", str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and all(r["valid"] for r in rows)  # payable: the operator should look
    assert [[(w["field"], "U+202E" in w["message"]) for w in r["warnings"]] for r in rows] == [
        [("name", True)], [("name", False)], []]
    assert "U+200B ZERO WIDTH SPACE" in rows[1]["warnings"][0]["message"]
    assert "3 rows, 3 valid, 0 invalid, 2 warnings" in err
    code, out, err = run(capsys, "import", str(path))
    assert code == 0 and "2 warnings" in out
    assert "warning: row 2: name contains" in out and "U+202E RIGHT-TO-LEFT OVERRIDE" in out
    assert "warning: row 3: name contains" in out
    assert "\u202e" not in out + err and "\u200b" not in out + err  # the messages name, never carry them
    code, out, _ = run(capsys, "batches", "--json")
    assert json.loads(out)["warnings"] == 2


# -- issue 10 point 12, after review: what a workbook may unpack to ------------------------------

_SHEET_ML = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def package(path: Path, sheet_xml: str, *, strings: list[str] | None = None, strings_at: str = "xl/sharedStrings.xml",
            padding: bytes = b"", padding_times: int = 0, parts: dict[str, str | bytes] | None = None,
            types: dict[str, str] | None = None, workbook_rels: str = "") -> Path:
    """A workbook written part by part: one sheet, shared strings where told (with `padding`
    repeated after them), other `parts` with their content `types`, more workbook relationships."""
    import zipfile

    overrides = {"xl/workbook.xml": f"{_SHEET_ML}.sheet.main+xml", "xl/worksheets/sheet1.xml":
                 f"{_SHEET_ML}.worksheet+xml", **({strings_at: f"{_SHEET_ML}.sharedStrings+xml"} if strings else {}),
                 **(types or {})}
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="/{name}" ContentType="{kind}"/>' for name, kind in overrides.items())
        + "</Types>")
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{_REL}/worksheet" '
            'Target="/xl/worksheets/sheet1.xml"/>'
            + (f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="/{strings_at}"/>' if strings else "")
            + workbook_rels + "</Relationships>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", _WORKBOOK_PARTS["_rels/.rels"])
        z.writestr("xl/workbook.xml", _WORKBOOK_PARTS["xl/workbook.xml"])
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        z.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}>'
                                               f"<sheetData>{sheet_xml}</sheetData></worksheet>")
        if strings:
            with z.open(strings_at, "w", force_zip64=True) as f:
                f.write(f'<?xml version="1.0" encoding="UTF-8"?><sst {_NS}>'.encode())
                f.write("".join(f"<si><t>{s}</t></si>" for s in strings).encode())
                for _ in range(padding_times):
                    f.write(padding)
                f.write(b"</sst>")
        for name, data in (parts or {}).items():
            z.writestr(name, data)
    return path


def istr(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def recipient_row(row: int, extra: str = "") -> str:
    return (f'<row r="{row}">{istr(f"A{row}", f"0427189{row:04d}")}{istr(f"B{row}", "IKEJA")}'
            f'<c r="C{row}"><v>1000</v></c>{istr(f"D{row}", "08031234567")}{extra}</row>')


def stored_rows(batch_id: int = 1) -> list:
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        return list(store.rows(batch_id))
    finally:
        store.close()


def test_a_cell_longer_than_a_spreadsheet_cell_is_an_error_on_its_row_and_is_not_kept(tmp_path, capsys):
    # One long shared string on every row: the review's 108 KB workbook held 1 MB on 5,000
    # rows and took 5 GB of memory and 10 GB of database. Now each row is an error naming the
    # column and the limit, and only the cell's first characters are stored.
    long_text = "a " * 50_000  # 100,000 characters
    header = ('<row r="1">' + istr("A1", "meter") + istr("B1", "disco") + istr("C1", "amount") + istr("D1", "phone")
              + istr("E1", "Customer Name") + istr("F1", "Notes") + "</row>")
    rows = "".join(recipient_row(n, f'<c r="E{n}" t="s"><v>0</v></c>') for n in range(2, 32))
    rows += recipient_row(32, istr("E32", "Ada Obi") + '<c r="F32" t="s"><v>0</v></c>')  # a column not imported
    path = package(tmp_path / "long.xlsx", header + rows, strings=[long_text])
    assert path.stat().st_size < 100_000
    code, out, err = run(capsys, "import", str(path))
    assert code == 1 and "31 rows, 0 valid, 31 invalid" in out, (out, err)
    lines = [line for line in out.splitlines() if line.startswith("row ")]
    assert len(lines) == 31
    assert all("name (column 'Customer Name') holds 100,000 characters, over the limit of 32,767" in line
               for line in lines[:30])
    assert "the row's 'Notes' cell holds 100,000 characters, over the limit of 32,767" in lines[30]
    stored = stored_rows()
    assert [len(r.name_raw) for r in stored[:30]] == [41] * 30 and all(r.name is None for r in stored[:30])
    assert stored[30].name == "Ada Obi"
    assert AppPaths.resolve().db_file.stat().st_size < 2 << 20  # not 30 times 100,000 characters, twice
    # the same in a CSV (csv reads a cell of up to 131,072 characters)
    csv_path = write(tmp_path, "meter,disco,amount,phone,name\n" + "04271892301,IKEJA,1000,08031234567,"
                     + "b" * 40_000 + "\n04271892302,IKEJA,1000,08031234567,Bola\n")
    code, out, err = run(capsys, "validate", "--json", str(csv_path))
    first, second = (json.loads(line) for line in out.splitlines())
    assert code == 1 and not first["valid"] and second["valid"]
    assert first["errors"][0]["field"] == "name" and "40,000 characters" in first["errors"][0]["message"]
    assert first["values"]["name"] == "b" * 40 + "…"


def test_a_workbook_with_too_much_text_in_all_is_refused(tmp_path, capsys, monkeypatch):
    # A cell under the limit repeated on every row still adds up: 1,000,000 rows of 32,767
    # characters would be 64 GB in the database. The text read has a limit of its own.

    monkeypatch.setattr(workbooks, "XLSX_MAX_TEXT_CHARS", 100_000, raising=False)
    header = '<row r="1">' + istr("A1", "meter") + istr("B1", "disco") + istr("C1", "amount") + istr("D1", "name")
    rows = "".join(f'<row r="{n}">{istr(f"A{n}", "04271892301")}{istr(f"B{n}", "IKEJA")}<c r="C{n}"><v>1000</v></c>'
                   f'<c r="D{n}" t="s"><v>0</v></c></row>' for n in range(2, 12))
    path = package(tmp_path / "wordy.xlsx", header + "</row>" + rows, strings=["x" * 20_000])
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "the sheet 'Recipients' holds more than 100,000 characters of text (the limit" in message
    assert "by row 6)" in message and "Save the sheet as CSV" in message


def _random_strings(megabytes: int) -> list[str]:
    import os

    # 8 random hex digits each: 24 bytes of XML packing ~3:1, as real unique strings do
    return [os.urandom(4).hex() for _ in range(megabytes * (1 << 20) // 24)]


def test_shared_strings_get_their_limit_wherever_they_are_in_the_zip(tmp_path, capsys):
    # 33 MB of shared strings moved to xl/worksheets/ got the worksheets' 256 MB limit (a
    # 133 MB table: 73 s and 1.24 GB). What a part is comes from [Content_Types].xml.
    import tracemalloc

    from buypower_tui.core import workbooks

    path = package(tmp_path / "moved.xlsx", header_row() + data_row(2),
                   strings=["meter", "disco", "amount", *_random_strings(33)], strings_at="xl/worksheets/strings.xml")
    tracemalloc.start()
    try:
        code, out, err = run(capsys, "validate", str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = " ".join(err.split())
    assert code == 2 and "its part xl/worksheets/strings.xml (the shared strings) unpacks to 33.0 MB" in message
    assert workbooks.XLSX_MAX_STRINGS_BYTES == 32 << 20 and "over the limit of 32 MB" in message
    assert peak < 32 << 20  # refused from the zip's directory


def _styles(formats: list[int]) -> str:
    xfs = "".join(f'<xf numFmtId="{n}" fontId="0" fillId="0" borderId="0" xfId="0"/>' for n in formats)
    return (f'<?xml version="1.0" encoding="UTF-8"?><styleSheet {_NS}><fonts count="1"><font><sz val="11"/>'
            '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/>'
            '<top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" '
            f'fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="{len(formats)}">{xfs}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')


def test_styles_have_a_small_limit_and_a_bloated_real_styles_part_is_read(tmp_path, capsys):
    import random
    import time

    rnd = random.Random(1)
    sheet = header_row() + data_row(2)
    strings = ["meter", "disco", "amount"]
    styles = {"xl/styles.xml": f"{_SHEET_ML}.styles+xml"}
    # 17 MB of distinct formats (a 125 MB styles part took 53 s and 1.8 GB): refused
    path = package(tmp_path / "styles.xlsx", sheet, strings=strings, types=styles,
                   parts={"xl/styles.xml": _styles([rnd.randrange(50) for _ in range(290_000)])})
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "its part xl/styles.xml (styles) unpacks to 17." in message
    assert "MB, over the limit of 16 MB" in message
    # Excel's limit of 64,000 cell formats, all the same (a workbook bloated by copy and
    # paste): ~4 MB packing ~300:1, which the ratio rule refused. openpyxl reads it in seconds.
    path = package(tmp_path / "bloated.xlsx", sheet, strings=strings, types=styles,
                   parts={"xl/styles.xml": _styles([0] * 64_000)})
    started = time.monotonic()
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1 and "1 rows" in out, err  # read (the row has no phone)
    assert time.monotonic() - started < 30


def test_content_types_say_which_parts_are_worksheets(tmp_path, capsys):
    import io

    from buypower_tui.core import workbooks

    sheet = header_row() + data_row(2)
    strings = ["meter", "disco", "amount"]
    big_sheet = (f'<?xml version="1.0" encoding="UTF-8"?><worksheet {_NS}><sheetData>'
                 + "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(1, 350_000))
                 + "</sheetData></worksheet>")  # 17 MB, packing well under 100:1
    # A second worksheet part that a chartsheet's drawing also leads to: openpyxl reads a
    # chartsheet and its drawings whole, so that part is no worksheet to the limits.
    chart_rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                  f'package/2006/relationships"><Relationship Id="rId1" Type="{_REL}/drawing" '
                  'Target="../worksheets/sheet2.xml"/></Relationships>')
    path = package(tmp_path / "chart.xlsx", sheet, strings=strings,
                   parts={"xl/worksheets/sheet2.xml": big_sheet, "xl/chartsheets/sheet1.xml": "<chartsheet/>",
                          "xl/chartsheets/_rels/sheet1.xml.rels": chart_rels},
                   types={"xl/worksheets/sheet2.xml": f"{_SHEET_ML}.worksheet+xml",
                          "xl/chartsheets/sheet1.xml": f"{_SHEET_ML}.chartsheet+xml"},
                   workbook_rels=f'<Relationship Id="rId3" Type="{_REL}/worksheet" Target="/xl/worksheets/sheet2.xml"/>'
                                 f'<Relationship Id="rId4" Type="{_REL}/chartsheet" '
                                 'Target="/xl/chartsheets/sheet1.xml"/>')
    refused = r"xl/worksheets/sheet2.xml \(not a worksheet\) unpacks to 17\.\d MB, over the limit of 16 MB"
    with pytest.raises(sheets.FileError, match=refused):
        workbooks._check_workbook_size(path, io.BytesIO(path.read_bytes()))
    # the same part, a worksheet of the workbook and nothing else, is streamed: no small limit
    path = package(tmp_path / "two.xlsx", sheet, strings=strings, parts={"xl/worksheets/sheet2.xml": big_sheet},
                   types={"xl/worksheets/sheet2.xml": f"{_SHEET_ML}.worksheet+xml"},
                   workbook_rels=f'<Relationship Id="rId3" Type="{_REL}/worksheet" '
                                 'Target="/xl/worksheets/sheet2.xml"/>')
    workbooks._check_workbook_size(path, io.BytesIO(path.read_bytes()))
    # and [Content_Types].xml itself is read only when it is small
    padding = "".join(f'<Default Extension="x{n}" ContentType="application/octet-stream"/>' for n in range(20_000))
    path = package(tmp_path / "types.xlsx", sheet, strings=strings)
    import zipfile

    with zipfile.ZipFile(path) as z:
        contents = {name: z.read(name) for name in z.namelist()}
    contents["[Content_Types].xml"] = contents["[Content_Types].xml"].replace(b"</Types>", padding.encode()
                                                                              + b"</Types>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in contents.items():
            z.writestr(name, data)
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2 and "its part [Content_Types].xml unpacks to" in err and "over the limit of 1024 KB" in err


def test_running_out_of_memory_on_a_workbook_has_its_own_message(tmp_path, capsys, monkeypatch):
    import openpyxl
    from openpyxl.worksheet._reader import WorkSheetParser

    path = package(tmp_path / "book.xlsx", header_row() + recipient_row(2) + recipient_row(3),
                   strings=["meter", "disco", "amount"])

    def no_memory(*args, **kwargs):
        raise MemoryError

    for where in ("opening", "reading"):
        with monkeypatch.context() as m:
            if where == "opening":
                m.setattr(openpyxl, "load_workbook", no_memory)
            else:
                parse = WorkSheetParser.parse

                def parse_then_run_out(self, parse=parse):
                    rows = parse(self)
                    yield next(rows)
                    raise MemoryError

                m.setattr(WorkSheetParser, "parse", parse_then_run_out)
            code, out, err = run(capsys, "validate", str(path))
        message = " ".join(err.split())
        assert code == 2 and "unexpected error" not in message and "Traceback" not in err, (where, message)
        assert f"{path}: the workbook is too big for this computer's memory" in message, (where, message)
        assert "Save the sheet as CSV" in message


# -- issue 10, after review: which sheet and which rows of a workbook are read ------------------

def _two_month_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    old = wb.active
    old.title = "February (old)"
    old.append(["meter", "disco", "amount", "phone"])
    for n in range(30):
        old.append([f"0427189{n:04d}", "IKEJA", 1000, "08031234567"])
    old.sheet_state = "hidden"
    notes = wb.create_sheet("Notes")
    notes.append(["paid on the 1st"])
    march = wb.create_sheet("March")
    march.append(["meter", "disco", "amount", "phone"])
    for n in range(3):
        march.append([f"0427199{n:04d}", "EKO", 2000, "08031234567"])
    wb.active = march
    wb.save(path)
    return path


def test_a_hidden_sheet_is_not_read_and_the_summary_names_the_sheet_read(tmp_path, capsys):
    # The hidden first sheet (last month's 30 rows) was imported instead of the visible,
    # active "March". Now the active sheet is read when it is visible, else the first
    # visible one, and the summary says which, listing the others.
    path = _two_month_workbook(tmp_path / "months.xlsx")
    code, out, err = run(capsys, "import", str(path))
    assert code == 0, err
    assert f"{path} (sheet 'March'): 3 rows, 3 valid" in out
    assert "other sheets in the workbook, not read: 'February (old)' (hidden), 'Notes'; read one with --sheet" in out
    assert [r.meter for r in stored_rows()] == ["04271990000", "04271990001", "04271990002"]
    # validate --json keeps stdout for rows: the sheet is said on stderr
    code, out, err = run(capsys, "validate", "--json", str(path))
    assert [json.loads(line)["values"]["disco"] for line in out.splitlines()] == ["EKO"] * 3
    assert "(sheet 'March'): 3 rows" in err and "'February (old)' (hidden)" in err
    # asked for by name, a hidden sheet is read
    code, out, err = run(capsys, "validate", "--sheet", "February (old)", str(path))
    assert code == 0 and "(sheet 'February (old)'): 30 rows" in out and "not read: 'Notes', 'March';" in out
    # the active sheet hidden (Excel does not allow it, other programs may): the first visible one
    wb = openpyxl.load_workbook(path)
    wb.active = 0
    wb.save(path)
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "the header row of sheet 'Notes' (row 1) has no column for meter" in message
    assert "also has 'February (old)', 'March': choose the sheet with --sheet" in message


def test_rows_hidden_in_the_sheet_are_flagged(tmp_path, capsys):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["meter", "disco", "amount", "phone"])
    for n in range(2, 12):
        ws.append([f"0427189{n:04d}", "IKEJA", 1000, "08031234567"])
    for n in (4, 5, 9):  # hidden by hand, or by a filter (which also writes hidden="1")
        ws.row_dimensions[n].hidden = True
    ws.row_dimensions[7].height = 30  # a row with attributes, not hidden
    path = tmp_path / "filtered.xlsx"
    wb.save(path)
    code, out, err = run(capsys, "validate", "--json", str(path))
    rows = {r["row"]: r for r in map(json.loads, out.splitlines())}
    assert code == 0 and all(r["valid"] for r in rows.values())  # payable: the operator should look
    flagged = sorted(n for n, r in rows.items() if r["warnings"])
    assert flagged == [4, 5, 9]
    assert rows[4]["warnings"] == [{"field": "row", "message": "hidden in the sheet (hidden by hand or filtered "
                                    "out); unhide it to check that it belongs in this batch, or delete it."}]
    assert "10 rows, 10 valid, 0 invalid, 3 warnings" in err
    code, out, err = run(capsys, "validate", str(path))
    assert "warning: row 5: hidden in the sheet" in out


def test_a_sheet_that_lists_a_row_twice_is_refused(tmp_path, capsys):
    # openpyxl drops a row whose number is not after the previous one, without a word
    path = package(tmp_path / "twice.xlsx", header_row() + recipient_row(2) + recipient_row(4)
                   + recipient_row(3), strings=["meter", "disco", "amount"])
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "lists row 3 again after row 4; the workbook is damaged" in message



# -- issue 10 point 10, after review: quotes and line breaks in a CSV -------------------------

@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_a_quote_left_open_on_the_last_line_refuses_the_file(tmp_path, capsys, ending):
    # Nothing under it to swallow, so the line count agreed and the row was imported with
    # its cell running to the end of the file.
    path = write(tmp_path, (SHORT_HEADER + recipients(1, 49)).replace("\n", "\r\n" if ending == "\r\n" else "\n")
                 + '04271890050,IKEJA,1000,08031234567,"Name 50' + ending)
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "rows" not in out, (out, err)
    assert f"{path}: row 51: a quote opened in its 'Customer Name' cell is never closed" in message
    assert "Close the quote" in message


def test_a_closed_cell_over_two_lines_on_the_last_row_is_not_said_to_run_to_the_end(tmp_path, capsys):
    path = write(tmp_path, SHORT_HEADER + recipients(1, 2) + '04271890003,IKEJA,1000,08031234567,"Ada\nObi"\n')
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "row 4: a quote opened in its 'Customer Name' cell is closed only on line 5" in message
    assert "end of the file" not in message


def test_a_line_break_typed_in_a_column_not_imported_is_accepted(tmp_path, capsys):
    # Excel writes Alt+Enter inside a cell as a bare LF, rows end with CR LF.
    header = "meter,disco,amount,phone,Address\r\n"
    path = write(tmp_path, header + '04271892301,IKEJA,1000,08031234567,"12 Allen Ave\nIkeja"\r\n'
                 + "04271892302,IKEJA,1000,08031234567,x\r\n" + '04271892303,EKO,1000,08031234567,"Flat 3\nLekki"\r\n')
    code, out, err = run(capsys, "validate", "--json", str(path))
    assert code == 0, err
    assert [json.loads(line)["row"] for line in out.splitlines()] == [2, 3, 4]  # rows, not lines
    assert "3 rows, 3 valid" in err
    # the same break in a column that is imported still refuses the file
    path = write(tmp_path, header.replace("Address", "name") + '04271892301,IKEJA,1000,08031234567,"Ada\nObi"\r\n')
    code, out, err = run(capsys, "validate", str(path))
    assert code == 2 and "row 2: a quote opened in its 'name' cell is closed only on line 3" in " ".join(err.split())


@pytest.mark.parametrize("case", ["last column", "middle column", "crlf", "first column"])
def test_a_quote_left_open_in_a_column_not_imported_still_refuses_the_file(tmp_path, capsys, case):
    # The rows under the open quote end up inside the ignored cell, and the cell count can
    # match the header's when the quote closes on a later row's quoted cell.
    if case == "last column":  # rows 3-4 swallowed; row 5's quoted address closes the cell
        text = ("meter,disco,amount,phone,Address\n" + '04271892301,IKEJA,1000,08031234567,"12 Allen Ave\n'
                + "04271892302,IKEJA,1000,08031234567,x\n04271892303,IKEJA,1000,08031234567,y\n"
                + '04271892304,IKEJA,1000,08031234567,"Ikeja"\n')
    elif case == "middle column":  # row 2 would take row 3's amount, and row 3 be gone
        text = ("meter,disco,Address,amount\n" + '04271892301,IKEJA,"12 Allen Ave,1000\n'
                + '04271892302,IKEJA,"Ikeja",20000\n')
    elif case == "first column":
        text = 'Address,meter,disco,amount\n"12 Allen Ave,04271892301,IKEJA,1000\n"Ikeja",04271892302,IKEJA,20000\n'
    else:  # a CR LF file: the swallowed row brings its CR into the cell
        text = ("meter;disco;amount;Address\r\n" + '04271892301;IKEJA;1000;"12 Allen Ave\r\n'
                + '04271892302;IKEJA;"Ikeja"\r\n')
    path = write(tmp_path, text)
    code, out, err = run(capsys, "validate", str(path))
    message = " ".join(err.split())
    assert code == 2 and "row 2: a quote opened in its 'Address' cell" in message, (out, err)


# -- issue 10 point 14f, after review: control characters and invisible letters ----------------

def test_a_control_character_in_a_name_is_named(tmp_path, capsys):
    path = write(tmp_path, SHORT_HEADER + "04271892301,IKEJA,1000,08031234567,Ada \x1b[31mObi\n"
                 + "04271892302,IKEJA,1000,08031234567,\u3164\n")
    code, out, err = run(capsys, "validate", str(path))
    assert code == 1 and "row 2: name contains a control character (U+001B)" in out
    assert "junk bytes" not in out and "\x1b" not in out
    assert "warning: row 3: name contains" in out and "U+3164 HANGUL FILLER" in out and "\u3164" not in out
