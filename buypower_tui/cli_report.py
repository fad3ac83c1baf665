"""`report [--month YYYY-MM] [--by disco|batch|COLUMN] [-o FILE.csv|.xlsx]`: the month on one page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buypower_tui.console import EXIT_OK, err, out
from buypower_tui.core.report_text import COLUMNS, cells, group_text, heading, nothing_in, wallet_lines
from buypower_tui.settings import ConfigError

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.services import MonthReport, Services


def cmd_report(svc: Services, args: argparse.Namespace) -> int:
    """0: the report (an empty month too); 2 (ConfigError): a bad month, grouping or file."""
    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".csv", ".xlsx"):
        raise ConfigError(f"report: {output} is neither .csv nor .xlsx; name the file e.g. "
                          f"{output.stem or 'report'}.xlsx")
    report = svc.month_report(args.month, args.by)
    for line in report_lines(report):
        out(line)
    if output is not None:
        try:
            svc.write_report(report, output)
        except OSError as exc:
            raise ConfigError(f"report: nothing was written to {output}: {exc.strerror or exc}") from None
        err(f"wrote the report for {report.month} to {output}")
    return EXIT_OK


def report_lines(report: MonthReport) -> list[str]:
    """The report as a person reads it in a terminal (the TUI's report screen says the same:
    the words are core/report_text.py's)."""
    lines = [heading(report)]
    if not report.total.rows:
        return [*lines, nothing_in(report)]
    width = max(12, *(min(28, len(group_text(g.group))) for g in report.groups))  # as shown: escapes are longer
    lines.append(f"{group_text(report.by)[:width]:<{width}} " + " ".join(f"{n:{a}{w}}" for n, w, a in COLUMNS))
    for line in [*report.groups, report.total]:
        name = group_text(line.group)
        name = name if len(name) <= width else name[:width - 1] + "…"
        lines.append(f"{name:<{width}} " + " ".join(f"{c:{a}{w}}" for c, (_n, w, a) in zip(cells(line), COLUMNS,
                                                                                           strict=True)))
    return [*lines, *wallet_lines(report)]


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="the month: paid, failed, pending and closed rows per group, and the wallet")
    p.add_argument("--month", metavar="YYYY-MM", help="the month, in local time (default: this month)")
    p.add_argument("--by", metavar="disco|batch|COLUMN", default="disco",
                   help="group by disco (default), batch, or a column kept from the sheets (e.g. Estate)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="also write the table to FILE.csv or FILE.xlsx (with the per-day and wallet figures)")
    p.set_defaults(func=cmd_report)
