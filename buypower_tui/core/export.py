"""Exports: a batch as paid (tokens as a customer types them), and the invalid rows to fix.

Every CSV we write goes through `CsvWriter`, so every cell goes through `safe_cell`: a cell
that a spreadsheet would run as a formula is neutralised, whether it came from the sheet or
from BuyPower. An XLSX (`write_xlsx`) neutralises the same cells and types every text cell as
text, so meters, tokens, receipts and phones keep their leading zeros and no text is ever a
formula. Files are written whole by `paths.replace_file` (0600, never through a link). The
landlord's layout and the choice of file are in `landlord_export.py`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from buypower_tui.core.editing import grid_rows, raw_values, row_status
from buypower_tui.core.models import RowState
from buypower_tui.core.row_view import row_version
from buypower_tui.core.rules import FIELDS, escape_hidden
from buypower_tui.core.store import Store
from buypower_tui.core.times import local_iso
from buypower_tui.core.tokens import export_columns
from buypower_tui.paths import replace_file

# Tokens in the order the customer types them (KCT1, KCT2, token, bonus); what the money
# bought as BuyPower said it; `paid_at` is ours, local time with its offset; `vend_time` is
# BuyPower's, as it came, without a zone (WAT from /vend, UTC from /transaction).
COLUMNS = ("sheet_row", "meter", "disco", "customer_name", "amount", "state", "kct1", "kct2", "token",
           "bonus_token", "other_tokens", "units", "amount_generated", "tax", "debt_amount", "debt_remaining",
           "receipt_no", "order_id", "paid_at", "vend_time", "provider_message")

# What makes Excel, LibreOffice or Sheets read a cell as a formula (OWASP "CSV injection"), also
# after leading blanks or line breaks, and in full width (＝＋－＠), which some of them take too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
# C0 and C1 controls and DEL: ESC starts a terminal escape sequence; the others move the cursor or worse.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def safe_cell(value: Any) -> Any:
    """`value` with a leading `'` when a spreadsheet would take it for a formula. Plain numbers
    (-5.00) stay as they are, and so do digits-only fields (meters, tokens, receipts), which
    never start with one of those characters. defusedcsv misses tab and CR and rewrites `|`."""
    if isinstance(value, str) and value.lstrip(" \u3000").startswith(_FORMULA_START) \
            and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def escape_controls(text: str) -> str:
    """Control characters shown as `\\x1b` and the like: text fit for a terminal."""
    return text.translate(_CONTROLS)


class CsvWriter:
    """csv.writer whose cells go through `safe_cell`, and through `escape_controls` too when
    the CSV goes to a terminal."""

    def __init__(self, out: IO[str], *, terminal: bool = False) -> None:
        self._writer = csv.writer(out)
        self._terminal = terminal

    def writerow(self, cells: Iterable[Any]) -> None:
        safe = [safe_cell(c) for c in cells]
        if self._terminal:  # nothing that moves the cursor or turns text around reaches the terminal
            safe = [escape_hidden(escape_controls(c)) if isinstance(c, str) else c for c in safe]
        self._writer.writerow(safe)


def decimal_text(value: Decimal | None) -> str:
    """930.23, 4.4 or 0 as plain text (never 1E+2); empty only when BuyPower said nothing."""
    return "" if value is None else f"{value:f}"


CENT = Decimal("0.01")


@dataclass
class Table:
    """What an export writes: a header, rows of cells (text, int, Decimal or None), and for
    XLSX the sheet's name, each column's width and the columns holding naira."""

    title: str
    header: list[str]
    rows: Iterable[list[Any]]
    widths: list[int] = field(default_factory=list)
    money: frozenset[int] = frozenset()  # column indexes shown as #,##0.00


def csv_cell(value: Any) -> Any:
    """A cell as CSV text: an exact Decimal as written (never 1E+2), None as empty."""
    if value is None:
        return ""
    return f"{value:f}" if isinstance(value, Decimal) else value


def write_csv(out: IO[str], table: Table, *, terminal: bool = False, bom: bool = False) -> int:
    """`bom`: UTF-8 with a BOM, so that Excel reads ₦ and every name as written."""
    if bom:
        out.write("\ufeff")
    writer = CsvWriter(out, terminal=terminal)
    writer.writerow(table.header)
    n = 0
    for cells in table.rows:
        writer.writerow([csv_cell(c) for c in cells])
        n += 1
    return n


def full_rows(store: Store, batch_id: int) -> Iterator[list[Any]]:
    for row in store.rows(batch_id):
        tokens = export_columns(row.token, row.parcels)
        yield [
            row.row_number, row.meter or row.meter_raw, row.disco or row.disco_raw,
            row.customer_name or row.name or "", None if row.amount is None else row.amount.quantize(CENT),
            row.state, tokens["kct1"], tokens["kct2"], tokens["token"], tokens["bonus_token"],
            tokens["other_tokens"], row.units, row.amount_generated, row.tax, row.debt_amount, row.debt_remaining,
            row.receipt_no or "", row.order_id or "", local_iso(row.paid_at), row.vend_time or "",
            row.provider_message or "; ".join(e["message"] for e in row.errors or ()),  # why, for INVALID rows
        ]


def full_table(store: Store, batch_id: int) -> Table:
    """Every column we keep (`COLUMNS`), every row in sheet order."""
    widths = {"meter": 15, "customer_name": 28, "amount": 12, "kct1": 26, "kct2": 26, "token": 26,
              "bonus_token": 26, "receipt_no": 20, "order_id": 24, "paid_at": 26, "provider_message": 40}
    return Table("batch", list(COLUMNS), full_rows(store, batch_id), [widths.get(c, 12) for c in COLUMNS],
                 frozenset({COLUMNS.index("amount")}))


def export_batch(store: Store, batch_id: int, out: IO[str], *, terminal: bool = False) -> int:
    return write_csv(out, full_table(store, batch_id), terminal=terminal)


def write_xlsx(out: IO[bytes], *tables: Table) -> int:
    """One sheet per table, each header bold and frozen. Every text cell is stored as text
    (type "s", format "@"), neutralised as in a CSV (`safe_cell`), so a meter, a token, a receipt or a
    phone keeps its leading zeros and a name starting with "=" is never a formula; the control
    characters XML cannot hold (openpyxl refuses them) show as `\\x1b`. Numbers (Decimal, int)
    stay numbers that a spreadsheet can add up. Written row by row (openpyxl's write-only
    mode): memory stays flat."""
    from openpyxl import Workbook  # slow to import: only when a workbook is written
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def shown(m: re.Match[str]) -> str:
        return f"\\x{ord(m.group()):02x}"

    def cell(ws: Any, table: Table, value: Any, i: int) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            c = WriteOnlyCell(ws, ILLEGAL_CHARACTERS_RE.sub(shown, safe_cell(value)))
            c.data_type, c.number_format = "s", "@"  # text, whatever it looks like
            return c
        if isinstance(value, Decimal) and i in table.money:
            c = WriteOnlyCell(ws, value)
            c.number_format = "#,##0.00"
            return c
        return value

    n = 0  # the rows of the first table: what an export counts
    for number, table in enumerate(tables):
        ws = wb.create_sheet(table.title)
        ws.freeze_panes = "A2"
        for i, width in enumerate(table.widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = width
        head = [cell(ws, table, h, i) for i, h in enumerate(table.header)]
        for c in head:
            if c is not None:
                c.font = bold
        ws.append(head)
        for cells in table.rows:
            ws.append([cell(ws, table, v, i) for i, v in enumerate(cells)])
            n += number == 0
    wb.save(out)
    return n


def export_invalid(store: Store, batch_id: int, path: Path) -> int:
    """The invalid rows as the sheet had them plus their messages, to fix in a spreadsheet
    and merge back (`import --into`): each with its batch and its version (row_version), so
    the merge changes only the rows as they were exported. UTF-8 with a BOM: Excel then reads
    ₦ and every letter as written."""

    def write(fh: IO[str]) -> int:
        fh.write("\ufeff")
        writer = CsvWriter(fh)
        writer.writerow(["row", *FIELDS, "problems", "batch", "version"])
        n = 0
        for row in grid_rows(store, batch_id):
            if row["state"] not in (RowState.INVALID, RowState.LOOKUP_FAILED):
                continue
            _kind, text = row_status(row, {})
            problems = "; ".join(e["message"] for e in row["errors"] or ()) or text
            writer.writerow([row["row_number"], *raw_values(row).values(), problems, batch_id, row_version(row)])
            n += 1
        return n

    return replace_file(path, write, make_folders=False)  # a folder named by mistake is not made
