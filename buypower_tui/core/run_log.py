"""Each run's reconciliation, kept: the wallet before and after it and what its rows paid.

A run compares the wallet's movement with the rows it paid (vending.Runner._reconcile) and
says so at its end; the month's report adds these up, so the runs leave one event each on
their batch (no row; `details["run"]`). Money as decimal text, like every amount we keep
from BuyPower; a balance that could not be read is None, and such a run is counted as not
reconciled rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from buypower_tui.core.models import Event, Recipient, RowState, from_kobo
from buypower_tui.core.store import Store

_E, _R = Event.__table__, Recipient.__table__
UNSETTLED = (RowState.SENDING, RowState.PENDING, RowState.NEEDS_REVIEW)
NOTE = "run finished"


@dataclass(frozen=True, slots=True)
class RunRecord:
    batch_id: int
    at: datetime
    balance_before: Decimal | None
    balance_after: Decimal | None
    paid: Decimal  # the rows this run paid (SUCCESS), as the run counted them
    succeeded: int
    unsettled: Decimal = Decimal(0)  # what its rows still pending at its end came to (settled after it)

    @property
    def moved(self) -> Decimal | None:
        """What left the wallet during the run; None when a balance is unknown."""
        if self.balance_before is None or self.balance_after is None:
            return None
        return self.balance_before - self.balance_after


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def record_run(store: Store, batch_id: int, balance_before: Decimal | None, balance_after: Decimal | None,
               paid: Decimal, succeeded: int, posted: set[int]) -> None:
    """`posted`: the rows this run sent; those still unsettled now are summed, because what
    BuyPower does with them later (pays, or fails and refunds) moves the wallet outside any run."""
    values = {"balance_before": _text(balance_before), "balance_after": _text(balance_after),
              "paid": _text(paid), "succeeded": succeeded, "unsettled": _text(_unsettled(store, batch_id, posted))}
    with store.session() as s:
        s.add(Event(batch_id=batch_id, operator=store.operator, note=NOTE, details={"run": values}))
        s.commit()


def _unsettled(store: Store, batch_id: int, posted: set[int]) -> Decimal:
    q = select(_R.c.id, _R.c.amount_kobo).where(_R.c.batch_id == batch_id, _R.c.state.in_(UNSETTLED))
    with store.engine.connect() as conn:
        kobo = sum(amount or 0 for row_id, amount in conn.execute(q) if row_id in posted)
    return from_kobo(kobo) or Decimal(0)


def _decimal(value: object) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except ArithmeticError:  # not written by us: unknown rather than a crash
        return None


def runs_between(store: Store, start: datetime, end: datetime) -> Iterator[RunRecord]:
    """The runs that ended in [start, end), oldest first."""
    q = (select(_E.c.batch_id, _E.c.at, _E.c.details)
         .where(_E.c.note == NOTE, _E.c.recipient_id.is_(None), _E.c.at >= start, _E.c.at < end)
         .order_by(_E.c.at))
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    for batch_id, at, details in rows:
        run = (details or {}).get("run") if isinstance(details, dict) else None
        if not isinstance(run, dict):
            continue
        yield RunRecord(batch_id, at, _decimal(run.get("balance_before")), _decimal(run.get("balance_after")),
                        _decimal(run.get("paid")) or Decimal(0), int(run.get("succeeded") or 0),
                        _decimal(run.get("unsettled")) or Decimal(0))
