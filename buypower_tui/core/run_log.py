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

from buypower_tui.core.models import Event
from buypower_tui.core.store import Store, operator_name

_E = Event.__table__
NOTE = "run finished"


@dataclass(frozen=True, slots=True)
class RunRecord:
    batch_id: int
    at: datetime
    balance_before: Decimal | None
    balance_after: Decimal | None
    paid: Decimal  # the rows this run paid (SUCCESS), as the run counted them
    succeeded: int

    @property
    def moved(self) -> Decimal | None:
        """What left the wallet during the run; None when a balance is unknown."""
        if self.balance_before is None or self.balance_after is None:
            return None
        return self.balance_before - self.balance_after


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def record_run(store: Store, batch_id: int, balance_before: Decimal | None, balance_after: Decimal | None,
               paid: Decimal, succeeded: int) -> None:
    values = {"balance_before": _text(balance_before), "balance_after": _text(balance_after),
              "paid": _text(paid), "succeeded": succeeded}
    with store.session() as s:
        s.add(Event(batch_id=batch_id, operator=operator_name(), note=NOTE, details={"run": values}))
        s.commit()


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
                        _decimal(run.get("paid")) or Decimal(0), int(run.get("succeeded") or 0))
