"""The month's report as a file: CSV (the table) or XLSX (the table, per day, per disco, the wallet).

Group names come from the sheets (an "Estate" column), so every text cell is neutralised as
in the exports (safe_cell). Money is written as numbers in naira with two decimals, exact
(Decimal), so a spreadsheet can add them up.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from buypower_tui.core.export import CsvWriter
from buypower_tui.core.report import Line, MonthReport
from buypower_tui.core.values import from_kobo

HEADER = ("paid", "paid_naira", "failed", "failed_naira", "pending", "pending_naira", "closed")


def _money(kobo: int) -> Decimal:
    return from_kobo(kobo) or Decimal(0)


def _cells(line: Line) -> list[Any]:
    return [line.group, line.paid, _money(line.paid_kobo), line.failed, _money(line.failed_kobo), line.pending,
            _money(line.pending_kobo), line.closed]


def table(report: MonthReport) -> list[list[Any]]:
    """Header, one line per group, then the month's total."""
    total = report.total
    return [[report.by, *HEADER], *(_cells(g) for g in report.groups), ["TOTAL", *_cells(total)[1:]]]


def wallet_cells(report: MonthReport) -> list[list[Any]]:
    w = report.wallet
    return [["month", report.month], ["runs", w.runs], ["runs that read the balance before and after", w.reconciled],
            ["wallet went down by (those runs)", w.moved], ["their rows paid", w.paid_by_runs],
            ["difference", w.difference], ["rows paid in the month (SUCCESS)", report.paid]]


def write_csv(report: MonthReport, fh: IO[str]) -> None:
    """UTF-8 with a BOM: Excel then reads a group's letters as written."""
    fh.write("\ufeff")
    writer = CsvWriter(fh)
    for cells in table(report):
        writer.writerow([f"{c:.2f}" if isinstance(c, Decimal) else c for c in cells])


def xlsx_bytes(report: MonthReport) -> bytes:
    import io

    from openpyxl import Workbook  # slow to import: only when a report is written as XLSX
    from openpyxl.styles import Font

    from buypower_tui.core.export import safe_cell

    wb = Workbook()
    sheets = [(wb.active, f"by {report.by}"[:31], table(report)),
              (None, "per day", [["date", "paid_naira"], *([d.isoformat(), _money(k)] for d, k in report.per_day)]),
              (None, "per disco", [["disco", "paid_naira"], *([d, _money(k)] for d, k in report.per_disco)]),
              (None, "wallet", [["figure", "value"], *wallet_cells(report)])]
    for ws, title, rows in sheets:
        ws = ws or wb.create_sheet()
        ws.title = "".join(c for c in title if c not in "[]:*?/\\") or "report"
        for r, cells in enumerate(rows, 1):
            for c, value in enumerate(cells, 1):
                cell = ws.cell(r, c)
                if isinstance(value, str):
                    cell.value = safe_cell(value)
                    cell.data_type = "s"  # never a formula, whatever the text
                else:
                    cell.value = value
                    if isinstance(value, Decimal):
                        cell.number_format = "#,##0.00"
                if r == 1:
                    cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_report(report: MonthReport, path: Path) -> None:
    from buypower_tui.paths import replace_file

    if path.suffix.lower() == ".xlsx":
        data = xlsx_bytes(report)
        replace_file(path, lambda fh: fh.buffer.write(data))
    else:
        replace_file(path, lambda fh: write_csv(report, fh))
