"""Reading a sheet file (CSV or XLSX) into records: the sheet's rows as text cells.

Nothing in a file can make this crash or hang: a whole-file problem raises FileError with
one message for the operator; a row problem becomes that row's read error.
"""

from __future__ import annotations

import codecs
import csv
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any


class FileError(Exception):
    """The file as a whole cannot be used; the message names the file and the fix."""



# -- reading records ---------------------------------------------------------------------

# No spreadsheet cell holds more characters than this (Excel's own limit). A longer cell
# cannot come from a spreadsheet program: it is an error on its row, and only its first
# characters are kept, so that the operator can find it. It is checked on each row's
# longest cell before anything else looks at the cells: one 1 MB shared string that every
# row of a 100 KB workbook referred to cost 5 GB of memory and 10 GB of database once each
# row had joined, split and stored it.
MAX_CELL_CHARS = 32_767
_KEPT_OF_LONG_CELL = 40


@dataclass(slots=True)
class RowNotes:
    """What the reader saw in a row besides its cells (None for nearly every row)."""

    too_long: dict[int, int] = field(default_factory=dict)  # cell index -> length; the cell was cut short
    hidden: bool = False  # XLSX: the row is hidden in the sheet, by hand or by a filter


# A sheet row: its number, its cells as text (None if unreadable), a read error, the
# indices of cells that held numbers (XLSX), which matters for meters, and notes or None.
Record = tuple[int, list[str] | None, str | None, frozenset[int], RowNotes | None]
_NO_NUMBERS: frozenset[int] = frozenset()


_INVALID_BYTE = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")


def _cut_long_cells(cells: list[str], notes: RowNotes | None = None) -> RowNotes | None:
    """Cut every cell over MAX_CELL_CHARS short, in place; the notes say which and how long."""
    for i, cell in enumerate(cells):
        if len(cell) > MAX_CELL_CHARS:
            notes = notes or RowNotes()
            notes.too_long[i] = len(cell)
            cells[i] = cell[:_KEPT_OF_LONG_CELL] + "…"
    return notes


@dataclass
class Source:
    records: Iterator[Record]
    strict_width: bool  # CSV: a cell count that differs from the header's means shifted cells
    sheets: list[str] = field(default_factory=list)  # XLSX: every sheet, in the workbook's order
    sheet: str | None = None  # XLSX: the sheet read
    hidden_sheets: list[str] = field(default_factory=list)  # XLSX: sheets hidden in the workbook
    # Told by the importer once it has matched the header row: the cells it imports, and the
    # index of the last of the meter, disco and amount cells (see _breaks_inside_ignored_cells).
    imported: frozenset[int] | None = None
    reach: int = 0
    encoding: str | None = None  # CSV: how its text is written (see _sniff_encoding)
    header: list[str] | None = None  # the header row, once the importer has found it

    @property
    def lost_naira(self) -> bool:
        """Whether a "?" before an amount's digits stands for a ₦ the file could not hold: a
        CSV saved as Excel's plain "CSV" (cp1252, or ASCII when nothing else needed more)."""
        return self.encoding in ("cp1252", "ascii")


def _sniff_encoding(path: Path) -> str:
    """How the file's text is written: "utf-8-bom" (Excel's "CSV UTF-8"), "utf-8", "ascii",
    "cp1252" (Excel's plain "CSV") or "utf-16" (Excel's "Unicode text", known by its BOM).

    A UTF-8 file with a few junk bytes stays UTF-8 (the junk becomes U+FFFD, an error on
    its own row); only a file with invalid bytes and no valid multi-byte UTF-8 at all is
    an Excel cp1252 export. An ASCII file may be either: Excel's plain "CSV" writes a
    character cp1252 lacks (₦) as "?", so what it lost is told by the cells, not the bytes.
    """
    with path.open("rb") as fh:
        head = fh.read(3)
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"
        if head == codecs.BOM_UTF8:
            return "utf-8-bom"
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
                return "utf-8"  # valid multi-byte UTF-8: a UTF-8 file, whatever junk it also holds
            bad += invalid
        bad += len(decoder.decode(b"", final=True))
    return "cp1252" if bad else "ascii"


_CODECS = {"utf-8-bom": "utf-8-sig", "utf-8": "utf-8-sig", "ascii": "utf-8-sig", "cp1252": "cp1252",
           "utf-16": "utf-16"}


def _sniff_delimiter(lines: list[str]) -> str:
    # csv.Sniffer also guesses quoting and misfires on short samples. The header decides: the
    # delimiter that splits one of the first lines into cells naming the meter, disco and
    # amount (a title above it may hold other separators: "Sunrise Estate; Block A"). Else
    # the first line that any delimiter splits: the one that splits it most.
    from buypower_tui.core.headers import names_columns  # it reads this module's types

    for line in lines:
        for delim in (",", ";", "\t"):
            if names_columns(next(csv.reader([line], delimiter=delim), [])):
                return delim
    for line in lines:
        best, best_n = ",", 1
        for delim in (",", ";", "\t"):
            n = len(next(csv.reader([line], delimiter=delim), []))
            if n > best_n:
                best, best_n = delim, n
        if best_n > 1:
            return best
    return ","


def _csv_records(path: Path, source: Source) -> Iterator[Record]:
    """The CSV's records: row N is the file's Nth record, one line unless a cell holds line breaks.

    A record that spans several lines (a quote left open reads the following lines into one
    cell, up to the quote that closes it or to the end of the file) refuses the whole file,
    naming the row, the cell and the lines. Refusing is safer than flagging that one row:
    the rows read into the cell are gone from the batch, so a flagged row would leave a batch
    that looks nearly right and pays everyone except the swallowed recipients, and fixing the
    row in the editor would not bring them back. Only the corrected file does. A cell that
    really holds a line break is refused too when it is one the import reads, or when it
    could hold swallowed rows (see _breaks_inside_ignored_cells); a meter sheet has no need
    for line breaks in its meter, disco or amount. A quote left open on the last line
    swallows nothing, but the row's cell runs to the end of the file: refused the same way.
    """
    source.encoding = _sniff_encoding(path)
    with path.open(encoding=_CODECS[source.encoding], errors="replace", newline="") as fh:
        head = fh.read(65536)
        fh.seek(0)
        delimiter = _sniff_delimiter([line for line in head.splitlines() if line.strip()][:10])
        # The lines of the record being read, as csv asks for them, and whether one of them is
        # longer than a cell may be (the cells are measured only then: it is cheaper per row).
        reading: list[Any] = [[], False]

        def lines() -> Iterator[str]:
            for text in fh:
                reading[0].append(text)
                if len(text) > MAX_CELL_CHARS:
                    reading[1] = True
                yield text

        reader = csv.reader(lines(), delimiter=delimiter)
        last: tuple[list[str], list[str]] | None = None  # the last record read: its lines and cells
        number = line = 0  # rows and lines read so far
        while True:
            number += 1
            record: list[str] = []
            reading[0], reading[1] = record, False
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if reader.line_num > line + 1:  # csv gave up inside a quote, lines after it lost
                    raise _spanning_record(path, number, line + 1, reader.line_num, None, source.header,
                                           problem=f" cannot be read as CSV ({exc}):") from None
                line, last = reader.line_num, None
                yield number, None, f"row cannot be read as CSV ({exc}); check its quotes.", _NO_NUMBERS, None
                continue
            start, line = line + 1, reader.line_num
            if line > start and not _breaks_inside_ignored_cells(cells, source.header, record, delimiter, source):
                raise _spanning_record(path, number, start, line, cells, source.header,
                                       _ends_in_quote(record, delimiter))
            last = record, cells
            notes = _cut_long_cells(cells) if reading[1] or len(record) > 1 else None
            yield number, cells, None, _NO_NUMBERS, notes
        # A quote opened on the last line runs to the end of the file with no line after it to
        # swallow, so the line count agrees: only parsing that line again tells.
        if last is not None and _ends_in_quote(last[0], delimiter):
            cells = last[1]
            raise _spanning_record(path, number - 1, line, line, cells, source.header, True, len(cells) - 1)


def _ends_in_quote(record: list[str], delimiter: str) -> bool:
    """Whether the record csv read from these lines ended inside a quoted cell, which only
    the end of the file does: given one more line, csv reads it into the same record."""
    reader = csv.reader([*record, "\n"], delimiter=delimiter)
    try:
        next(reader)
    except (csv.Error, StopIteration):
        return False
    return reader.line_num > len(record)


def _breaks_inside_ignored_cells(cells: list[str], header: list[str] | None, record: list[str], delimiter: str,
                                 source: Source) -> bool:
    """Whether a record read over several lines is one row of the sheet whose line breaks
    are inside cells the import ignores (an Address typed over two lines with Alt+Enter).

    Can such a row hide swallowed rows? Yes, if the header's cell count were the only test:
    a quote left open in an ignored column reads the lines under it into that cell up to
    the next quote, and when that quote is a later row's quoted cell in the same column, the
    cells after it complete the record to the header's count: the rows in between are inside
    the ignored cell, and the row takes its last cells (the amount, say) from the later row.
    But each line break that swallows brings a row's worth of separators into the cell: the
    end of the row the quote opened on and the start of the next one, so the cell holds as
    many separators as that row had cells less one, and a row that has a meter, a disco and
    an amount has at least as many as the index of the last of them (`reach`). An address
    over two lines rarely has that many. So a record is accepted only when
    - its quote is closed and its cell count is the header's (nothing shifted),
    - no cell the import reads holds a line break,
    - the cells with line breaks hold fewer separators in all than `reach`, and
    - in a file whose rows end with CR LF (Excel on Windows, which writes an in-cell line
      break as a bare LF), those cells hold no CR: a swallowed row brings its CR LF along.
    Any other record refuses the file (what an open quote anywhere did before). What can
    still pass is a swallowed row that had fewer cells than a meter, a disco and an amount
    need, in a file whose lines end with LF alone: a row that could not have been paid.
    """
    if source.imported is None or header is None or len(cells) != len(header) or _ends_in_quote(record, delimiter):
        return False
    broken = [i for i, cell in enumerate(cells) if "\n" in cell or "\r" in cell]
    if any(i in source.imported for i in broken):
        return False
    if sum(cells[i].count(delimiter) for i in broken) >= source.reach:
        return False
    return not (record[-1].endswith("\r\n") and any("\r" in cells[i] for i in broken))


def _spanning_record(path: Path, number: int, first: int, last: int, cells: list[str] | None,
                     header: list[str] | None, open_at_end: bool = False, index: int | None = None,
                     problem: str = "") -> FileError:
    """The refusal of row `number`, read from lines `first` to `last` of the file."""
    where = "in it"
    if index is None:
        index = next((i for i, c in enumerate(cells or ()) if "\n" in c or "\r" in c), None)
    if index is not None:
        name = header[index].strip() if header and index < len(header) else ""
        where = f"in its '{name}' cell" if name else f"in its cell {index + 1}"
    n = last - first
    lines = f"line {last} was" if n == 1 else f"lines {first + 1}-{last} ({n} lines) were"
    if cells is None:  # csv gave up on the cell (too long) somewhere on the last line read
        span = f"runs on to line {last} at least, so {lines} lost into it"
    elif n == 0:  # the last line of the file: nothing under it to swallow
        span = "is never closed: the cell runs on to the end of the file"
    elif open_at_end:
        span = f"runs on to the end of the file, so {lines} read into that cell instead of as rows"
    else:
        span = f"is closed only on line {last}, so {lines} read into that cell instead of as rows"
    breaks = "" if n == 0 else " (or remove the line breaks inside the cell)"
    return FileError(f"{path}: row {number}{problem or ':'} a quote opened {where} {span}. Close the quote "
                     f"where the cell should end{breaks} and import the file again; nothing was imported.")


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
        from buypower_tui.core.workbooks import xlsx_records  # openpyxl is slow to import: CSV users never need it

        source.records = xlsx_records(path, sheet, source)
        return source
    if magic == b"\xd0\xcf\x11\xe0":
        raise FileError(f"{path}: is an old Excel (.xls) file; save it as .xlsx or CSV first.")
    if head.startswith(_BINARY_MAGIC) or (head[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
                                          and head.count(b"\x00") > len(head) // 3):
        raise FileError(f"{path}: is not a text (CSV) file nor an Excel workbook (it holds binary data); "
                        "export the sheet as CSV or .xlsx and import that.")
    if sheet is not None:
        raise FileError(f"{path}: --sheet applies to Excel workbooks, and this is a CSV file.")
    source = Source(iter(()), strict_width=True)
    source.records = _csv_records(path, source)
    return source


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
