"""The month on one page: what was paid, failed, left pending or closed, per group, and the
wallet's movement against the rows paid.

A row belongs to the month of what last happened to it, in local time: a SUCCESS row to the
month it was paid (`paid_at`), any other to the month its state last changed (`updated_at`).
Drafts (imported, valid, invalid, verified) moved no money and are not counted. Pending
means an order BuyPower has or may have and has not settled: approved, sending, pending,
not sent, needs review.

Groups are the DISCO, the batch, or any column the import kept from the sheet ("Estate",
"Block"), matched without regard to case. The store keeps extra columns as JSON, which
SQLite and PostgreSQL query differently, so rows are read once (only those of the month,
only the columns needed) and added up here.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, type_coerce

from buypower_tui.core.models import Batch, Recipient, RowState, UTCDateTime, from_kobo
from buypower_tui.core.report_text import GROUPINGS
from buypower_tui.core.run_log import runs_between
from buypower_tui.core.store import Store
from buypower_tui.core.times import offset

S = RowState
_R, _B = Recipient.__table__, Batch.__table__
PENDING = (S.APPROVED, S.SENDING, S.PENDING, S.NOT_SENT, S.NEEDS_REVIEW)
COUNTED = (S.SUCCESS, S.FAILED, S.CLOSED, *PENDING)
NONE = "(none)"


class BadReport(ValueError):
    """A month or grouping that cannot be reported; str() says why and what to give instead."""


@dataclass
class Line:
    """One group's figures (or the month's, for the total). Money in kobo: exact."""

    group: str
    paid: int = 0
    paid_kobo: int = 0
    failed: int = 0
    failed_kobo: int = 0
    pending: int = 0
    pending_kobo: int = 0
    closed: int = 0

    def add(self, state: str, kobo: int) -> None:
        if state == S.SUCCESS:
            self.paid += 1
            self.paid_kobo += kobo
        elif state == S.FAILED:
            self.failed += 1
            self.failed_kobo += kobo
        elif state == S.CLOSED:
            self.closed += 1
        else:
            self.pending += 1
            self.pending_kobo += kobo

    @property
    def rows(self) -> int:
        return self.paid + self.failed + self.pending + self.closed


@dataclass
class Wallet:
    """The runs' own reconciliations, added up: what left the wallet during the runs that
    read it before and after, against what their rows paid."""

    runs: int = 0
    reconciled: int = 0  # runs whose balance was read before and after
    moved: Decimal = Decimal(0)  # balance before - after, over the reconciled runs
    paid_by_runs: Decimal = Decimal(0)  # what the reconciled runs' rows paid, as each run counted
    # what those runs sent that was still unsettled when each ended: paid later, or failed and
    # refunded, outside any run; a difference up to this is explained, not money missing
    unsettled: Decimal = Decimal(0)

    @property
    def difference(self) -> Decimal:
        return self.moved - self.paid_by_runs


@dataclass
class MonthReport:
    month: str  # "2026-12"
    by: str  # "disco", "batch", or the column's name as the sheet wrote it
    groups: list[Line]
    total: Line
    per_day: list[tuple[date, int]]  # kobo paid each day of the month, every day listed
    per_disco: list[tuple[str, int]]  # kobo paid per disco, most first
    wallet: Wallet = field(default_factory=Wallet)
    columns: list[str] = field(default_factory=list)  # the kept sheet columns the month's rows have: `by` choices
    mode: str = "live"  # the report covers one wallet: live or sandbox batches, never both
    utc_offset: str = ""  # the local offset(s) of the month: "+01:00", or "-08:00/-07:00" across a clock change

    @property
    def groupings(self) -> list[str]:
        """Every `by` this month can be reported by: disco, batch, then each kept column."""
        return [*GROUPINGS, *self.columns]

    @property
    def paid(self) -> Decimal:
        return from_kobo(self.total.paid_kobo) or Decimal(0)


def parse_month(text: str | None) -> tuple[int, int]:
    """"2026-12" -> (2026, 12); None: this month, local time."""
    if text is None:
        now = datetime.now().astimezone().date()
        return now.year, now.month
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        date(year, month, 1)
    except ValueError:
        raise BadReport(f"'{text}' is not a month: write it as YYYY-MM, e.g. 2026-11") from None
    if not 2000 <= year <= 2999:
        raise BadReport(f"'{text}' is not a month we could have paid in: write it as YYYY-MM, e.g. 2026-11")
    return year, month


def midnights(year: int, month: int) -> list[datetime]:
    """Each local midnight from the month's first day to the next month's first, in UTC: the
    month's exact bounds and its days, across a clock change too (each at its own offset)."""
    days = calendar.monthrange(year, month)[1]
    firsts = [datetime(year, month, d) for d in range(1, days + 1)]
    return [at.astimezone().astimezone(UTC) for at in [*firsts, datetime(year + month // 12, month % 12 + 1, 1)]]


def _key(row, by: str, names: dict[int, str], column: str | None) -> str:
    if column is None and by == "disco":
        return row.disco or row.disco_raw or NONE
    if column is None and by == "batch":
        return names[row.batch_id]
    for name, value in (row.extras or {}).items():
        if name.strip().casefold() == column:
            return str(value) or NONE
    return NONE


def _columns(rows: Iterable) -> list[str]:
    """The kept columns as `by` choices; one named like a built-in grouping ("Batch") as
    "column:Batch", so that both can be chosen."""
    seen: dict[str, str] = {}
    for row in rows:
        for name in row.extras or ():
            seen.setdefault(name.strip().casefold(), name.strip())
    return [f"{COLUMN}{name}" if key in GROUPINGS else name for key, name in seen.items()]


COLUMN = "column:"


def _offsets(first: datetime, after: datetime) -> str:
    return "/".join(dict.fromkeys(offset(at) for at in (first, after - timedelta(seconds=1))))



def month_report(store: Store, month: str | None = None, by: str = "disco", mode: str = "live") -> MonthReport:
    """The month of the `mode` batches (live or sandbox: two wallets, never added up).
    BadReport when the month cannot be read or `by` names no group the month's rows have."""
    year, mon = parse_month(month)
    label = f"{year:04d}-{mon:02d}"
    bounds = midnights(year, mon)
    start, end = bounds[0], bounds[-1]
    paid_at, updated_at = _R.c.paid_at, _R.c.updated_at
    ours = select(_B.c.id).where(_B.c.mode == mode)
    # exact bounds in SQL: no row is read twice or placed by Python (100,000 rows: bench/report_bench.py)
    q = (select(_R.c.batch_id, _R.c.state, _R.c.amount_kobo, _R.c.disco, _R.c.disco_raw, _R.c.extras,
                type_coerce(func.coalesce(paid_at, updated_at), UTCDateTime()).label("at"))
         .where(_R.c.batch_id.in_(ours), _R.c.state.in_([str(s) for s in COUNTED]),
                or_(and_(_R.c.state == S.SUCCESS, paid_at >= start, paid_at < end),
                    and_(or_(_R.c.state != S.SUCCESS, paid_at.is_(None)), updated_at >= start, updated_at < end))))
    with store.engine.connect() as conn:
        names = {i: f"{i} {name}" for i, name in conn.execute(select(_B.c.id, _B.c.name).where(_B.c.mode == mode))}
        rows = conn.execute(q).all()
    wanted = by.strip()
    column = None
    kept = _columns(rows)
    if wanted.casefold() in GROUPINGS:
        wanted = wanted.casefold()
    else:
        named = {c.removeprefix(COLUMN).casefold(): c for c in kept}
        column = wanted.removeprefix(COLUMN).casefold()
        if column not in named:
            choices = ", ".join([*GROUPINGS, *kept])
            raise BadReport(f"no row of {label} has a column '{by}'; group by one of: {choices}")
        wanted = named[column]
    groups: dict[str, Line] = {}
    total = Line("total")
    days = calendar.monthrange(year, mon)[1]
    per_day = [0] * days
    per_disco: dict[str, int] = {}
    for r in rows:
        kobo = r.amount_kobo or 0
        key = _key(r, wanted, names, column)
        groups.setdefault(key, Line(key)).add(r.state, kobo)
        total.add(r.state, kobo)
        if r.state == S.SUCCESS:
            per_day[bisect_right(bounds, r.at) - 1] += kobo
            disco = r.disco or r.disco_raw or NONE
            per_disco[disco] = per_disco.get(disco, 0) + kobo
    ordered = sorted(groups.values(), key=lambda g: (-g.paid_kobo, g.group.casefold()))
    report = MonthReport(label, wanted, ordered, total,
                         [(date(year, mon, d + 1), k) for d, k in enumerate(per_day)],
                         sorted(per_disco.items(), key=lambda kv: (-kv[1], kv[0])), columns=kept)
    report.mode, report.utc_offset = mode, _offsets(start, end)
    for run in runs_between(store, start, end):
        if run.batch_id not in names:  # the other mode's wallet
            continue
        report.wallet.runs += 1
        if run.moved is not None:
            report.wallet.reconciled += 1
            report.wallet.moved += run.moved
            report.wallet.paid_by_runs += run.paid
            report.wallet.unsettled += run.unsettled
    return report
