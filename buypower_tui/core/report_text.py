"""The month's report in words, said the same by `buypower-tui report` and by the TUI's report
screen (F5). Nothing here reads the store (the report comes built, from core/report.py), and
nothing imports SQLAlchemy: the TUI imports this before its store is open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from buypower_tui.core.rules import escape_hidden, naira
from buypower_tui.core.values import from_kobo

if TYPE_CHECKING:
    from buypower_tui.core.report import Line, MonthReport

GROUPINGS = ("disco", "batch")  # built in; then the columns the month's rows kept
# (heading, width in the CLI's fixed layout, alignment), after the group's own column
COLUMNS: list[tuple[str, int, str]] = [("paid", 6, ">"), ("paid ₦", 15, ">"), ("failed", 6, ">"),
                                       ("failed ₦", 13, ">"), ("pending", 7, ">"), ("pending ₦", 13, ">"),
                                       ("closed", 6, ">")]


def group_text(value: str) -> str:
    """A group name from the sheet, fit for a terminal (control characters shown, not obeyed)."""
    return escape_hidden(value)


def naira_or_dash(kobo: int) -> str:
    return naira(from_kobo(kobo)) if kobo else "—"


def cells(line: Line) -> list[str]:
    """A line's figures, in the order of COLUMNS."""
    return [str(line.paid), naira_or_dash(line.paid_kobo), str(line.failed), naira_or_dash(line.failed_kobo),
            str(line.pending), naira_or_dash(line.pending_kobo), str(line.closed)]


def heading(report: MonthReport) -> str:
    sandbox = ", sandbox batches only" if report.mode == "sandbox" else ""
    return (f"{report.month} (local time, {report.utc_offset}{sandbox}), by {group_text(report.by)}: a paid row "
            "counts in the month it was paid, any other in the month its state last changed")


def nothing_in(report: MonthReport) -> str:
    return f"nothing was paid, failed, pending or closed in {report.month}"


def wallet_lines(report: MonthReport) -> list[str]:
    """The wallet's movement during the month's runs against the rows paid."""
    w, paid = report.wallet, report.paid
    if not w.runs:
        return [f"wallet: no run in {report.month} recorded the wallet (runs record it from this version on); "
                f"rows paid: {naira(paid)}"]
    lines = [f"wallet: {w.runs} run{'s' * (w.runs != 1)} in {report.month}; {w.reconciled} read the balance before "
             f"and after: it went down by {naira(w.moved)}, and their rows paid {naira(w.paid_by_runs)}"]
    if w.difference:
        # "may": a row still pending at its run's end may also have been sent again and paid by a
        # later run (its first request never reached BuyPower), so the sum cannot prove the gap
        pending = (f"; rows still pending when those runs ended came to {naira(w.unsettled)}: BuyPower settles "
                   "such rows after the run (pays them, or fails and refunds them), which may account for it"
                   if w.difference > 0 and w.unsettled else "")
        lines.append(f"wallet: {naira(abs(w.difference))} {'more' if w.difference > 0 else 'less'} left the wallet "
                     f"than those rows paid{pending}; else a top-up or a payment outside buypower-tui during a "
                     "run: check BuyPower's transaction history")
    if w.reconciled < w.runs:
        lines.append(f"wallet: {w.runs - w.reconciled} run(s) could not read the balance and are not counted")
    lines.append(f"rows paid in {report.month} (SUCCESS, by their payment time): {naira(paid)}")
    return lines
