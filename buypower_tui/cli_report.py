"""`report [--month YYYY-MM] [--by disco|batch|COLUMN] [-o FILE.csv|.xlsx]`: the month on one page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buypower_tui.console import EXIT_OK, err, out
from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.times import offset_now
from buypower_tui.core.values import from_kobo
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


def _text(value: str) -> str:
    """A group name from the sheet, fit for a terminal."""
    return escape_hidden(value)


COLUMNS: list[tuple[str, int, str]] = [("paid", 6, ">"), ("paid ₦", 15, ">"), ("failed", 6, ">"),
                                       ("failed ₦", 13, ">"), ("pending", 7, ">"), ("pending ₦", 13, ">"),
                                       ("closed", 6, ">")]


def report_lines(report: MonthReport) -> list[str]:
    """The report as a person reads it in a terminal (the TUI's screen says the same)."""
    lines = [f"{report.month} (local time, {offset_now()}), by {_text(report.by)}: a paid row counts in the month "
             "it was paid, any other in the month its state last changed"]
    if not report.total.rows:
        return [*lines, f"nothing was paid, failed, pending or closed in {report.month}"]
    width = max(12, *(min(28, len(g.group)) for g in report.groups))
    lines.append(f"{_text(report.by)[:width]:<{width}} " + " ".join(f"{n:{a}{w}}" for n, w, a in COLUMNS))
    for line in [*report.groups, report.total]:
        name = _text(line.group)
        name = name if len(name) <= width else name[:width - 1] + "…"
        cells = [line.paid, naira_or_dash(line.paid_kobo), line.failed, naira_or_dash(line.failed_kobo),
                 line.pending, naira_or_dash(line.pending_kobo), line.closed]
        lines.append(f"{name:<{width}} " + " ".join(f"{c!s:{a}{w}}" for c, (_n, w, a) in zip(cells, COLUMNS,
                                                                                            strict=True)))
    return [*lines, *wallet_lines(report)]


def naira_or_dash(kobo: int) -> str:
    return naira(from_kobo(kobo)) if kobo else "—"


def wallet_lines(report: MonthReport) -> list[str]:
    """The wallet's movement during the month's runs against the rows paid."""
    w, paid = report.wallet, report.paid
    if not w.runs:
        return [f"wallet: no run in {report.month} recorded the wallet (runs record it from this version on); "
                f"rows paid: {naira(paid)}"]
    lines = [f"wallet: {w.runs} run{'s' * (w.runs != 1)} in {report.month}; {w.reconciled} read the balance before "
             f"and after: it went down by {naira(w.moved)}, and their rows paid {naira(w.paid_by_runs)}"]
    if w.difference:
        lines.append(f"wallet: {naira(abs(w.difference))} {'more' if w.difference > 0 else 'less'} left the wallet "
                     "than those rows paid: rows settled by a later requery, a top-up or a payment outside "
                     "buypower-tui during a run; check BuyPower's transaction history")
    if w.reconciled < w.runs:
        lines.append(f"wallet: {w.runs - w.reconciled} run(s) could not read the balance and are not counted")
    lines.append(f"rows paid in {report.month} (SUCCESS, by their payment time): {naira(paid)}")
    return lines


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="the month: paid, failed, pending and closed rows per group, and the wallet")
    p.add_argument("--month", metavar="YYYY-MM", help="the month, in local time (default: this month)")
    p.add_argument("--by", metavar="disco|batch|COLUMN", default="disco",
                   help="group by disco (default), batch, or a column kept from the sheets (e.g. Estate)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="also write the table to FILE.csv or FILE.xlsx (with the per-day and wallet figures)")
    p.set_defaults(func=cmd_report)
