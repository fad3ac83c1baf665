"""Export to CSV: a batch as paid (tokens as a customer types them), and the invalid rows to fix.

Every CSV we write goes through `CsvWriter`, so every cell goes through `safe_cell`: a cell
that a spreadsheet would run as a formula is neutralised, whether it came from the sheet or
from BuyPower. Files are written whole by `paths.replace_file` (0600, never through a link).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
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


def export_batch(store: Store, batch_id: int, out: IO[str], *, terminal: bool = False) -> int:
    writer = CsvWriter(out, terminal=terminal)
    writer.writerow(COLUMNS)
    n = 0
    for row in store.rows(batch_id):
        tokens = export_columns(row.token, row.parcels)
        writer.writerow([
            row.row_number, row.meter or row.meter_raw, row.disco or row.disco_raw,
            row.customer_name or row.name or "", "" if row.amount is None else f"{row.amount:.2f}", row.state,
            tokens["kct1"], tokens["kct2"], tokens["token"], tokens["bonus_token"], tokens["other_tokens"],
            *(decimal_text(v) for v in (row.units, row.amount_generated, row.tax, row.debt_amount,
                                        row.debt_remaining)),
            row.receipt_no or "", row.order_id or "", local_iso(row.paid_at), row.vend_time or "",
            row.provider_message or "; ".join(e["message"] for e in row.errors or ()),  # why, for INVALID rows
        ])
        n += 1
    return n


def export_to_file(store: Store, batch_id: int, path: Path) -> int:
    """Tokens are bearer value: the file is the operator's alone (0600)."""
    return replace_file(path, lambda fh: export_batch(store, batch_id, fh))


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

    return replace_file(path, write)
