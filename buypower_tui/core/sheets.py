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
    with path.open(encoding=_sniff_encoding(path), errors="replace", newline="") as fh:
        head = fh.read(65536)
        first = next((line for line in head.splitlines() if line.strip()), "")
        fh.seek(0)
        delimiter = _sniff_delimiter(first)
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
        header: list[str] | None = None
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
                    raise _spanning_record(path, number, line + 1, reader.line_num, None, header,
                                           problem=f" cannot be read as CSV ({exc}):") from None
                line, last = reader.line_num, None
                yield number, None, f"row cannot be read as CSV ({exc}); check its quotes.", _NO_NUMBERS, None
                continue
            start, line = line + 1, reader.line_num
            if line > start and not _breaks_inside_ignored_cells(cells, header, record, delimiter, source):
                raise _spanning_record(path, number, start, line, cells, header, _ends_in_quote(record, delimiter))
            if header is None and "".join(cells).strip():
                header = cells
            last = record, cells
            notes = _cut_long_cells(cells) if reading[1] or len(record) > 1 else None
            yield number, cells, None, _NO_NUMBERS, notes
        # A quote opened on the last line runs to the end of the file with no line after it to
        # swallow, so the line count agrees: only parsing that line again tells.
        if last is not None and _ends_in_quote(last[0], delimiter):
            cells = last[1]
            raise _spanning_record(path, number - 1, line, line, cells, header, True, len(cells) - 1)


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


# What a workbook may unpack to, checked on the zip's directory before openpyxl parses a
# byte. openpyxl streams a worksheet (the time it takes grows with it, not the memory) but
# reads every other part whole: the shared-string table into a list, the styles into
# objects, so a few MB of zip unpacking to 100 million strings took minutes and gigabytes
# (125 MB of styles: 53 s and 1.8 GB; 133 MB of shared strings: 73 s and 1.2 GB). zipfile
# never unpacks more than a part's declared size, so the declared sizes bound the work.
# Which parts are worksheets is read from [Content_Types].xml and the workbook's
# relationships, never from a part's path: shared strings moved under xl/worksheets/ are
# still shared strings. A real 100,000-row, 12-column sheet unpacks to ~70 MB of sheet XML
# with inline strings (openpyxl's way), or to ~45 MB of sheet and ~12 MB of shared strings
# (Excel's), packed ~10:1; its styles are KBs, and a workbook bloated with Excel's maximum
# of 64,000 cell formats has ~6 MB of them.
XLSX_MAX_SHEET_BYTES = 256 << 20  # a worksheet (streamed)
XLSX_MAX_STRINGS_BYTES = 32 << 20  # the shared-string table (read whole)
XLSX_MAX_RELS_BYTES = 32 << 20  # a relationships part (a sheet's hyperlinks: ~190 bytes each)
XLSX_MAX_PART_BYTES = 16 << 20  # styles and any other part (read whole, or never read)
XLSX_MAX_TYPES_BYTES = 1 << 20  # [Content_Types].xml, read to tell the parts apart
XLSX_MAX_TOTAL_BYTES = 512 << 20
# unpacked : packed, for a worksheet or a shared-string table over 1 MB: those are the parts
# that grow with the rows. Other parts have small limits of their own, and a bloated styles
# part packs ~300:1 (the same cell format 64,000 times).
XLSX_MAX_RATIO = 100
XLSX_MAX_CELLS = 5_000_000  # cells read, an empty row counting as one
XLSX_MAX_ROWS = 1_048_576  # Excel's last row: openpyxl fills a gap below it with empty rows
# The text of all the cells read: shared strings let a small file repeat one long cell on
# every row (1,000,000 rows of 32,767 characters would be 64 GB in the database).
XLSX_MAX_TEXT_CHARS = 128 << 20  # a real sheet of 5,000,000 cells holds ~60 million

_CONTENT_TYPES = "[Content_Types].xml"
# Parts openpyxl reads whole by their path, whatever [Content_Types].xml calls them.
_READ_BY_PATH = frozenset({_CONTENT_TYPES, "xl/workbook.xml", "xl/styles.xml", "xl/theme/theme1.xml",
                           "docProps/core.xml", "docProps/custom.xml"})


def _too_big(path: Path, what: str) -> FileError:
    return FileError(f"{path}: the workbook is too large to read safely: {what}. Save the sheet as CSV and "
                     "import that (a CSV is read row by row, whatever its size), or split the workbook.")


def _out_of_memory(path: Path) -> FileError:
    return FileError(f"{path}: the workbook is too big for this computer's memory (it ran out while reading "
                     "it). Save the sheet as CSV and import that (a CSV is read row by row, whatever its "
                     "size), or split the workbook.")


def _check_workbook_size(path: Path, fh: BinaryIO) -> None:
    try:
        try:
            z = zipfile.ZipFile(fh)
        except Exception:  # not a zip it can read: openpyxl says so, in the usual message
            return
        with z:
            _check_parts(path, z)  # raises FileError only: what it cannot read, openpyxl cannot either
    finally:
        fh.seek(0)


def _check_parts(path: Path, z: zipfile.ZipFile) -> None:
    parts = z.infolist()
    total = sum(part.file_size for part in parts)
    if total > XLSX_MAX_TOTAL_BYTES:
        raise _too_big(path, f"it unpacks to {total / (1 << 20):,.1f} MB, over the limit of "
                             f"{XLSX_MAX_TOTAL_BYTES >> 20} MB")
    types_size = max((part.file_size for part in parts if part.filename == _CONTENT_TYPES), default=0)
    if types_size > XLSX_MAX_TYPES_BYTES:
        raise _too_big(path, f"its part {_CONTENT_TYPES} unpacks to {types_size >> 10} KB, over the limit of "
                             f"{XLSX_MAX_TYPES_BYTES >> 10} KB")
    manifest = _manifest(z) if types_size else None
    strings, declared = _declared_parts(manifest, z.namelist()) if manifest else (frozenset(), frozenset())

    def check(part: zipfile.ZipInfo, sheets: frozenset[str]) -> None:
        name, size, packed = part.filename, part.file_size, max(part.compress_size, 1)
        if name in sheets:
            cap, kind, ratio = XLSX_MAX_SHEET_BYTES, "a worksheet", True
        elif name in strings:
            cap, kind, ratio = XLSX_MAX_STRINGS_BYTES, "the shared strings", True
        elif name.endswith(".rels"):
            cap, kind, ratio = XLSX_MAX_RELS_BYTES, "relationships", False
        else:
            cap, kind, ratio = XLSX_MAX_PART_BYTES, "styles" if name == "xl/styles.xml" else "not a worksheet", False
        if size > cap:
            raise _too_big(path, f"its part {name} ({kind}) unpacks to {size / (1 << 20):,.1f} MB, over the "
                                 f"limit of {cap >> 20} MB")
        if ratio and size > 1 << 20 and size > XLSX_MAX_RATIO * packed:
            raise _too_big(path, f"its part {name} ({kind}) unpacks {size // packed}:1 ({size >> 20} MB from "
                                 f"{packed >> 10} KB), over the limit of {XLSX_MAX_RATIO}:1 (a real sheet packs "
                                 "about 10:1)")

    # The parts not declared worksheets first: the relationships read next are among them.
    for part in parts:
        if part.filename not in declared:
            check(part, frozenset())
    sheets = _worksheets(z, manifest, declared) if manifest and declared else frozenset()
    for part in parts:
        if part.filename in declared:
            check(part, sheets)


def _manifest(z: zipfile.ZipFile) -> Any:
    """[Content_Types].xml, read as openpyxl reads it (None if it cannot: openpyxl will say so)."""
    from openpyxl.packaging.manifest import Manifest
    from openpyxl.xml.functions import fromstring

    try:
        return Manifest.from_tree(fromstring(z.read(_CONTENT_TYPES)))
    except Exception:
        return None


def _declared_parts(manifest: Any, names: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The parts openpyxl would take for the shared strings (it finds them by their type),
    and the parts declared worksheets: every type given for them says worksheet, and
    openpyxl does not read them whole by their path."""
    from openpyxl.xml.constants import SHARED_STRINGS, WORKSHEET_TYPE

    types: dict[str, set[str]] = {}
    for override in manifest.Override:
        types.setdefault(override.PartName.removeprefix("/"), set()).add(override.ContentType)
    defaults = {d.Extension.lower(): d.ContentType for d in manifest.Default}
    strings = frozenset(name for name, kinds in types.items() if SHARED_STRINGS in kinds)
    declared = frozenset(
        name for name in names
        if (types.get(name) or {defaults.get(name.rpartition(".")[2].lower())}) == {WORKSHEET_TYPE}
        and name not in _READ_BY_PATH and not name.endswith(".rels"))
    return strings, declared


def _worksheets(z: zipfile.ZipFile, manifest: Any, declared: frozenset[str]) -> frozenset[str]:
    """The declared worksheets that openpyxl streams: targets of the workbook's worksheet
    relationships, less any part reached through a chartsheet or another relationship of
    the workbook (openpyxl reads a chartsheet and its drawings, charts and images whole)."""
    from openpyxl.packaging.relationship import get_dependents, get_rels_path
    from openpyxl.xml.constants import ARC_WORKBOOK, XLSM, XLSX, XLTM, XLTX

    names = set(z.namelist())

    def relationships(part: str) -> list[Any]:
        rels = get_rels_path(part)
        if rels not in names:
            return []
        try:
            return [r for r in get_dependents(z, rels) if r.TargetMode != "External"]
        except Exception:  # openpyxl fails on it too, or never reads it
            return []

    # the workbook part as openpyxl finds it (reader.excel._find_workbook_part)
    workbook = next((o.PartName.removeprefix("/") for t in (XLTM, XLTX, XLSM, XLSX) for o in manifest.Override
                     if o.ContentType == t), ARC_WORKBOOK)
    sheets: set[str] = set()
    reached: set[str] = set()
    todo: list[str] = []
    for rel in relationships(workbook):
        if "chartsheet" in rel.Type:
            todo.append(rel.target)
        elif rel.Type.endswith("/worksheet"):
            sheets.add(rel.target)
        else:
            reached.add(rel.target)
    while todo:  # everything a chartsheet leads to, however deep
        part = todo.pop()
        if part not in reached:
            reached.add(part)
            todo.extend(rel.target for rel in relationships(part))
    return frozenset((sheets & declared) - reached)


def _xlsx_records(path: Path, sheet: str | None, source: Source) -> Iterator[Record]:
    import openpyxl  # imported here: it is slow to import and CSV users never need it

    number = 0

    def unreadable(exc: BaseException) -> FileError:
        if isinstance(exc, MemoryError):
            return _out_of_memory(path)
        where = f" at row {number + 1}" if number else ""
        return FileError(f"{path}: cannot be read as an Excel workbook{where} "
                         f"({type(exc).__name__}: {exc}); save it again as .xlsx or as CSV.")

    # A file object, not the path: openpyxl refuses a workbook whose name lacks .xlsx, and
    # the content (not the name) decided that this is one. openpyxl reads the sheet lazily,
    # so damaged XML or compressed data can surface while rows are read: any exception from
    # it is a damaged workbook (it raises many kinds), never a crash. keep_links=False: a
    # link to another workbook holds a copy of that workbook's cells, read whole.
    with path.open("rb") as fh:
        _check_workbook_size(path, fh)
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True, keep_links=False)
        except Exception as exc:
            raise unreadable(exc) from None
        try:
            ws = _choose_sheet(path, wb, sheet, source)
            rows = _sheet_rows(ws)
            cells_read = text = 0
            while True:
                try:
                    row, values, hidden = next(rows)
                except StopIteration:
                    return
                except Exception as exc:
                    raise unreadable(exc) from None
                if row <= number:  # openpyxl would drop the row without a word
                    raise FileError(f"{path}: the sheet '{ws.title}' lists row {row} again after row {number}; "
                                    "the workbook is damaged. Save it again as .xlsx or as CSV.")
                if row > XLSX_MAX_ROWS:
                    raise _too_many_cells(path, ws.title, row, cells_read)
                while number + 1 < row:  # rows the sheet leaves out are empty
                    number += 1
                    cells_read += 1
                    if cells_read > XLSX_MAX_CELLS:
                        raise _too_many_cells(path, ws.title, number, cells_read)
                    yield number, [], None, _NO_NUMBERS, None
                number = row
                cells_read += len(values) or 1
                if cells_read > XLSX_MAX_CELLS:
                    raise _too_many_cells(path, ws.title, number, cells_read)
                cells = [cell_text(v) for v in values]
                notes = _cut_long_cells(cells) if cells and max(map(len, cells)) > MAX_CELL_CHARS else None
                text += sum(map(len, cells))
                if text > XLSX_MAX_TEXT_CHARS:
                    raise _too_many_cells(path, ws.title, number, cells_read, text)
                if hidden and cells:
                    notes = notes or RowNotes()
                    notes.hidden = True
                numbers = frozenset(i for i, v in enumerate(values)
                                    if isinstance(v, int | float) and not isinstance(v, bool))
                yield number, cells, None, numbers, notes
        except MemoryError:
            raise _out_of_memory(path) from None
        finally:
            wb.close()


def _choose_sheet(path: Path, wb: Any, sheet: str | None, source: Source) -> Any:
    """The sheet named, or else the workbook's active sheet if it is a visible worksheet, or
    else its first visible worksheet: never a sheet hidden from whoever saved the workbook
    (an old month kept hidden in front of this month's would be paid instead of it)."""
    source.sheets = list(wb.sheetnames)
    source.hidden_sheets = [name for name in wb.sheetnames if wb[name].sheet_state != "visible"]
    if sheet is not None:
        if sheet not in wb.sheetnames or wb[sheet] not in wb.worksheets:
            what = "no sheet" if sheet not in wb.sheetnames else "a chart, not a sheet of cells,"
            raise FileError(f"{path}: there is {what} named '{sheet}'; "
                            f"sheets in this workbook: {', '.join(wb.sheetnames)}.")
        ws = wb[sheet]
    else:
        visible = [ws for ws in wb.worksheets if ws.sheet_state == "visible"]
        if not visible:
            what = "no worksheet" if not wb.worksheets else "no visible worksheet"
            choose = (f" (its hidden sheets: {', '.join(repr(ws.title) for ws in wb.worksheets)}; choose one "
                      "with --sheet)" if wb.worksheets else "")
            raise FileError(f"{path}: the workbook has {what}{choose}; save it again as .xlsx or as CSV.")
        ws = wb.active if wb.active in visible else visible[0]
    source.sheet = ws.title
    return ws


def _sheet_rows(ws: Any) -> Iterator[tuple[int, list[Any], bool]]:
    """The sheet's rows as (row number, values, hidden), as openpyxl's read-only worksheet
    reads them (with its parser), and with what it does not hand out: whether the row is
    hidden in the sheet (hidden="1" on the row: hidden by hand or by a filter). Rows the
    sheet leaves out are not given; a row's values run to its last cell.

    openpyxl's parser keeps the attributes of every row that has any besides its number
    (height, style, hidden) in a dict it never empties; here each is taken out as its row
    is read, so memory stays flat however many such rows the sheet has.
    """
    from openpyxl.worksheet._reader import WorkSheetParser

    wb = ws.parent
    with ws._get_source() as src:
        parser = WorkSheetParser(src, ws._shared_strings, data_only=wb.data_only, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
        attributes = parser.row_dimensions
        for row, cells in parser.parse():
            attrs = attributes.pop(str(row), None) if attributes else None
            hidden = attrs is not None and attrs.get("hidden") in ("1", "true")
            if not cells:
                yield row, [], hidden
                continue
            width = cells[-1]["column"]
            values: list[Any] = [None] * width
            for cell in cells:
                column = cell["column"]
                if 1 <= column <= width:
                    values[column - 1] = cell["value"]
            yield row, values, hidden


def _too_many_cells(path: Path, sheet: str, number: int, cells: int, text: int = 0) -> FileError:
    if number > XLSX_MAX_ROWS:
        what = (f"has rows past row {XLSX_MAX_ROWS:,}, the last row Excel allows; the workbook is damaged or "
                "was not written by a spreadsheet program")
    elif text:
        what = (f"holds more than {XLSX_MAX_TEXT_CHARS:,} characters of text (the limit; {text:,} by row "
                f"{number:,})")
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
