"""Row state transitions. Each is one committed transaction that also appends its event.

States: IMPORTED -> VALID | INVALID -> VERIFIED | LOOKUP_FAILED -> APPROVED -> SENDING ->
SUCCESS | FAILED | PENDING | NOT_SENT; PENDING -> (requery) SUCCESS | FAILED | NOT_SENT |
NEEDS_REVIEW; NOT_SENT -> SENDING again with the same orderId.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlmodel import col, select

from buypower_tui.core.models import Event, Recipient, RowState, utcnow
from buypower_tui.core.outcomes import Outcome, VendResult
from buypower_tui.core.rules import FIELDS, Limits, check_row
from buypower_tui.core.store import Store, operator_name

S = RowState
SENDABLE = (S.APPROVED, S.NOT_SENT)
REQUERYABLE = (S.SENDING, S.PENDING, S.NEEDS_REVIEW)
WITH_ORDER = (S.APPROVED, S.SENDING, S.PENDING, S.NOT_SENT, S.SUCCESS, S.FAILED, S.NEEDS_REVIEW)
FINAL = (S.SUCCESS, S.FAILED)


class StateConflict(Exception):
    """The row is not in a state this transition starts from (another process moved it)."""


@cache
def _operator() -> str:
    return operator_name()


def transition(store: Store, row_id: int, allowed: Iterable[str], to: str, *, note: str | None = None,
               http_status: int | None = None, details: dict[str, Any] | None = None,
               **fields: Any) -> Recipient:
    """Move one row to `to` (from one of `allowed`), set `fields`, append the event, commit."""
    with store.session() as s:
        row = s.get(Recipient, row_id)
        if row is None or row.state not in allowed:
            raise StateConflict(f"row {row_id} is {row.state if row else 'missing'}, not {'/'.join(allowed)}")
        old = row.state
        for name, value in fields.items():
            setattr(row, name, value)
        row.state = to
        row.updated_at = utcnow()
        s.add(row)
        s.add(Event(recipient_id=row.id, batch_id=row.batch_id, operator=_operator(), old_state=old,
                    new_state=to, http_status=http_status, provider_code=fields.get("provider_code"),
                    provider_message=fields.get("provider_message"), note=note, details=details))
        s.commit()
        return row


# -- before the money moves ------------------------------------------------------------------

def approve(store: Store, row_ids: Iterable[int]) -> int:
    """VERIFIED -> APPROVED with a new orderId, stored before it is ever used."""
    n = 0
    for row_id in row_ids:
        transition(store, row_id, (S.VERIFIED,), S.APPROVED, order_id=str(uuid.uuid4()), note="approved")
        n += 1
    return n


def retry_failed(store: Store, row_id: int) -> Recipient:
    """FAILED -> APPROVED by hand, under a new orderId: the old one failed conclusively
    (its event history keeps it and the reason), so a new order cannot pay twice."""
    with store.session() as s:
        row = s.get(Recipient, row_id)
    if row is None or row.state != S.FAILED:
        raise StateConflict(f"row {row_id} is not FAILED")
    return transition(store, row_id, (S.FAILED,), S.APPROVED, order_id=str(uuid.uuid4()), sent_at=None,
                      post_count=0, requery_count=0, next_requery_at=None,
                      note=f"retried by hand; previous order {row.order_id} failed: {row.provider_message}",
                      details={"previous_order_id": row.order_id})


def resolve_review(store: Store, row_id: int, note: str, state: str) -> Recipient:
    """The operator settles a NEEDS_REVIEW row (SUCCESS or FAILED) with a note."""
    if state not in FINAL:
        raise ValueError("a reviewed row ends SUCCESS or FAILED")
    return transition(store, row_id, (S.NEEDS_REVIEW,), state, note=f"resolved by the operator: {note}")


def edit_row(store: Store, row_id: int, raw: dict[str, str], limits: Limits) -> Recipient:
    """Change what the sheet said for a row and check it again. Refused once the row has an
    orderId: its order may exist at BuyPower, so its details are history, not a draft."""
    with store.session() as s:
        row = s.get(Recipient, row_id)
        if row is None:
            raise StateConflict(f"row {row_id} does not exist")
        if row.order_id is not None:
            raise StateConflict(f"row {row.row_number} has an orderId ({row.order_id}); it cannot be edited")
        merged = {f: getattr(row, f"{f}_raw") for f in FIELDS} | raw
    checked = check_row(merged, limits)
    values = dict(checked.values)
    amount = values.pop("amount")
    to = S.INVALID if checked.errors else S.VALID
    return transition(store, row_id, (S.IMPORTED, S.VALID, S.INVALID, S.VERIFIED, S.LOOKUP_FAILED), to,
                      note="edited", **{f"{f}_raw": v for f, v in merged.items()}, **values,
                      amount_kobo=None if amount is None else int(amount * 100),
                      errors=[{"field": f, "message": m} for f, m in checked.errors] or None,
                      customer_name=None, customer_address=None, customer_debt=None, min_vend=None,
                      max_vend=None)


# -- sending and its results ------------------------------------------------------------------

def mark_sending(store: Store, row_id: int) -> Recipient:
    """Write-ahead: committed before the POST leaves, so a crash leaves a row to requery."""
    with store.session() as s:
        row = s.get(Recipient, row_id)
        posts = row.post_count if row else 0
    return transition(store, row_id, SENDABLE, S.SENDING, sent_at=utcnow(), post_count=posts + 1)


def unsend(store: Store, row_id: int, reason: str) -> Recipient:
    """SENDING -> APPROVED when the POST provably never left (the breaker refused it)."""
    with store.session() as s:
        row = s.get(Recipient, row_id)
    back = S.NOT_SENT if row and row.post_count > 1 else S.APPROVED
    return transition(store, row_id, (S.SENDING,), back, note=f"not sent: {reason}",
                      post_count=max(0, (row.post_count if row else 1) - 1))


def _wait(result: VendResult, count: int, first: float, longest: float) -> float:
    if result.retry_after is not None:
        return min(max(result.retry_after, 0.0), longest)
    return min(first * (2 ** count), longest)


def record_result(store: Store, row_id: int, result: VendResult, *, requery: bool, first_wait: float,
                  max_wait: float, budget: int) -> Recipient:
    """Store a vend's or a requery's outcome; SUCCESS stores the token in the same commit."""
    allowed = REQUERYABLE if requery else (S.SENDING,)
    common: dict[str, Any] = dict(provider_code=result.provider_code, provider_message=result.message[:500],
                                  http_status=result.http_status)
    what = "requery" if requery else "vend"
    if result.outcome is Outcome.SUCCESS:
        return transition(
            store, row_id, allowed, S.SUCCESS, note=f"{what}: success", next_requery_at=None,
            token=result.token, units=None if result.units is None else str(result.units),
            receipt_no=result.receipt_no, vend_ref=result.vend_ref, vend_time=result.vend_time,
            parcels=[p.model_dump() for p in result.parcels] or None, response=result.response, **common)
    if result.outcome is Outcome.FAILED:
        return transition(store, row_id, allowed, S.FAILED, note=f"{what}: failed", next_requery_at=None,
                          response=result.response, **common)
    if result.outcome is Outcome.NOT_SENT:
        return transition(store, row_id, allowed, S.NOT_SENT, note=f"{what}: not sent, to send again with "
                          "the same orderId", next_requery_at=None, **common)
    with store.session() as s:
        row = s.get(Recipient, row_id)
        count = row.requery_count if row else 0
    if requery:
        count += 1
        if count >= budget:
            return transition(store, row_id, allowed, S.NEEDS_REVIEW, requery_count=count, next_requery_at=None,
                              note=f"still pending after {count} requeries: needs review", **common)
    due = utcnow() + timedelta(seconds=_wait(result, count, first_wait, max_wait))
    return transition(store, row_id, allowed, S.PENDING, requery_count=count, next_requery_at=due,
                      note=f"{what}: pending, requery at {due:%H:%M:%S} UTC", **common)


# -- queries the runner and recovery need ----------------------------------------------------------

def ids_in(store: Store, batch_id: int | None, states: Iterable[str]) -> list[int]:
    with store.session() as s:
        q = select(Recipient.id).where(col(Recipient.state).in_(list(states)))
        if batch_id is not None:
            q = q.where(Recipient.batch_id == batch_id)
        return list(s.exec(q.order_by(col(Recipient.row_number))))


def due_requeries(store: Store, batch_id: int | None, now: datetime | None = None) -> list[int]:
    now = now or datetime.now(UTC)
    with store.session() as s:
        q = select(Recipient.id).where(Recipient.state == S.PENDING, col(Recipient.next_requery_at) <= now)
        if batch_id is not None:
            q = q.where(Recipient.batch_id == batch_id)
        return list(s.exec(q.order_by(col(Recipient.next_requery_at))))


def next_due(store: Store, batch_id: int | None) -> datetime | None:
    from sqlalchemy import func

    with store.session() as s:
        q = select(func.min(Recipient.next_requery_at)).where(Recipient.state == S.PENDING)
        if batch_id is not None:
            q = q.where(Recipient.batch_id == batch_id)
        value = s.exec(q).one()
    return value.replace(tzinfo=value.tzinfo or UTC) if value else None


def get(store: Store, row_id: int) -> Recipient:
    with store.session() as s:
        row = s.get(Recipient, row_id)
    if row is None:
        raise StateConflict(f"row {row_id} does not exist")
    return row
