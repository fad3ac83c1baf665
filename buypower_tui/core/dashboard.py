"""The health dashboard's facts beyond a yes/no: what was paid per clock hour, the last run,
the last rows that went wrong, and what BuyPower's latency has been. Headless: `health --json`
carries the store's part of them too (Health.hours, last_run, recent_errors).

Every query reads the event table (append-only, one event per row transition) or the rows,
on SQLite and PostgreSQL alike; none writes. "Last" is the newest event by id (events are
appended as things happen): the database walks the table backwards from its end and stops at
the first matches, where ordering by time would read and sort every event on each refresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select

from buypower_tui.core.models import Batch, Event, Recipient, RowState, from_kobo, utcnow
from buypower_tui.core.run_log import NOTE as RUN_NOTE
from buypower_tui.core.store import Store
from buypower_tui.core.times import local, local_iso

S = RowState
_E, _R, _B = Event.__table__, Recipient.__table__, Batch.__table__
HOURS = 24
ERRORS = 6  # the last errors kept: a screen's worth at 120x36
UNSETTLED = (S.SENDING, S.PENDING, S.NEEDS_REVIEW)


# -- paid per hour ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HourPaid:
    """One clock hour of the operator's zone (it starts at `start`, kept in UTC)."""

    start: datetime
    vends: int = 0
    naira: Decimal = Decimal(0)


def paid_events(store: Store, since: datetime) -> list[tuple[datetime, int]]:
    """(when, kobo) of every row paid (moved to SUCCESS) since `since`."""
    q = (select(_E.c.at, _R.c.amount_kobo).select_from(_E.outerjoin(_R, _R.c.id == _E.c.recipient_id))
         .where(_E.c.at >= since, _E.c.new_state == S.SUCCESS, _E.c.recipient_id.is_not(None)))
    with store.engine.connect() as conn:
        return [(at, kobo or 0) for at, kobo in conn.execute(q)]


def first_hour(now: datetime, hours: int = HOURS) -> datetime:
    """The start of the oldest of the `hours` clock hours (local) that end with the current one."""
    this_hour = local(now).replace(minute=0, second=0, microsecond=0)
    return this_hour - timedelta(hours=hours - 1)  # a fixed offset: hours of elapsed time, also across DST


def by_hour(paid: Iterable[tuple[datetime, int]], now: datetime, hours: int = HOURS) -> list[HourPaid]:
    """`hours` clock hours ending with the current one, oldest first; a payment stamped after
    `now` (another machine's clock) counts in the current hour."""
    start = first_hour(now, hours)
    vends, kobo = [0] * hours, [0] * hours
    for at, amount in paid:
        i = int((at - start).total_seconds() // 3600)
        if i < 0:
            continue
        i = min(hours - 1, i)
        vends[i] += 1
        kobo[i] += amount
    return [HourPaid(start + timedelta(hours=i), vends[i], from_kobo(kobo[i]) or Decimal(0)) for i in range(hours)]


# -- the last run ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LastRun:
    """The last run that ended, and where the rows it sent stand now.

    The rows are those it marked SENDING (after the batch's previous run ended); their states
    are today's, not those at its end: a row still pending then and paid since counts as
    paid, because what is still open is what the operator has to act on. The wallet figures
    are the ones the run read before and after itself (None when a read failed)."""

    batch_id: int
    batch_name: str
    ended_at: datetime
    rows: int  # sent by the run
    paid: int
    paid_naira: Decimal
    failed: int  # FAILED, and those the operator closed since
    pending: int  # SENDING, PENDING or NEEDS_REVIEW
    needs_review: int
    balance_before: Decimal | None
    balance_after: Decimal | None

    @property
    def not_sent(self) -> int:
        """Sent but put back (NOT_SENT, or never left): sent again by the next run."""
        return self.rows - self.paid - self.failed - self.pending

    @property
    def moved(self) -> Decimal | None:
        if self.balance_before is None or self.balance_after is None:
            return None
        return self.balance_before - self.balance_after


def _decimal(value: Any) -> Decimal | None:
    try:
        number = None if value is None else Decimal(str(value))
    except ArithmeticError:  # not written by us: unknown rather than a crash
        return None
    return number if number is None or number.is_finite() else None


def last_run(store: Store) -> LastRun | None:
    """The last run recorded (run_log), or None when no run has ended yet."""
    runs = (_E.c.note == RUN_NOTE) & _E.c.recipient_id.is_(None)
    with store.engine.connect() as conn:
        found = conn.execute(select(_E.c.id, _E.c.batch_id, _E.c.at, _E.c.details).where(runs)
                             .order_by(_E.c.id.desc()).limit(1)).first()
        if found is None or found.batch_id is None:
            return None
        before = conn.execute(select(func.max(_E.c.at)).where(runs, _E.c.batch_id == found.batch_id,
                                                               _E.c.id < found.id)).scalar()
        sent = select(_E.c.recipient_id).where(_E.c.batch_id == found.batch_id, _E.c.new_state == S.SENDING,
                                               _E.c.recipient_id.is_not(None), _E.c.at <= found.at)
        if before is not None:
            sent = sent.where(_E.c.at > before)
        states = conn.execute(select(_R.c.state, func.count(), func.sum(_R.c.amount_kobo))
                              .where(_R.c.id.in_(sent.distinct())).group_by(_R.c.state)).all()
        name = conn.execute(select(_B.c.name).where(_B.c.id == found.batch_id)).scalar()
    count = {state: n for state, n, _kobo in states}
    paid_kobo = sum(kobo or 0 for state, _n, kobo in states if state == S.SUCCESS)
    run = (found.details or {}).get("run") if isinstance(found.details, dict) else None
    run = run if isinstance(run, dict) else {}
    return LastRun(batch_id=found.batch_id, batch_name=name or "(batch deleted)", ended_at=found.at,
                   rows=sum(count.values()), paid=count.get(S.SUCCESS, 0),
                   paid_naira=from_kobo(paid_kobo) or Decimal(0),
                   failed=count.get(S.FAILED, 0) + count.get(S.CLOSED, 0),
                   pending=sum(count.get(s, 0) for s in UNSETTLED), needs_review=count.get(S.NEEDS_REVIEW, 0),
                   balance_before=_decimal(run.get("balance_before")),
                   balance_after=_decimal(run.get("balance_after")))


# -- the last errors -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RowError:
    at: datetime
    batch_id: int | None
    row_number: int | None  # None: the row was deleted since
    meter: str | None
    state: str  # FAILED or NEEDS_REVIEW
    message: str


def recent_errors(store: Store, limit: int = ERRORS) -> list[RowError]:
    """The last `limit` rows that became FAILED or NEEDS_REVIEW, newest first.

    Why these and not, say, every 5xx or timeout: a timeout or a 5xx leaves the row PENDING and
    the app requeries it by itself, so it asks nothing of the operator; a FAILED row (BuyPower's
    conclusive no: retry it, fix it or close it) and a NEEDS_REVIEW row (money may have moved,
    nobody knows: ask BuyPower's support, then resolve it) do. Each names its batch, sheet row
    and meter, so the operator can go straight to it, and says why in BuyPower's words (FAILED)
    or ours (NEEDS_REVIEW: how long it was requeried). The health problems (the state of the
    store, BuyPower, the breaker, the disk now) are listed apart, under the status.

    A row that stays where it was (a requery by hand that still knows nothing) or comes back
    from CLOSED is no new error."""
    q = (select(_E.c.at, _E.c.batch_id, _R.c.row_number, _R.c.meter, _E.c.new_state, _E.c.provider_message,
                _E.c.note, _E.c.http_status)
         .select_from(_E.outerjoin(_R, _R.c.id == _E.c.recipient_id))
         .where(_E.c.recipient_id.is_not(None), _E.c.new_state.in_((S.FAILED, S.NEEDS_REVIEW)),
                or_(_E.c.old_state.is_(None), and_(_E.c.old_state != _E.c.new_state, _E.c.old_state != S.CLOSED)))
         .order_by(_E.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        found = conn.execute(q).all()
    out = []
    for at, batch_id, row_number, meter, state, message, note, status in found:
        said = (note or message) if state == S.NEEDS_REVIEW else (message or note)
        out.append(RowError(at, batch_id, row_number, meter, state,
                            said or (f"HTTP {status}" if status else "no reason given")))
    return out


# -- JSON ------------------------------------------------------------------------------------------

def jsonable(value: Any) -> Any:
    """The dashboard's facts as `health --json` writes them: money as decimal text to the kobo,
    times in the operator's zone with their offset."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return local_iso(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def now() -> datetime:
    """The dashboard's clock (a test freezes it here)."""
    return utcnow()
