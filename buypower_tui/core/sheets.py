"""Reading a sheet file (CSV or XLSX) into records: the sheet's rows as text cells.

Nothing in a file can make this crash or hang: a whole-file problem raises FileError with
one message for the operator; a row problem becomes that row's read error.
"""

from __future__ import annotations

import codecs
import csv
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO


class FileError(Exception):
    """The file as a whole cannot be used; the message names the file and the fix."""



# -- reading records ---------------------------------------------------------------------

# A sheet row: its number, its cells as text (None if unreadable), a read error, and the
# indices of cells that held numbers (XLSX), which matters for meters.
Record = tuple[int, list[str] | None, str | None, frozenset[int]]
_NO_NUMBERS: frozenset[int] = frozenset()


_INVALID_BYTE = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")


def _sniff_encoding(path: Path) -> str:
    """UTF-8 (BOM or not) unless the file is clearly something else.

    A UTF-8 file with a few junk bytes stays UTF-8 (the junk becomes U+FFFD, an error on
    its own row); only a file with invalid bytes and no valid multi-byte UTF-8 at all is
    an Excel cp1252 export. UTF-16 (Excel's "Unicode text") is known by its BOM.
    """
    with path.open("rb") as fh:
        if fh.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
        fh.seek(0)
        # surrogateescape turns each invalid byte into a lone surrogate (U+DC80-U+DCFF), so an
        # invalid byte is told apart from a U+FFFD the file really holds
        decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        bad = 0
        while chunk := fh.read(1 << 20):
            text = decoder.decode(chunk)
            if text.isascii():
                continue
            invalid = len(_INVALID_BYTE.findall(text))
            if len(_NON_ASCII.findall(text)) > invalid:
                return "utf-8-sig"  # valid multi-byte UTF-8: a UTF-8 file, whatever junk it also holds
            bad += invalid
        bad += len(decoder.decode(b"", final=True))
    return "cp1252" if bad else "utf-8-sig"


def _sniff_delimiter(first_line: str) -> str:
    # csv.Sniffer also guesses quoting and misfires on short samples; the header line
    # holds at least meter, disco and amount, so the delimiter that splits it most wins.
    best, best_n = ",", 0
    for delim in (",", ";", "\t"):
        n = len(next(csv.reader([first_line], delimiter=delim), []))
        if n > best_n:
            best, best_n = delim, n
    return best


def _csv_records(path: Path) -> Iterator[Record]:
    """The CSV's records, each exactly one line of the file: row N is line N.

    A record that spans several lines (a quote left open reads the following lines into one
    cell, up to the quote that closes it or to the end of the file) refuses the whole file,
    naming the row, the cell and the lines. Refusing is safer than flagging that one row:
    the rows read into the cell are gone from the batch, so a flagged row would leave a batch
    that looks nearly right and pays everyone except the swallowed recipients, and fixing the
    row in the editor would not bring them back. Only the corrected file does. A cell that
    really holds a line break is refused too (the two cannot be told apart); the fix is the
    same, and a meter sheet has no need for line breaks.
    """
    with path.open(encoding=_sniff_encoding(path), errors="replace", newline="") as fh:
        head = fh.read(65536)
        first = next((line for line in head.splitlines() if line.strip()), "")
        fh.seek(0)
        reader = csv.reader(fh, delimiter=_sniff_delimiter(first))
        header: list[str] | None = None
        number = 0
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if reader.line_num > number:  # csv gave up inside a quote, lines after it lost
                    raise _spanning_record(path, number, reader.line_num, None, header, not fh.read(1),
                                           f" cannot be read as CSV ({exc}):") from None
                yield number, None, f"row cannot be read as CSV ({exc}); check its quotes.", _NO_NUMBERS
                continue
            if reader.line_num > number:  # the line count and the row count part here
                raise _spanning_record(path, number, reader.line_num, cells, header, not fh.read(1))
            if header is None and "".join(cells).strip():
                header = cells
            yield number, cells, None, _NO_NUMBERS


def _spanning_record(path: Path, number: int, last: int, cells: list[str] | None,
                     header: list[str] | None, at_end: bool, problem: str = "") -> FileError:
    where = "in it"
    index = next((i for i, c in enumerate(cells or ()) if "\n" in c or "\r" in c), None)
    if index is not None:
        name = header[index].strip() if header and index < len(header) else ""
        where = f"in its '{name}' cell" if name else f"in its cell {index + 1}"
    n = last - number
    lines = f"line {last} was" if n == 1 else f"lines {number + 1}-{last} ({n} lines) were"
    if cells is None:  # csv gave up on the cell (too long) somewhere on the last line read
        span = f"runs on to line {last} at least, so {lines} lost into it"
    elif at_end:
        span = f"runs on to the end of the file, so {lines} read into that cell instead of as rows"
    else:
        span = f"is closed only on line {last}, so {lines} read into that cell instead of as rows"
    return FileError(f"{path}: row {number}{problem or ':'} a quote opened {where} {span}. Close the quote "
                     "where the cell should end (or remove the line breaks inside the cell) and import the "
                     "file again; nothing was imported.")


@dataclass
class Source:
    records: Iterator[Record]
    strict_width: bool  # CSV: a cell count that differs from the header's means shifted cells
    sheets: list[str] = field(default_factory=list)  # XLSX: every sheet, the one read first
    sheet: str | None = None


# What a workbook may unpack to, checked on the zip's directory before openpyxl parses a
# byte: it reads the whole shared-string table into memory, so a few MB of zip unpacking to
# 100 million strings took minutes and gigabytes. zipfile never unpacks more than a part's
# declared size, so the declared sizes bound the work. A real 100,000-row, 10-column sheet
# unpacks to ~65 MB of sheet XML (inline strings) or ~30 MB of shared strings, packed ~10:1;
# the limits leave 4 times that. A sheet is streamed (time, not memory), so it may be larger.
XLSX_MAX_SHEET_BYTES = 256 << 20  # a part under xl/worksheets/
XLSX_MAX_PART_BYTES = 128 << 20  # any other part: shared strings and styles are parsed whole
XLSX_MAX_TOTAL_BYTES = 512 << 20
XLSX_MAX_RATIO = 100  # unpacked : packed, for a part over 1 MB
XLSX_MAX_CELLS = 5_000_000  # cells read, an empty row counting as one
XLSX_MAX_ROWS = 1_048_576  # Excel's last row: openpyxl fills a gap below it with empty rows


def _check_workbook_size(path: Path, fh: BinaryIO) -> None:
    try:
        with zipfile.ZipFile(fh) as z:
            parts = z.infolist()
    except Exception:  # not a zip it can read: openpyxl says so, in the usual message
        return
    finally:
        fh.seek(0)

    def too_big(what: str) -> FileError:
        return FileError(f"{path}: the workbook is too large to read safely: {what}. Save the sheet as CSV and "
                         "import that (a CSV is read row by row, whatever its size), or split the workbook.")

    for part in parts:
        size, packed = part.file_size, max(part.compress_size, 1)
        limit = XLSX_MAX_SHEET_BYTES if part.filename.startswith("xl/worksheets/") else XLSX_MAX_PART_BYTES
        if size > limit:
            raise too_big(f"its part {part.filename} unpacks to {size >> 20} MB, over the limit of {limit >> 20} MB")
        if size > 1 << 20 and size > XLSX_MAX_RATIO * packed:
            raise too_big(f"its part {part.filename} unpacks {size // packed}:1 ({size >> 20} MB from "
                          f"{packed >> 10} KB), over the limit of {XLSX_MAX_RATIO}:1 (a real sheet packs about "
                          "10:1)")
    total = sum(part.file_size for part in parts)
    if total > XLSX_MAX_TOTAL_BYTES:
        raise too_big(f"it unpacks to {total >> 20} MB, over the limit of {XLSX_MAX_TOTAL_BYTES >> 20} MB")


def _xlsx_records(path: Path, sheet: str | None, source: Source) -> Iterator[Record]:
    import openpyxl  # imported here: it is slow to import and CSV users never need it

    number = 0

    def unreadable(exc: BaseException) -> FileError:
        where = f" at row {number + 1}" if number else ""
        return FileError(f"{path}: cannot be read as an Excel workbook{where} "
                         f"({type(exc).__name__}: {exc}); save it again as .xlsx or as CSV.")

    # A file object, not the path: openpyxl refuses a workbook whose name lacks .xlsx, and
    # the content (not the name) decided that this is one. openpyxl reads the sheet lazily,
    # so damaged XML or compressed data can surface while rows are read: any exception from
    # it is a damaged workbook (it raises many kinds), never a crash.
    with path.open("rb") as fh:
        _check_workbook_size(path, fh)
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except Exception as exc:
            raise unreadable(exc) from None
        try:
            source.sheets = list(wb.sheetnames)
            if sheet is None:
                if not wb.worksheets:
                    raise FileError(f"{path}: the workbook has no worksheet; save it again as .xlsx or as CSV.")
                ws = wb.worksheets[0]
            elif sheet in wb.sheetnames:
                ws = wb[sheet]
            else:
                raise FileError(f"{path}: there is no sheet named '{sheet}'; "
                                f"sheets in this workbook: {', '.join(wb.sheetnames)}.")
            source.sheet = ws.title
            ws.reset_dimensions()  # the stored <dimension> may be wrong or absent: read every cell
            rows = ws.iter_rows(values_only=True)
            cells = 0
            while True:
                try:
                    values = next(rows)
                except StopIteration:
                    return
                except Exception as exc:
                    raise unreadable(exc) from None
                number += 1
                cells += len(values) or 1
                if cells > XLSX_MAX_CELLS or number > XLSX_MAX_ROWS:
                    raise _too_many_cells(path, ws.title, number, cells)
                numbers = frozenset(i for i, v in enumerate(values)
                                    if isinstance(v, int | float) and not isinstance(v, bool))
                yield number, [cell_text(v) for v in values], None, numbers
        finally:
            wb.close()


def _too_many_cells(path: Path, sheet: str, number: int, cells: int) -> FileError:
    if number > XLSX_MAX_ROWS:
        what = (f"has rows past row {XLSX_MAX_ROWS:,}, the last row Excel allows; the workbook is damaged or "
                "was not written by a spreadsheet program")
    else:
        what = f"has more than {XLSX_MAX_CELLS:,} cells (the limit; {cells:,} by row {number:,})"
    return FileError(f"{path}: the sheet '{sheet}' {what}. Save the sheet as CSV and import that (a CSV is read "
                     "row by row, whatever its size), or split the workbook.")


# Files people pick by mistake: PNG, JPEG, GIF, PDF, gzip. (A stray NUL byte in a real CSV
# is a row error, so only files that are mostly NULs count as binary otherwise.)
_BINARY_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF", b"\x1f\x8b")


_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                (stat.S_ISSOCK, "a socket"))


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be a sheet, told by os.stat alone (None when it is a regular file).

    Asked before anything opens the file: opening a FIFO blocks until something writes to
    it, and a device such as /dev/urandom never ends. A symlink to a regular file is fine.
    """
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"{path}: no such file; check the path."
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return f"{path}: cannot be opened ({getattr(exc, 'strerror', None) or exc})."
    if stat.S_ISDIR(mode):
        return f"{path}: is a folder, not a CSV or XLSX file."
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
        return f"{path}: is {kind}, not a CSV or XLSX file; save the sheet as a file and give its path."
    return None


def open_source(path: Path, sheet: str | None) -> Source:
    problem = file_problem(path)
    if problem:
        raise FileError(problem)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
            magic = head[:4]
    except FileNotFoundError:
        raise FileError(f"{path}: no such file; check the path.") from None
    except IsADirectoryError:
        raise FileError(f"{path}: is a folder, not a CSV or XLSX file.") from None
    except OSError as exc:
        raise FileError(f"{path}: cannot be opened ({exc.strerror}).") from None
    if magic == b"PK\x03\x04":
        source = Source(iter(()), strict_width=False)
        source.records = _xlsx_records(path, sheet, source)
        return source
    if magic == b"\xd0\xcf\x11\xe0":
        raise FileError(f"{path}: is an old Excel (.xls) file; save it as .xlsx or CSV first.")
    if head.startswith(_BINARY_MAGIC) or (head[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
                                          and head.count(b"\x00") > len(head) // 3):
        raise FileError(f"{path}: is not a text (CSV) file nor an Excel workbook (it holds binary data); "
                        "export the sheet as CSV or .xlsx and import that.")
    if sheet is not None:
        raise FileError(f"{path}: --sheet applies to Excel workbooks, and this is a CSV file.")
    return Source(_csv_records(path), strict_width=True)


# -- cells to text -------------------------------------------------------------------------

def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
