"""Reading recipient sheets (CSV or XLSX) and streaming them through the rules into the store.

Rows are read, checked and written in chunks, so memory stays flat however long the
file is. Nothing in a file can make this crash: a whole-file problem raises FileError
with one message for the operator; a row problem becomes that row's error.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from buypower_tui.core.models import RowState, to_kobo, utcnow
from buypower_tui.core.rules import FIELDS, REQUIRED, Limits, check_row
from buypower_tui.core.sheets import MAX_CELL_CHARS, FileError, RowNotes, Source, open_source
from buypower_tui.core.store import Store

__all__ = ["FileError", "ImportReport", "import_file", "match_header", "normalise_header"]

CHUNK_ROWS = 5000

_HEADER_NOISE = re.compile(r"[^0-9a-z]+")
_HEADER_ALIASES: dict[str, str] = {
    alias: name
    for name, aliases in {
        "meter": ("meter", "meternumber", "meterno", "meternum", "meterid", "accountnumber",
                  "accountno", "account", "meteraccountnumber", "meteroraccount"),
        "disco": ("disco", "discocode", "distributioncompany", "disconame", "distributor",
                  "provider", "discoprovider"),
        "amount": ("amount", "amountngn", "amountnaira", "naira", "ngn", "value", "amountn"),
        "phone": ("phone", "phonenumber", "phoneno", "msisdn", "mobile", "mobilenumber",
                  "telephone", "tel", "gsm", "customerphone"),
        "vend_type": ("vendtype", "metertype", "type", "prepaidpostpaid", "category"),
        "name": ("name", "customername", "fullname", "customer", "recipient", "recipientname"),
        "email": ("email", "emailaddress", "mail", "customeremail"),
    }.items()
    for alias in aliases
}


@dataclass
class ImportReport:
    batch_id: int | None
    source: str
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    flagged: int = 0  # rows with a warning of their own (hidden characters); payable
    blank_rows: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as written
    unknown_columns: list[str] = field(default_factory=list)
    hidden_rows: int = 0  # XLSX: rows hidden in the sheet (each has a warning)
    sheet: str | None = None  # XLSX: the sheet read
    sheets: list[str] = field(default_factory=list)  # XLSX: every sheet of the workbook, in its order
    hidden_sheets: list[str] = field(default_factory=list)  # XLSX: the sheets hidden in the workbook

    @property
    def warnings(self) -> int:
        return self.duplicates + self.flagged


def normalise_header(text: str) -> str:
    return _HEADER_NOISE.sub("", text.lower())


def match_header(text: str) -> str | None:
    key = normalise_header(text)
    if key in _HEADER_ALIASES:
        return _HEADER_ALIASES[key]
    return _HEADER_ALIASES.get(key.replace("naira", "").replace("ngn", "")) if key else None


def _numeric_meter_error(value: Any) -> str:
    return (f"meter was stored as a number in the sheet ({value!r}), so a leading zero or "
            "digits may be lost; format the meter column as Text and type the number again.")


# -- the pipeline -----------------------------------------------------------------------------

@dataclass
class _Header:
    columns: dict[str, int]  # field -> cell index
    names: dict[str, str]    # field -> header as written
    width: int
    unknown: list[str]
    strict_width: bool
    cells: list[str]  # the header row as written

    def __post_init__(self) -> None:
        # Picks the mapped cells of a full-width row in one C call (always >= 3 of them,
        # so itemgetter returns a tuple).
        self.fields = tuple(self.columns)
        self.pick = itemgetter(*self.columns.values())
        self.field_at = {i: f for f, i in self.columns.items()}


def _read_header(path: Path, cells: list[str], number: int, source: Source) -> _Header:
    columns: dict[str, int] = {}
    names: dict[str, str] = {}
    unknown: list[str] = []
    for i, cell in enumerate(cells):
        text = cell.strip().lstrip("\ufeff")
        if not text:
            continue
        name = match_header(text)
        if name is None:
            unknown.append(text)
        elif name in columns:
            raise FileError(f"{path}: row {number} has two columns for {name} "
                            f"('{names[name]}' and '{text}'); keep one of them.")
        else:
            columns[name], names[name] = i, text
    missing = [n for n in REQUIRED if n not in columns]
    if missing:
        found = ", ".join(f"'{c.strip()}'" for c in cells if c.strip()) or "none"
        where = f" of sheet '{source.sheet}'" if source.sheet else ""
        others = [n for n in source.sheets if n != source.sheet]
        choose = (f" The workbook also has {', '.join(repr(n) for n in others)}: choose the sheet with --sheet."
                  if others else "")
        raise FileError(
            f"{path}: the header row{where} (row {number}) has no column for {', '.join(missing)}. "
            f"Columns found: {found}. Name the columns meter, disco and amount "
            f"(names like 'Meter Number', 'Amount (NGN)' or 'Disco Code' also work).{choose}"
        )
    source.imported = frozenset(columns.values())
    source.reach = max(columns[n] for n in REQUIRED)
    return _Header(columns, names, len(cells), unknown, source.strict_width, cells)


def _row_values(header: _Header, cells: list[str], numbers: frozenset[int]
                ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    n = len(cells)
    if n == header.width and not numbers:  # the common case, kept short: it runs per row
        return dict(zip(header.fields, header.pick(cells), strict=True)), []
    problems: list[tuple[str, str]] = []
    # Only in CSV does a cell count matter: an unquoted "1,000" shifts every cell after it
    # (even empty extras count). A workbook's cells cannot shift, and it omits empty ones.
    if header.strict_width and n < header.width:
        problems.append(("row", f"row has {n} cells but the header has {header.width}; "
                                "a separator or a cell is missing."))
    elif header.strict_width and n > header.width:
        problems.append(("row", f"row has {n} cells but the header has {header.width}; "
                                "remove the extra cells or quote values that contain the separator."))
    raw = {name: cells[i] if i < n else "" for name, i in header.columns.items()}
    meter_col = header.columns["meter"]
    if meter_col in numbers:
        problems.append(("meter", _numeric_meter_error(raw["meter"])))
    return raw, problems


_HIDDEN_ROW = ("row", "hidden in the sheet (hidden by hand or filtered out); unhide it to check that it "
                      "belongs in this batch, or delete it.")


def _noted_problems(header: _Header, notes: RowNotes, values: dict[str, Any]) -> list[tuple[str, str]]:
    """The errors for cells the reader cut short (no spreadsheet cell is that long): on the
    field whose cell it is (which then has no value), or on the row for a column not imported."""
    problems = []
    for i, length in notes.too_long.items():
        over = f"{length:,} characters, over the limit of {MAX_CELL_CHARS:,} (the most a spreadsheet cell holds)"
        name = header.field_at.get(i)
        if name is not None:
            values[name] = None
            problems.append((name, f"{name} (column '{header.names[name]}') holds {over}; only its start was "
                                   "kept. Shorten the cell in the sheet."))
        else:
            column = header.cells[i].strip() if i < len(header.cells) else ""
            column = f"'{column}' cell" if column else f"cell {i + 1}"
            problems.append(("row", f"the row's {column} holds {over}; that column is not imported, but no "
                                    "spreadsheet program writes such a cell: check the file."))
    return problems


def _one_per_field(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: dict[str, str] = {}
    for name, message in problems:
        merged[name] = f"{merged[name]} {message}" if name in merged else message
    return list(merged.items())


_NO_VALUES: dict[str, Any] = dict.fromkeys(FIELDS)

# Columns written by an import, in this order.
_COLUMNS = ("batch_id", "row_number", "state", *(f"{f}_raw" for f in FIELDS), *FIELDS[:2],
            "amount_kobo", *FIELDS[3:], "errors", "warnings", "created_at", "updated_at")


def import_file(
    path: Path,
    store: Store,
    limits: Limits,
    *,
    name: str | None = None,
    mode: str = "live",
    sheet: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create a batch from a sheet: read, check and store every row, in chunks.

    A file that turns out unreadable half-way raises FileError and leaves no batch behind.
    """
    report = ImportReport(batch_id=None, source=str(path))
    gc_was_on = gc.isenabled()
    gc.disable()  # the import makes no reference cycles; the collector's scans cost ~25 %
    try:
        return _import(path, store, limits, report, name, mode, sheet, on_progress)
    except BaseException:
        if report.batch_id is not None:
            store.delete_batch(report.batch_id)
        raise
    finally:
        if gc_was_on:
            gc.enable()


def _import(path: Path, store: Store, limits: Limits, report: ImportReport, name: str | None,
            mode: str, sheet: str | None, on_progress: Callable[[int], None] | None) -> ImportReport:
    source = open_source(path, sheet)
    header: _Header | None = None
    chunk: list[tuple[Any, ...]] = []
    now = store.db_value("created_at", utcnow())
    valid, invalid = RowState.VALID.value, RowState.INVALID.value
    rows = invalid_rows = flagged = hidden_rows = 0  # locals, not report attributes: this loop runs per row

    for number, cells, read_error, numbers, notes in source.records:
        blank = cells is not None and not "".join(cells).strip()
        if header is None:
            if cells is None or blank:
                continue
            header = _read_header(path, cells, number, source)
            report.columns, report.unknown_columns = header.names, header.unknown
            report.batch_id = store.create_batch(name or path.stem, str(path.resolve()), mode).id
            continue
        if blank:
            report.blank_rows += 1
            continue
        if cells is None:  # unreadable: that is its only error, not "meter is empty" etc.
            raw, errors, warnings, v = {}, [("row", read_error or "row cannot be read")], [], _NO_VALUES
        else:
            raw, problems = _row_values(header, cells, numbers)
            checked = check_row(raw, limits)
            errors, warnings, v, raw = checked.errors, checked.warnings, checked.values, checked.raw
            if notes is not None:  # rare: a cell cut short, a row hidden in the sheet
                problems = _one_per_field(problems + _noted_problems(header, notes, v))
                if notes.hidden:
                    warnings = [*warnings, _HIDDEN_ROW]
                    hidden_rows += 1
            if problems:
                fields = {f for f, _ in problems}
                errors = problems + [e for e in errors if e[0] not in fields]
        amount = v["amount"]
        get = raw.get
        chunk.append((
            report.batch_id, number, invalid if errors else valid,
            get("meter", ""), get("disco", ""), get("amount", ""), get("phone", ""),
            get("vend_type", ""), get("name", ""), get("email", ""),
            v["meter"], v["disco"], to_kobo(amount),
            v["phone"], v["vend_type"], v["name"], v["email"],
            store.db_value("errors", [{"field": f, "message": m} for f, m in errors]) if errors else None,
            store.db_value("warnings", [{"field": f, "message": m} for f, m in warnings]) if warnings else None,
            now, now,
        ))
        rows += 1
        if errors:
            invalid_rows += 1
        if warnings:
            flagged += 1
        if len(chunk) >= CHUNK_ROWS:
            store.insert_rows(_COLUMNS, chunk, durable=False)
            chunk = []
            if on_progress:
                on_progress(rows)

    if header is None:
        raise FileError(f"{path}: the file is empty (no header row); the first row must name "
                        "the columns, e.g. meter,disco,amount,phone.")
    if not rows:
        raise FileError(f"{path}: has a header row but no data rows; add the recipients under the header.")
    store.insert_rows(_COLUMNS, chunk, durable=False)
    report.rows, report.invalid, report.valid, report.flagged = rows, invalid_rows, rows - invalid_rows, flagged
    report.hidden_rows = hidden_rows
    report.sheet, report.sheets, report.hidden_sheets = source.sheet, source.sheets, source.hidden_sheets
    report.duplicates = sum(store.duplicate_meters(report.batch_id).values())
    store.finish_import(report.batch_id, f"imported {report.rows} rows from {path.name}: "
                                         f"{report.valid} valid, {report.invalid} invalid")
    if on_progress:
        on_progress(report.rows)
    return report
