"""Property tests: no CSV or XLSX content makes `import_file` crash (issue 2, section 5).

The only exception a file may cause is FileError (a whole-file problem); anything else
must become a report whose stored rows obey the invariants of `check_stored_batch`.
Hypothesis and function-scoped fixtures do not mix, so every example opens its own
Store in a temporary folder.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buypower_tui.core.importing import FileError, ImportReport, import_file
from buypower_tui.core.models import RowState
from buypower_tui.core.rules import FIELDS, Limits, check_row
from buypower_tui.core.store import Store

LIMITS = Limits()
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JUNK = frozenset("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15"
                 "\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\ufffd")


@contextlib.contextmanager
def fresh_store() -> Iterator[tuple[Store, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/x.db")
        try:
            yield store, Path(tmp)
        finally:
            store.close()


def import_or_file_error(path: Path, store: Store) -> ImportReport | None:
    """Import `path`; a FileError is allowed (returns None), any other exception fails."""
    try:
        return import_file(path, store, LIMITS)
    except FileError as exc:
        message = str(exc)
        assert str(path) in message, message  # the message names the file
        assert store.batches() == []  # a file refused at its header leaves no batch behind
        return None


def check_stored_batch(store: Store, report: ImportReport) -> list:
    """The invariants every imported batch obeys; returns its rows."""
    assert report.batch_id is not None
    rows = list(store.rows(report.batch_id))
    assert len(rows) == report.rows
    states = Counter(r.state for r in rows)
    assert set(states) <= {RowState.VALID, RowState.INVALID}, states
    assert states[RowState.VALID] + states[RowState.INVALID] == report.rows
    assert states[RowState.VALID] == report.valid
    assert states[RowState.INVALID] == report.invalid
    numbers = [r.row_number for r in rows]
    assert numbers == sorted(set(numbers)), numbers  # sheet order, each row once
    assert all(n >= 2 for n in numbers)  # the header is at least row 1
    for r in rows:
        # a row's own warnings (hidden characters) are the rules' warnings on what was stored, and
        # the import's own (how a cell was stored) are marked so
        warnings = check_row({f: getattr(r, f"{f}_raw") for f in FIELDS}, LIMITS).warnings
        rules = [w for w in r.warnings or () if not w.get("stored")]
        assert rules == [{"field": f, "message": m} for f, m in warnings]
        if r.state == RowState.INVALID:
            assert r.errors, f"row {r.row_number} is INVALID without a message"
            fields = []
            for e in r.errors:
                assert isinstance(e.get("field"), str) and e["field"] in (*FIELDS, "row"), e
                assert isinstance(e.get("message"), str) and e["message"].strip(), e
                assert e["field"] in e["message"], e  # every message names its field
                fields.append(e["field"])
            assert len(fields) == len(set(fields)), r.errors  # one message per field
        else:
            assert not r.errors, r.errors
            assert r.meter and r.disco and r.phone and r.vend_type and r.amount_kobo is not None
            # A VALID row is exactly what the rules make of the raw texts that were stored.
            checked = check_row({f: getattr(r, f"{f}_raw") for f in FIELDS}, LIMITS)
            assert checked.valid, checked.errors
            assert checked.values["amount"] == r.amount
            for f in ("meter", "disco", "phone", "vend_type", "name", "email"):
                assert checked.values[f] == getattr(r, f), f
    stats = store.stats(report.batch_id)
    assert stats.rows == report.rows and stats.invalid == report.invalid
    return rows


def field_errors(row) -> dict[str, str]:
    return {e["field"]: e["message"] for e in (row.errors or [])}


# -- strategies ----------------------------------------------------------------------------

HEADER_NAMES = {
    "meter": ["meter", "Meter Number", "meter_no", "METER NO."],
    "disco": ["disco", "Distribution Company", "disco_code"],
    "amount": ["amount", "Amount (NGN)", "amount_naira"],
    "phone": ["phone", "Phone Number", "msisdn"],
    "vend_type": ["vend_type", "Meter Type"],
    "name": ["name", "Customer Name"],
    "email": ["email"],
    "other": ["notes", "Remarks"],  # an unknown column: ignored
}
# Values the rules accept, with what they become.
GOOD = {
    "meter": [("04271892301", "04271892301"), ("0427 189 2301", "04271892301"),
              ("4506-7198-783", "45067198783")],
    "disco": [("IKEJA", "IKEJA"), ("ikedc", "IKEJA"), ("Ikeja Electric", "IKEJA"), ("aedc", "ABUJA"),
              ("Port Harcourt", "PH")],
    "amount": [("1000", Decimal("1000.00")), ("1,000.50", Decimal("1000.50")),
               ("₦5,000", Decimal("5000.00")), ("NGN 100", Decimal("100.00"))],
    "phone": [("08031234567", "08031234567"), ("+234 803 123 4567", "08031234567"),
              ("0703-123-4567", "07031234567")],
    "vend_type": [("", "PREPAID"), ("prepaid", "PREPAID"), ("PREPAID", "PREPAID")],
    "name": [("", None), ("Ada Obi", "Ada Obi"), ("Ọlá, Adé; \"Jr\"", "Ọlá, Adé; \"Jr\"")],
    "email": [("", None), ("ada@example.com", "ada@example.com")],
    "other": [("", None), ("call first", None)],
}
REAL_HEADERS = ["meter,disco,amount,phone", "Meter Number;Disco Code;Amount (NGN);Phone Number",
                "meter\tdisco\tamount", "METER NO.,Distribution Company,amount_naira,msisdn,Customer Name",
                "\ufeffmeter,disco,amount,phone,vend_type,email"]

SPECIAL = list(',;"\'\n\r\t \x00\ufeff\ufffd\x1b\u2028') + ["\r\n", '""', "04271892301", "IKEJA", "1,000"]
csv_cells = st.one_of(
    st.lists(st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL)), max_size=10).map("".join),
    st.sampled_from([v for pool in GOOD.values() for v, _ in pool] + ["", " ", "0", "-5", "\x00"]),
)


@st.composite
def layouts(draw):
    """A header: the columns in some order, each under one of its accepted names."""
    optional = draw(st.lists(st.sampled_from(["vend_type", "name", "email", "other"]), unique=True))
    fields = draw(st.permutations(["meter", "disco", "amount", "phone", *optional]))
    names = [draw(st.sampled_from(HEADER_NAMES[f])) for f in fields]
    return fields, names


@st.composite
def data_rows(draw, fields, cells):
    """("good", cells, expected values) for a row of accepted values, else ("random", cells)."""
    if draw(st.booleans()):
        picks = {f: draw(st.sampled_from(GOOD[f])) for f in fields}
        return "good", [picks[f][0] for f in fields], {f: v for f, (_, v) in picks.items() if f != "other"}
    return "random", draw(st.lists(cells, max_size=len(fields) + 2))


# Cells without line breaks: a cell over several lines refuses the file (point 10 of issue
# 10), so half of the examples keep to one line per row and reach the exact expectations.
one_line_cells = csv_cells.map(lambda s: s.replace("\r", "").replace("\n", ""))


def breaks_refused(cells: list[str], fields: list[str], delimiter: str, terminator: str) -> bool:
    """Whether a row written with a line break in a cell refuses the file: unless the breaks
    are only in columns not imported, the row has the header's cell count, those cells hold
    fewer separators than a row needs to reach its meter, disco and amount, and (rows ending
    with CR LF) no CR, they could hold rows swallowed by an open quote."""
    broken = [i for i, c in enumerate(cells) if "\n" in c or "\r" in c]
    if not broken:
        return False
    reach = max(fields.index(f) for f in ("meter", "disco", "amount"))
    return (len(cells) != len(fields) or any(fields[i] != "other" for i in broken)
            or sum(cells[i].count(delimiter) for i in broken) >= reach
            or (terminator == "\r\n" and any("\r" in cells[i] for i in broken)))


@st.composite
def structured_csv(draw):
    fields, names = draw(layouts())
    cells = csv_cells if draw(st.booleans()) else one_line_cells
    rows = draw(st.lists(data_rows(fields, cells), max_size=8))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    terminator, quoting = draw(st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\n", csv.QUOTE_ALL)]))
    lead = draw(st.integers(0, 2))  # blank lines before the header
    bom = draw(st.booleans())
    return fields, names, rows, delimiter, terminator, quoting, lead, bom


# -- (a) CSV -------------------------------------------------------------------------------

@FUZZ
@given(structured_csv())
def test_structured_csv_rows_land_on_their_sheet_row(case):
    """A well-formed CSV (written by csv.writer) with a real header: exact expectations."""
    fields, names, rows, delimiter, terminator, quoting, lead, bom = case
    buf = io.StringIO()
    buf.write(terminator * lead)
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(names)
    for row in rows:
        writer.writerow(row[1])
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.csv"
        path.write_bytes(("\ufeff" if bom else "").encode() + buf.getvalue().encode("utf-8"))
        spanning = [i for i, row in enumerate(rows) if breaks_refused(row[1], fields, delimiter, terminator)]
        if spanning:  # a cell over several lines that could be a quote left open: refused
            with pytest.raises(FileError, match=f"row {lead + 2 + spanning[0]}: a quote opened in its"):
                import_file(path, store, LIMITS)
            assert store.batches() == []
            return
        if all(not "".join(row[1]).strip() for row in rows):  # a header and nothing under it
            with pytest.raises(FileError, match="no data rows"):
                import_file(path, store, LIMITS)
            assert store.batches() == []
            return
        report = import_file(path, store, LIMITS)  # a real header and a data row: never a FileError
        stored = {r.row_number: r for r in check_stored_batch(store, report)}

    width = len(fields)
    index = {f: i for i, f in enumerate(fields)}
    expected_numbers, blank = [], 0
    for i, row in enumerate(rows):
        kind, cells = row[0], row[1]
        number = lead + 2 + i  # header = row lead + 1; blank lines count
        if not "".join(cells).strip():
            blank += 1
            assert number not in stored
            continue
        expected_numbers.append(number)
        r = stored[number]
        for f in fields:
            if f != "other":
                assert getattr(r, f"{f}_raw") == (cells[index[f]] if index[f] < len(cells) else "")
        errors = field_errors(r)
        if kind == "good":
            assert r.state == RowState.VALID, errors
            expected = row[2]
            assert r.amount == expected["amount"]
            for f in ("meter", "disco", "phone", "vend_type", "name", "email"):
                assert getattr(r, f) == expected.get(f, "PREPAID" if f == "vend_type" else None), f
            continue
        if len(cells) < width or "".join(cells[width:]).strip():
            assert "row" in errors, (cells, errors)  # too few or too many cells
        for f in fields:
            if f != "other" and index[f] < len(cells) and JUNK & set(cells[index[f]]):
                assert f in errors and ("unreadable" in errors[f] or "control character" in errors[f]), \
                    (f, cells, errors)
    assert sorted(stored) == expected_numbers
    assert report.blank_rows == blank
    assert report.columns == {f: n for f, n in zip(fields, names, strict=True) if f != "other"}
    assert report.unknown_columns == [n for f, n in zip(fields, names, strict=True) if f == "other"]


@FUZZ
@given(layouts(), st.data())
def test_a_quote_left_open_never_loses_rows_quietly(layout, data):
    """Good rows, every cell quoted; one row loses its closing quote. The file is refused
    naming that row: never fewer rows than lines, as in "1 rows, 1 valid" for a 51-row
    sheet, and the last row's cell does not quietly run to the end of the file."""
    fields, names = layout
    rows = data.draw(st.lists(data_rows(fields, csv_cells).filter(lambda r: r[0] == "good"),
                              min_size=1, max_size=6))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(names)
    for row in rows:
        writer.writerow(row[1])
    lines = buf.getvalue().split("\n")[:-1]
    broken = data.draw(st.integers(1, len(rows)))  # a data line (line 1 is the header)
    assert lines[broken].endswith('"')
    lines[broken] = lines[broken][:-1]
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(FileError, match=f"row {broken + 1}: a quote opened in its"):
            import_file(path, store, LIMITS)
        assert store.batches() == []


@st.composite
def raw_csv_text(draw):
    """Text that need not be valid CSV: unbalanced quotes, mixed separators, odd line ends."""
    header = draw(st.one_of(st.sampled_from(REAL_HEADERS), st.text(max_size=30)))
    sep = draw(st.sampled_from([",", ";", "\t", ",;"]))
    lines = [header]
    for cells in draw(st.lists(st.lists(csv_cells, max_size=6), max_size=8)):
        lines.append(sep.join(cells))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(lines) + draw(st.sampled_from(["", newline]))


@FUZZ
@given(raw_csv_text(), st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
def test_any_csv_text_imports_or_is_a_file_error(text, encoding):
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.csv"
        path.write_bytes(text.encode(encoding, errors="replace"))
        report = import_or_file_error(path, store)
        if report is not None:
            check_stored_batch(store, report)


@FUZZ
@given(st.one_of(st.binary(max_size=2000),
                 st.binary(max_size=500).map(lambda b: b"PK\x03\x04" + b),  # claims to be a zip
                 st.binary(max_size=500).map(lambda b: b"\xd0\xcf\x11\xe0" + b),  # old .xls
                 st.binary(max_size=500).map(lambda b: b"meter,disco,amount\n" + b)))
def test_any_bytes_import_or_are_a_file_error(data):
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.csv"
        path.write_bytes(data)
        report = import_or_file_error(path, store)
        if report is not None:
            check_stored_batch(store, report)


def test_unreadable_csv_row_is_a_row_error_and_numbering_goes_on():
    content = ("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n"
               + "x" * 200_000 + ",IKEJA,1000,08031234567\n"  # beyond csv's field size limit
               + "04271892301,EKO,1000,08031234567\n")
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.csv"
        path.write_text(content, encoding="utf-8")
        report = import_file(path, store, LIMITS)
        rows = check_stored_batch(store, report)
    assert [(r.row_number, r.state) for r in rows] == [
        (2, RowState.VALID), (3, RowState.INVALID), (4, RowState.VALID)]
    assert "row" in field_errors(rows[1])


# -- (b) XLSX ------------------------------------------------------------------------------

# Characters openpyxl refuses (IllegalCharacterError), and U+FFFE/U+FFFF and lone surrogates
# (Cs), which openpyxl writes but no XML parser reads back: those are covered by the
# damaged-workbook tests.
_XLSX_BAD = [chr(c) for c in (*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20))] + ["\ufffe", "\uffff"]
xlsx_text = st.lists(
    st.one_of(st.characters(blacklist_characters=_XLSX_BAD, blacklist_categories=("Cs",)),
              st.sampled_from([c for c in SPECIAL if not set(c) & set(_XLSX_BAD)])),
    max_size=10,
).map("".join).map(lambda s: "'" + s if s.startswith("=") else s)  # "=..." would be stored as a formula
xlsx_cells = st.one_of(
    xlsx_text,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
    st.sampled_from([4271892301.0, 42718923010, 4.271892301e10, 1000, 1000.5, 8031234567]),
)


def _xlsx_blank(cells) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


@st.composite
def structured_xlsx(draw):
    fields, names = draw(layouts())
    header = draw(st.one_of(st.just(names), st.lists(xlsx_cells, max_size=6)))
    rows = []
    for kind, *rest in draw(st.lists(data_rows(fields, xlsx_cells), max_size=8)):
        if kind == "good" and draw(st.booleans()):
            # Excel turns these into numbers: still a valid row (amount and phone only).
            cells, expected = list(rest[0]), dict(rest[1])
            if "amount" in fields:
                cells[fields.index("amount")], expected["amount"] = 1000.5, Decimal("1000.50")
            cells[fields.index("phone")], expected["phone"] = 8031234567, "08031234567"
            rest = [cells, expected]
        rows.append((kind, *rest))
    return fields, names, header, rows


@FUZZ
@given(structured_xlsx())
def test_any_xlsx_workbook_imports_or_is_a_file_error(case):
    fields, names, header, rows = case
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row[1])
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.xlsx"
        wb.save(path)
        report = import_or_file_error(path, store)
        if report is None:
            has_data = any(any(c is not None and str(c).strip() for c in row[1]) for row in rows)
            assert header != names or not has_data  # a real header with rows under it is never refused
            return
        stored = {r.row_number: r for r in check_stored_batch(store, report)}
    if header != names:
        return  # a random header that happened to name the columns: invariants only
    index = {f: i for i, f in enumerate(fields)}
    expected_numbers = []
    for i, row in enumerate(rows):
        kind, cells = row[0], row[1]
        if _xlsx_blank(cells):
            assert i + 2 not in stored
            continue
        expected_numbers.append(i + 2)  # header = row 1, blank rows count
        r = stored[i + 2]
        errors = field_errors(r)
        if kind == "good":
            assert r.state == RowState.VALID, errors
            assert r.amount == row[2]["amount"] and r.phone == row[2]["phone"]
            assert r.meter == row[2]["meter"] and r.disco == row[2]["disco"]
            continue
        meter = cells[index["meter"]] if index["meter"] < len(cells) else None
        if isinstance(meter, int | float) and not isinstance(meter, bool):  # said, as a warning or an error
            told = [p["message"] for p in (*(r.errors or ()), *(r.warnings or ())) if p["field"] == "meter"]
            assert any("stored as a number" in m for m in told), (errors, r.warnings)
            assert r.meter is None or r.warnings  # accepted only with its warning
    assert sorted(stored) == expected_numbers


def test_xlsx_odd_numbers_do_not_crash():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["meter", "disco", "amount", "phone"])
    ws.append([float("nan"), "IKEJA", float("inf"), -0.0])
    ws.append([float("-inf"), "IKEJA", 1e300, 5e-324])
    ws.append([10**40, "IKEJA", -(10**40), True])
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.xlsx"
        wb.save(path)
        report = import_file(path, store, LIMITS)
        rows = check_stored_batch(store, report)
    assert [r.row_number for r in rows] == [2, 3, 4]
    assert all(r.state == RowState.INVALID for r in rows)


# -- damaged workbooks (a zip that is not a sound xlsx) ------------------------------------

def _good_xlsx_bytes() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["meter", "disco", "amount", "phone"])
    for i in range(30):
        ws.append([f"0427189{i:04d}", "IKEJA", 1000 + i, "08031234567"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD_XLSX = _good_xlsx_bytes()


def _rewrite_sheet(edit) -> bytes:
    """GOOD_XLSX as a sound zip whose worksheet XML went through `edit`."""
    src = zipfile.ZipFile(io.BytesIO(GOOD_XLSX))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in src.namelist():
            data = src.read(name)
            z.writestr(name, edit(data) if name == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


def _noncharacter_cell_xlsx() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["meter", "disco", "amount", "phone"])
    ws.append(["04271892301\ufffe", "IKEJA", 1000, "08031234567"])  # openpyxl writes it as is
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _corrupt_deflate() -> bytes:
    # Flip bytes in the middle of the compressed worksheet: zip directory intact, data not.
    info = zipfile.ZipFile(io.BytesIO(GOOD_XLSX)).getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(GOOD_XLSX)
    for k in range(start + info.compress_size // 2, start + info.compress_size // 2 + 8):
        data[k] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: _rewrite_sheet(lambda b: b[: len(b) // 2]), id="worksheet-xml-cut-in-half"),
        pytest.param(lambda: _rewrite_sheet(lambda b: b.replace(b"<sheetData>", b"<sheetData><<")),
                     id="worksheet-xml-not-well-formed"),
        pytest.param(_noncharacter_cell_xlsx, id="cell-with-U+FFFE"),
        pytest.param(_corrupt_deflate, id="corrupt-deflate-stream"),
    ],
)
def test_damaged_xlsx_is_a_file_error_not_a_crash(make):
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.xlsx"
        path.write_bytes(make())
        if (report := import_or_file_error(path, store)) is not None:
            check_stored_batch(store, report)


@pytest.mark.parametrize("name", ["sheet.csv", "sheet", "sheet.txt"])
def test_workbook_under_another_extension_is_not_a_crash(name):
    # The importer recognises a workbook by its content (PK magic), whatever its name.
    with fresh_store() as (store, tmp):
        path = tmp / name
        path.write_bytes(GOOD_XLSX)
        if (report := import_or_file_error(path, store)) is not None:
            assert len(check_stored_batch(store, report)) == 30


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(GOOD_XLSX) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.one_of(st.none(), st.integers(0, len(GOOD_XLSX))))
def test_corrupted_xlsx_bytes_never_crash(flips, cut):
    data = bytearray(GOOD_XLSX)
    for position, value in flips:
        data[position] = value
    if cut is not None:
        data = data[:cut]
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.xlsx"
        path.write_bytes(bytes(data))
        if (report := import_or_file_error(path, store)) is not None:
            check_stored_batch(store, report)


# -- (d) numeric meters and row numbers ------------------------------------------------------

def test_xlsx_numeric_meters_are_accepted_with_a_warning_and_a_lost_zero_is_proposed():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Meter Number", "Disco", "Amount (NGN)", "Phone Number"])  # row 1
    ws.append(["04271892301", "IKEJA", 1000, "08031234567"])            # row 2: valid
    ws.append([])                                                        # row 3: blank
    ws.append([4271892301.0, "IKEJA", 1000, "08031234567"])              # row 4: lost its 0
    ws.append([42718923010, "EKO", 2000, "08031234567"])                 # row 5: int, 11 digits
    ws.append([None, None, None, None])                                  # row 6: blank
    ws.append([4.271892301e10, "ABUJA", 3000, 8031234567])               # row 7: float, 11 digits
    ws.append(["0427189230", "IKEJA", 1000, "08031234567"])              # row 8: text, too short
    ws.append([427189230, "IKEJA", 1000, "08031234567"])                 # row 9: number, 2 short
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.xlsx"
        wb.save(path)
        report = import_file(path, store, LIMITS)
        rows = {r.row_number: r for r in check_stored_batch(store, report)}
        fixed = import_file(path, store, LIMITS, fix_leading_zeros=True)
        fixed_rows = {r.row_number: r for r in check_stored_batch(store, fixed)}
    assert sorted(rows) == [2, 4, 5, 7, 8, 9]
    assert (report.rows, report.valid, report.invalid) == (6, 3, 3)
    assert (report.numeric_meters, report.zero_proposals) == (2, 1)
    for n in (5, 7):  # an allowed length: accepted, with a warning on how it was stored
        assert rows[n].state == RowState.VALID
        assert rows[n].warnings == [{"field": "meter", "stored": True, "message": f"meter {rows[n].meter} was "
                                     "stored as a number in the sheet; check the lookup name."}]
    (error,) = rows[4].errors
    assert error["fix"] == {"meter": "04271892301"} and error["stored"]
    assert "one short" in error["message"] and "The fix is 04271892301" in error["message"]
    assert rows[4].meter_raw == "4271892301"  # the number as Excel holds it, no ".0"
    assert "stored as a number" in field_errors(rows[9])["meter"] and "fix" not in rows[9].errors[0]
    # A meter typed as text is checked by the rules, not flagged as a number.
    assert "stored as a number" not in field_errors(rows[8])["meter"]
    assert "leading 0" in field_errors(rows[8])["meter"]
    # --fix-leading-zeros: the proposal applied, with a warning saying so
    assert (fixed.valid, fixed.zeros_fixed, fixed.zero_proposals) == (4, 1, 0)
    assert fixed_rows[4].meter == "04271892301" and "0 was added" in fixed_rows[4].warnings[0]["message"]
    assert any("--fix-leading-zeros" in n for n in fixed.notices)


def test_csv_row_numbers_are_sheet_row_numbers():
    content = ("\r\n"                                          # row 1: blank, before the header
               "meter,disco,amount,phone\r\n"                   # row 2: header
               "04271892301,IKEJA,1000,08031234567\r\n"         # row 3: valid
               "\r\n"                                           # row 4: blank
               "4271892301,IKEJA,1000,08031234567\r\n"          # row 5: 10 digits
               ",,,\r\n"                                        # row 6: blank (only separators)
               "04271892301,IKEJA,abc,08031234567\r\n"          # row 7: bad amount
               "04271892301,IKEJA,1000\r\n"                     # row 8: a cell missing
               "04271892301,IKEJA,1000,08031234567,extra\r\n")  # row 9: a cell too many
    with fresh_store() as (store, tmp):
        path = tmp / "sheet.csv"
        path.write_bytes(content.encode())
        report = import_file(path, store, LIMITS)
        rows = {r.row_number: r for r in check_stored_batch(store, report)}
    assert sorted(rows) == [3, 5, 7, 8, 9]
    assert report.blank_rows == 2
    assert rows[3].state == RowState.VALID
    assert set(field_errors(rows[5])) == {"meter"} and "leading 0" in field_errors(rows[5])["meter"]
    assert set(field_errors(rows[7])) == {"amount"}
    assert "row" in field_errors(rows[8])
    assert "row" in field_errors(rows[9])
