"""The month's report as a file: CSV (the table) or XLSX (the table, per day, per disco, the wallet).

Written by the exports' own writers (core/export.py): group names come from the sheets (an
"Estate" column), so every text cell is neutralised and kept as text; money is exact naira
(Decimal), numbers a spreadsheet can add up.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from buypower_tui.core.export import CENT, Table, write_csv, write_xlsx
from buypower_tui.core.report import Line, MonthReport
from buypower_tui.core.values import from_kobo
from buypower_tui.paths import replace_file

HEADER = ["paid", "paid_naira", "failed", "failed_naira", "pending", "pending_naira", "closed"]
_MONEY = frozenset({2, 4, 6})


def _money(kobo: int) -> Decimal:
    return (from_kobo(kobo) or Decimal(0)).quantize(CENT)


def _cells(line: Line) -> list[Any]:
    return [line.group, line.paid, _money(line.paid_kobo), line.failed, _money(line.failed_kobo), line.pending,
            _money(line.pending_kobo), line.closed]


def groups_table(report: MonthReport) -> Table:
    """One line per group, then the month's total."""
    rows = [*(_cells(g) for g in report.groups), ["TOTAL", *_cells(report.total)[1:]]]
    return Table(f"by {report.by}", [report.by, *HEADER], rows, [24, 8, 14, 8, 14, 8, 14, 8], _MONEY)


def tables(report: MonthReport) -> list[Table]:
    w = report.wallet
    wallet = [["month", report.month], ["runs", w.runs], ["runs that read the balance before and after", w.reconciled],
              ["wallet went down by (those runs)", w.moved], ["their rows paid", w.paid_by_runs],
              ["difference", w.difference], ["rows paid in the month (SUCCESS)", report.paid]]
    return [groups_table(report),
            Table("per day", ["date", "paid_naira"], [[d.isoformat(), _money(k)] for d, k in report.per_day],
                  [12, 14], frozenset({1})),
            Table("per disco", ["disco", "paid_naira"], [[d, _money(k)] for d, k in report.per_disco],
                  [16, 14], frozenset({1})),
            Table("wallet", ["figure", "value"], wallet, [44, 16], frozenset({1}))]


def write_report(report: MonthReport, path: Path) -> None:
    """XLSX by the suffix, else CSV with a BOM (Excel then reads a group's letters as written)."""
    if path.suffix.lower() == ".xlsx":
        sheets = tables(report)
        sheets[0].title = "".join(c for c in sheets[0].title if c not in "[]:*?/\\")[:31] or "report"
        replace_file(path, lambda fh: write_xlsx(fh, *sheets), binary=True, make_folders=False)
    else:
        replace_file(path, lambda fh: write_csv(fh, groups_table(report), bom=True), make_folders=False)
