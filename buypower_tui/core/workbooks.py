"""Reading an XLSX workbook into records, within limits a bomb cannot pass.

The limits are checked on the zip's directory before openpyxl parses a byte, and rows are
read with openpyxl's own sheet parser, which tells hidden rows (sheets.py has the CSV side,
the records' shape and the checks both share).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from buypower_tui.core.sheets import (
    _NO_NUMBERS,
    MAX_CELL_CHARS,
    FileError,
    Record,
    RowNotes,
    Source,
    _cut_long_cells,
    cell_text,
)

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


def xlsx_records(path: Path, sheet: str | None, source: Source) -> Iterator[Record]:
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
    widths: dict[Any, int] = {}  # style id -> the digits its number format shows (0: as the number is)
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
                    value = cell["value"]
                    if cell["data_type"] == "n" and cell["style_id"] and value is not None:
                        value = _as_shown(value, wb, cell["style_id"], widths)
                    values[column - 1] = value
            yield row, values, hidden


class ZeroPadded(int):
    """A whole number whose cell format shows leading zeros ("00000000000"): Excel shows (and
    the office checked) 04271892301 for the number 4271892301. Still a number: the import
    says how the meter was stored."""

    width: int

    def __new__(cls, value: int, width: int) -> ZeroPadded:
        number = super().__new__(cls, value)
        number.width = width
        return number

    def __str__(self) -> str:
        return str(int(self)).zfill(self.width)


def _as_shown(value: Any, wb: Any, style_id: Any, widths: dict[Any, int]) -> Any:
    """A non-negative whole number as its cell's number format shows it, if that format
    pads it with zeros; any other value as it is."""
    if style_id not in widths:
        from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE

        try:
            fmt_id = wb._cell_styles[int(style_id)].numFmtId
            fmt = (BUILTIN_FORMATS.get(fmt_id, "General") if fmt_id < BUILTIN_FORMATS_MAX_SIZE
                   else wb._number_formats[fmt_id - BUILTIN_FORMATS_MAX_SIZE])
        except (IndexError, ValueError, TypeError, AttributeError):  # a damaged style: as the number is
            fmt = "General"
        widths[style_id] = len(fmt) if len(fmt) > 1 and fmt == "0" * len(fmt) else 0
    width = widths[style_id]
    if not width or isinstance(value, bool) or value < 0:
        return value
    if isinstance(value, float):
        if not value.is_integer():
            return value
        value = int(value)
    return ZeroPadded(value, width) if isinstance(value, int) and len(str(value)) < width else value


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
