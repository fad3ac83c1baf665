"""Reading recipient sheets (CSV or XLSX) and streaming them through the rules into the store.

Rows are read, checked and written in chunks, so memory stays flat however long the
file is. Nothing in a file can make this crash: a whole-file problem raises FileError
with one message for the operator; a row problem becomes that row's error.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from buypower_tui.core import sheet_quirks as quirks
from buypower_tui.core.headers import Header, match_header, names_columns, normalise_header, read_header
from buypower_tui.core.models import Recipient, RowState, from_kobo, to_kobo, utcnow
from buypower_tui.core.rules import FIELDS, Limits, check_row, check_vend_type, parse_amount
from buypower_tui.core.sheet_quirks import Problem, TotalRow
from buypower_tui.core.sheets import MAX_CELL_CHARS, FileError, RowNotes, open_source
from buypower_tui.core.store import Store
from buypower_tui.logs import holds_key, mask_keys

__all__ = ["FileError", "ImportReport", "import_file", "match_header", "normalise_header"]

CHUNK_ROWS = 5000


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
    kept_columns: list[str] = field(default_factory=list)  # the sheet's other columns, kept in `extras`
    ignored_columns: list[str] = field(default_factory=list)  # ... past headers.MAX_KEPT_COLUMNS: not kept
    hidden_rows: int = 0  # XLSX: rows hidden in the sheet (each has a warning)
    sheet: str | None = None  # XLSX: the sheet read
    sheets: list[str] = field(default_factory=list)  # XLSX: every sheet of the workbook, in its order
    hidden_sheets: list[str] = field(default_factory=list)  # XLSX: the sheets hidden in the workbook
    encoding: str | None = None  # CSV: how its text was written (sheets._sniff_encoding)
    title_rows: list[int] = field(default_factory=list)  # rows above the header, skipped
    totals: list[TotalRow] = field(default_factory=list)  # TOTAL rows, skipped and compared
    naira_fixed: int = 0  # amounts whose "?" was read as ₦
    names_lost: int = 0  # names with a "?" for a letter
    numeric_meters: int = 0  # meters stored as numbers, accepted with a warning
    zero_proposals: int = 0  # meters stored as numbers one digit short: an error with the fix
    zeros_fixed: int = 0  # ... with the fix applied (--fix-leading-zeros)
    marks: dict[int, dict[str, str]] = field(default_factory=dict)  # merging: sheet row -> its batch, version

    @property
    def warnings(self) -> int:
        return self.duplicates + self.flagged

    @property
    def notices(self) -> list[str]:
        """What the file as a whole says, once, in plain words (empty for a plain sheet)."""
        return quirks.file_notices(encoding=self.encoding, naira_fixed=self.naira_fixed,
                                   names_lost=self.names_lost, title_rows=self.title_rows, totals=self.totals,
                                   numeric_meters=self.numeric_meters, zero_proposals=self.zero_proposals,
                                   zeros_fixed=self.zeros_fixed)


# -- the pipeline -----------------------------------------------------------------------------

def _row_values(header: Header, cells: list[str]) -> tuple[dict[str, str], list[Problem]]:
    n = len(cells)
    if n == header.width:  # the common case, kept short: it runs per row
        return dict(zip(header.fields, header.pick(cells), strict=True)), []
    problems: list[Problem] = []
    # Only in CSV does a cell count matter: an unquoted "1,000" shifts every cell after it
    # (even empty extras count). A workbook's cells cannot shift, and it omits empty ones.
    if header.strict_width and n < header.width:
        problems.append(("row", f"row has {n} cells but the header has {header.width}; "
                                "a separator or a cell is missing."))
    elif header.strict_width and n > header.width:
        problems.append(("row", f"row has {n} cells but the header has {header.width}; "
                                "remove the extra cells or quote values that contain the separator."))
    return {name: cells[i] if i < n else "" for name, i in header.columns.items()}, problems


_HIDDEN_ROW = ("row", "hidden in the sheet (hidden by hand or filtered out); unhide it to check that it "
                      "belongs in this batch, or delete it.")


def _noted_problems(header: Header, notes: RowNotes, values: dict[str, Any]) -> list[Problem]:
    """The errors for cells the reader cut short (no spreadsheet cell is that long): on the
    field whose cell it is (which then has no value), or on the row for another column (a kept
    column keeps the cell's start)."""
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
            problems.append(("row", f"the row's {column} holds {over}; that column is none of the payment's, but "
                                    "no spreadsheet program writes such a cell: check the file."))
    return problems


def _one_per_field(problems: list[Problem]) -> list[Problem]:
    merged: dict[str, Problem] = {}
    for problem in problems:
        name = problem[0]
        if name in merged:  # the first problem's marks (stored, fix) are kept
            first = merged[name]
            problem = (name, f"{first[1]} {problem[1]}", *first[2:])
        merged[name] = problem
    return list(merged.values())


def problems_json(problems: list[Problem]) -> list[dict[str, Any]] | None:
    """As the errors and warnings columns hold them: a problem's marks go with its message."""
    return [{"field": p[0], "message": p[1], **(p[2] if len(p) > 2 else {})} for p in problems] or None


_NO_VALUES: dict[str, Any] = dict.fromkeys(FIELDS)

# Columns written by an import, in this order.
_COLUMNS = ("batch_id", "row_number", "state", *(f"{f}_raw" for f in FIELDS), *FIELDS[:2],
            "amount_kobo", *FIELDS[3:], "errors", "warnings", "created_at", "updated_at", "extras")


def _extras_writer(store: Store, names: list[str]) -> Callable[[list[str]], Any]:
    """The extras column's value of a row's extra cells (in the order of `names`; at least one
    not empty) as `insert_rows` wants it: {name: text} of the cells that are not empty (an empty
    cell costs nothing to store). On SQLite that is the JSON text, made here from the names
    encoded once: it runs for every row, and json.dumps cost five times as much."""
    if store.engine.dialect.name != "sqlite":
        return lambda values: {name: text for name, text in zip(names, values, strict=True) if text}
    encode = json.encoder.encode_basestring  # not ASCII-escaped: "ẹ" stays 3 bytes, not 6
    keys = [f"{encode(name)}: " for name in names]
    every = "{" + ", ".join(f"{key.replace('%', '%%')}%s" for key in keys) + "}"  # each cell filled: most rows

    def write(values: list[str]) -> str:
        if all(values):
            return every % tuple(map(encode, values))
        return "{" + ", ".join([key + encode(text) for key, text in zip(keys, values, strict=True) if text]) + "}"

    return write


def _masked_extras(names: list[str], values: list[str]) -> tuple[list[str], list[Problem]]:
    """An API key pasted into a column kept as it is: masked, never stored, and a warning (the
    column is not the payment's, so the row stays payable)."""
    found = [name for name, text in zip(names, values, strict=True) if holds_key(text)]
    return ([mask_keys(text) if holds_key(text) else text for text in values],
            [("row", f"column '{name}' holds what looks like an API key; it was not kept. Remove it from the "
                     "sheet (and if it is a real key, change it at BuyPower).") for name in found])


def import_file(
    path: Path,
    store: Store,
    limits: Limits,
    *,
    name: str | None = None,
    mode: str = "live",
    sheet: str | None = None,
    fix_leading_zeros: bool = False,
    numbered: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create a batch from a sheet: read, check and store every row, in chunks.

    `fix_leading_zeros`: a meter stored as a number one digit short gets its 0 back (with a
    warning) instead of an error that proposes it. `numbered`: each row keeps the sheet row
    number its 'row' column gives (the invalid-rows export, read back to merge into a batch).
    A file that turns out unreadable half-way raises FileError and leaves no batch behind.
    """
    report = ImportReport(batch_id=None, source=str(path))
    gc_was_on = gc.isenabled()
    gc.disable()  # the import makes no reference cycles; the collector's scans cost ~25 %
    try:
        return _Import(path, store, limits, report, fix_leading_zeros, numbered).run(name, mode, sheet, on_progress)
    except BaseException:
        if report.batch_id is not None:
            store.delete_batch(report.batch_id)
        raise
    finally:
        if gc_was_on:
            gc.enable()


class _Import:
    """One import's state: the header once found, the sums the TOTAL rows are compared with."""

    def __init__(self, path: Path, store: Store, limits: Limits, report: ImportReport, fix_zeros: bool,
                 numbered: bool) -> None:
        self.path, self.store, self.limits, self.report = path, store, limits, report
        self.fix_zeros, self.numbered = fix_zeros, numbered
        self.numbers_seen: set[int] = set()
        self.after_subtotal = 0  # the id of the last row a SUBTOTAL covered

    def run(self, name: str | None, mode: str, sheet: str | None,
            on_progress: Callable[[int], None] | None) -> ImportReport:
        path, store, limits, report = self.path, self.store, self.limits, self.report
        source = open_source(path, sheet)
        header: Header | None = None
        first: tuple[int, list[str]] | None = None  # the first non-empty row: named if no header is found
        chunk: list[tuple[Any, ...]] = []
        now = store.db_value("created_at", utcnow())
        valid, invalid = RowState.VALID.value, RowState.INVALID.value
        rows = invalid_rows = flagged = hidden_rows = 0  # locals, not report attributes: this loop runs per row
        lost_naira = False
        recipient_above: int | None = None  # a row above the header that looks like a recipient

        for number, cells, read_error, numbers, notes in source.records:
            blank = cells is not None and not "".join(cells).strip()
            if header is None:
                if cells is None or blank:
                    continue
                if first is None:
                    first = number, cells
                if not names_columns(cells):
                    if recipient_above is None and quirks.looks_like_a_recipient(cells):
                        recipient_above = number
                    report.title_rows.append(number)
                    if len(report.title_rows) >= quirks.HEADER_SEARCH_ROWS:  # it says what the first row lacks
                        read_header(path, first[1], first[0], source)
                    continue
                if recipient_above is not None:
                    raise quirks.recipients_above_header(path, recipient_above, number)
                header = read_header(path, cells, number, source, self.numbered)
                report.columns, report.unknown_columns = header.names, header.unknown
                extra_columns = tuple(i for i, _ in header.extras)  # kept as they were (`extras`)
                report.kept_columns = [name for _, name in header.extras]
                report.ignored_columns = header.ignored
                write_extras = _extras_writer(store, report.kept_columns)
                report.batch_id = store.create_batch(name or path.stem, str(path.resolve()), mode).id
                lost_naira = source.lost_naira
                meter_col = header.columns["meter"]
                continue
            if blank:
                report.blank_rows += 1
                continue
            extras = None
            if cells is None:  # unreadable: that is its only error, not "meter is empty" etc.
                raw, errors, warnings, v = {}, [("row", read_error or "row cannot be read")], [], _NO_VALUES
            else:
                if (cells[0][:1] in "TtSsGg \t" or not cells[0]) and (label := self.total_label(cells, header)):
                    store.insert_rows(_COLUMNS, chunk, durable=False)  # the rows it adds up, stored
                    chunk = []
                    self.total_row(number, cells, label, header, lost_naira)
                    continue
                if self.numbered:
                    number = self.row_number(number, cells, header)
                raw, problems = _row_values(header, cells)
                noticed = self.encoding_losses(raw) if lost_naira else None  # warnings of the import's own
                fixed = numeric = False
                if meter_col in numbers and raw["meter"].strip():  # a number in an XLSX cell
                    numeric = True
                    fixed = self.fix_zeros and quirks.one_digit_short(
                        raw["meter"], check_vend_type(raw.get("vend_type", ""))[0], limits)
                    if fixed:
                        raw["meter"] = "0" + raw["meter"].strip()
                checked = check_row(raw, limits)
                errors, warnings, v, raw = checked.errors, checked.warnings, checked.values, checked.raw
                if numeric:
                    error, problem = self.numeric_meter(raw, v, fixed)
                    if error:  # the meter field is invalid: no normalised meter (a duplicate of nothing)
                        problems.append(problem)
                        v = {**v, "meter": None}
                    else:
                        noticed = [*(noticed or ()), problem]
                if notes is not None:  # rare: a cell cut short, a row hidden in the sheet
                    problems = _one_per_field(problems + _noted_problems(header, notes, v))
                    if notes.hidden:
                        warnings = [*warnings, _HIDDEN_ROW]
                        hidden_rows += 1
                if problems:
                    fields = {p[0] for p in problems}
                    errors = problems + [e for e in errors if e[0] not in fields]
                if extra_columns:
                    n = len(cells)
                    extras = ([cells[i].strip() for i in extra_columns] if n >= header.width  # the common case
                              else [cells[i].strip() if i < n else "" for i in extra_columns])
                    if not any(extras):
                        extras = None
                    elif holds_key("\n".join(extras)):
                        extras, masked = _masked_extras(report.kept_columns, extras)
                        noticed = [*(noticed or ()), *masked]
                if noticed:
                    warnings = [*warnings, *noticed]
            amount = v["amount"]
            get = raw.get
            chunk.append((
                report.batch_id, number, invalid if errors else valid,
                get("meter", ""), get("disco", ""), get("amount", ""), get("phone", ""),
                get("vend_type", ""), get("name", ""), get("email", ""),
                v["meter"], v["disco"], to_kobo(amount),
                v["phone"], v["vend_type"], v["name"], v["email"],
                store.db_value("errors", problems_json(errors)) if errors else None,
                store.db_value("warnings", problems_json(warnings)) if warnings else None,
                now, now, write_extras(extras) if extras else None,
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
            if first is not None:  # a few title lines and no header: what the first row lacks
                read_header(path, first[1], first[0], source)
            raise FileError(f"{path}: the file is empty (no header row); the first row must name "
                            "the columns, e.g. meter,disco,amount,phone.")
        if not rows:
            raise FileError(f"{path}: has a header row but no data rows; add the recipients under the header.")
        store.insert_rows(_COLUMNS, chunk, durable=False)
        report.rows, report.invalid, report.valid, report.flagged = rows, invalid_rows, rows - invalid_rows, flagged
        report.hidden_rows, report.encoding = hidden_rows, source.encoding
        report.sheet, report.sheets, report.hidden_sheets = source.sheet, source.sheets, source.hidden_sheets
        report.duplicates = sum(store.duplicate_meters(report.batch_id).values())
        store.finish_import(report.batch_id, f"imported {report.rows} rows from {path.name}: "
                                             f"{report.valid} valid, {report.invalid} invalid")
        if on_progress:
            on_progress(report.rows)
        return report

    # -- what offices do to sheets (sheet_quirks.py says each) ------------------------------------

    @staticmethod
    def total_label(cells: list[str], header: Header) -> str | None:
        """The label of a row that adds the rows above it up (a TOTAL row; its meter cell is
        empty, or holds the label itself), else None."""
        label = quirks.total_label(cells)
        meter_col = header.columns["meter"]
        meter = cells[meter_col].strip() if meter_col < len(cells) else ""
        return None if label is None or meter and quirks.total_label([meter]) is None else label

    def total_row(self, number: int, cells: list[str], label: str, header: Header, lost_naira: bool) -> None:
        """Notes a TOTAL row with what the rows it covers add up to: all the rows above it, or
        for a SUBTOTAL those since the last one. Read back from the store: TOTAL rows are
        rare, and counting as rows go by cost every row of every import."""
        amount_col = header.columns["amount"]
        text = cells[amount_col].strip() if amount_col < len(cells) else ""
        if lost_naira:
            text = quirks.naira_for_qmark(text) or text
        stated = parse_amount(text) if text else None
        subtotal = quirks.is_subtotal(label)
        t = Recipient.__table__
        query = (select(t.c.id, t.c.amount_kobo, t.c.amount_raw)
                 .where(t.c.batch_id == self.report.batch_id, t.c.id > (self.after_subtotal if subtotal else 0)))
        computed, covered, last = Decimal(0), 0, self.after_subtotal
        with self.store.engine.connect() as conn:
            for row_id, kobo, raw in conn.execute(query):
                # an amount out of range has no kobo stored, but the sheet's total counts it
                amount = from_kobo(kobo) if kobo is not None else parse_amount(raw) if raw else None
                last = max(last, row_id)
                if amount is not None:
                    computed, covered = computed + amount, covered + 1
        self.report.totals.append(TotalRow(number, label, stated, computed, covered))
        if subtotal:
            self.after_subtotal = last

    def encoding_losses(self, raw: dict[str, str]) -> list[Problem]:
        """Excel's plain "CSV" wrote "?" for ₦ (read as naira) and for letters it has not."""
        amount, found = raw.get("amount", ""), []
        if "?" in amount and (fixed := quirks.naira_for_qmark(amount)) is not None:
            raw["amount"] = fixed
            self.report.naira_fixed += 1
            found.append(quirks.qmark_amount_warning(amount.strip(), fixed))  # a minus sign is "?" too
        name = raw.get("name", "")
        if quirks.lost_letters(name):
            self.report.names_lost += 1
            found.append(quirks.lost_letter_warning("name", name.strip()))
        return found

    def numeric_meter(self, raw: dict[str, str], values: dict[str, Any], fixed: bool) -> tuple[bool, Problem]:
        """(is an error, the problem) for a meter the sheet stored as a number."""
        error, problem = quirks.numeric_meter(raw["meter"], values["vend_type"], values["meter"] is not None,
                                              fixed, self.limits)
        if fixed:
            self.report.zeros_fixed += 1
        elif not error:
            self.report.numeric_meters += 1
        elif "fix" in problem[2]:
            self.report.zero_proposals += 1
        return error, problem

    def row_number(self, number: int, cells: list[str], header: Header) -> int:
        """The sheet row number the 'row' column gives (merging into a batch)."""
        col = header.row_column
        digits = text = cells[col].strip() if col is not None and col < len(cells) else ""
        if not (digits.isascii() and digits.isdigit() and int(digits) > 0):
            raise FileError(f"{self.path}: row {number}: its 'row' cell is {text!r}, not a sheet row number. Keep the "
                            "row numbers of the invalid-rows export as they were; nothing was merged.")
        if int(digits) in self.numbers_seen:
            raise FileError(f"{self.path}: row {number}: sheet row {digits} appears twice in the 'row' column; keep "
                            "one of them; nothing was merged.")
        self.numbers_seen.add(int(digits))
        self.report.marks[int(digits)] = {k: cells[i].strip() for k, i in header.marks.items() if i < len(cells)}
        return int(digits)
