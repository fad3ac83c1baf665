"""A meter's history: every row ever made for it, in every batch, newest first.

"What did we pay to meter X this year?" The meter is read as the import reads it (spaces and
dashes dropped); a meter typed one digit short of a prepaid length (10 digits, where 11 is
one) is looked for with its leading 0 too, because that is what a spreadsheet does to a
meter stored as a number. Rows whose meter was itself unreadable in the sheet (INVALID,
no meter) are not found: they name no meter and were never paid.

The store has no index on the meter alone; ix_recipient_batch_meter is (batch_id, meter).
The query walks the batches (few) and probes that index once per batch, instead of reading
every row: see bench/history_bench.py for what it costs on 100,000 rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from buypower_tui.core.export import decimal_text
from buypower_tui.core.models import Batch, Event, Recipient, RowState, from_kobo
from buypower_tui.core.rules import Limits
from buypower_tui.core.store import Store
from buypower_tui.core.times import local_iso
from buypower_tui.core.tokens import LabelledToken, tokens_in_order

_R = Recipient.__table__
_B = Batch.__table__
_E = Event.__table__


class BadMeter(ValueError):
    """The text is not a meter number; str() says why."""


def meters_for(text: str, limits: Limits) -> tuple[str, ...]:
    """The meter numbers `text` may mean, as stored: the digits, and with a leading 0 when it
    is one digit short of a prepaid length. BadMeter when no meter has that shape."""
    shown = text.strip()
    digits = shown.replace(" ", "").replace("-", "")
    if not digits:
        raise BadMeter("give a meter number (spaces and dashes are ignored)")
    if not (digits.isascii() and digits.isdigit()):
        raise BadMeter(f"'{shown}' is not a meter number: only digits, spaces and dashes")
    shortest = min(limits.postpaid_min, *limits.prepaid_lengths)
    longest = max(limits.postpaid_max, *limits.prepaid_lengths)
    if not shortest <= len(digits) <= longest:
        raise BadMeter(f"'{shown}' has {len(digits)} digits; a meter or account number has "
                       f"{shortest} to {longest}")
    if len(digits) + 1 in limits.prepaid_lengths:  # a leading 0 lost in a spreadsheet
        return digits, "0" + digits
    return (digits,)


@dataclass(frozen=True, slots=True)
class MeterRow:
    """One row of the history. `at`: when it was paid, or (not paid) when its batch was made."""

    row_id: int
    batch_id: int
    batch_name: str
    row_number: int
    meter: str
    state: str
    at: datetime
    paid: bool  # `at` is the payment's time (paid_at), not the batch's
    amount: Decimal | None
    tokens: tuple[LabelledToken, ...]  # in the order the customer types them
    units: Decimal | None
    receipt: str | None
    order_id: str | None
    # Who approved its order (gave it the orderId it has: an approval, or a retry under a new
    # one): the operator of its last APPROVED event; None for a row never approved.
    approved_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Times local with their offset; tokens as 20 digits, in typing order, each with its kind."""
        return {"meter": self.meter, "batch": self.batch_id, "batch_name": self.batch_name,
                "row": self.row_number, "date": local_iso(self.at), "date_is": "paid" if self.paid else "batch created",
                "amount": "" if self.amount is None else f"{self.amount:.2f}", "state": self.state,
                "tokens": [{"kind": t.kind, "token": t.content} for t in self.tokens],
                "units": decimal_text(self.units) or None, "receipt": self.receipt, "order_id": self.order_id,
                "approved_by": self.approved_by}


@dataclass
class MeterHistory:
    asked: str  # as typed
    meters: tuple[str, ...]  # as looked for
    rows: list[MeterRow] = field(default_factory=list)

    @property
    def batches(self) -> int:
        return len({r.batch_id for r in self.rows})


def meter_history(store: Store, meters: tuple[str, ...]) -> list[MeterRow]:
    """Every row for these meters, newest first (then by batch and sheet row, newest batch first)."""
    q = (select(_R.c.id, _R.c.batch_id, _B.c.name, _B.c.created_at, _R.c.row_number, _R.c.meter, _R.c.state,
                _R.c.paid_at, _R.c.amount_kobo, _R.c.token, _R.c.parcels, _R.c.units, _R.c.receipt_no,
                _R.c.order_id)
         .select_from(_B.join(_R, _R.c.batch_id == _B.c.id))
         # batch_id IN (every batch) says nothing, but lets SQLite probe ix_recipient_batch_meter once
         # per batch (batch_id=? AND meter=?) instead of reading the whole table for the meter
         .where(_R.c.batch_id.in_(select(_B.c.id)), _R.c.meter.in_(meters)))
    with store.engine.connect() as conn:
        found = [MeterRow(r.id, r.batch_id, r.name, r.row_number, r.meter, r.state, r.paid_at or r.created_at,
                          r.paid_at is not None, from_kobo(r.amount_kobo),
                          tuple(tokens_in_order(r.token, r.parcels)), r.units, r.receipt_no, r.order_id)
                 for r in conn.execute(q)]
        approvers = _approvers(conn, [r.row_id for r in found if r.order_id])
    found = [replace(r, approved_by=approvers.get(r.row_id)) for r in found]
    found.sort(key=lambda r: (r.at, r.batch_id, -r.row_number), reverse=True)
    return found


def _approvers(conn: Any, row_ids: list[int]) -> dict[int, str]:
    """Row id -> the operator of its last APPROVED event (ix_event_recipient_id; a row retried
    under a new orderId was approved again, by whoever retried it)."""
    found: dict[int, str] = {}
    for start in range(0, len(row_ids), 500):
        q = (select(_E.c.recipient_id, _E.c.operator)
             .where(_E.c.recipient_id.in_(row_ids[start:start + 500]), _E.c.new_state == RowState.APPROVED)
             .order_by(_E.c.id))
        found.update((r.recipient_id, r.operator) for r in conn.execute(q))  # the last one stays
    return found
