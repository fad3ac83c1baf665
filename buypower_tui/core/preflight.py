"""Pre-flight: what a run would send, what it costs, and what the operator must accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_
from sqlmodel import col, select

from buypower_tui.core import rows
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.names import is_name_warning
from buypower_tui.core.store import Store

S = RowState
Accepting = bool | frozenset[int]  # see preflight()
# An order of another row for the same meter and amount that may still take money.
IN_FLIGHT = (S.APPROVED, S.SENDING, S.PENDING, S.NOT_SENT, S.NEEDS_REVIEW)


@dataclass
class Preflight:
    send: list[int] = field(default_factory=list)  # VERIFIED rows to approve, sheet order
    resend: list[int] = field(default_factory=list)  # APPROVED / NOT_SENT rows: orderIds already assigned
    total: Decimal = Decimal(0)
    balance: Decimal | None = None
    batch_duplicates: list[int] = field(default_factory=list)  # same meter twice in the batch
    recent_duplicates: list[int] = field(default_factory=list)  # same meter+amount paid or in flight elsewhere
    unaccepted: list[int] = field(default_factory=list)
    left_out_by_max_total: list[int] = field(default_factory=list)
    name_differs: list[int] = field(default_factory=list)  # rows to send whose name is not BuyPower's (a warning)
    # What each row looked at: sheet row, where the money goes and how much, and when the row
    # was made (ids are reused after a delete). A change between the question and VEND means
    # the operator did not see what would be paid.
    seen: dict[int, tuple] = field(default_factory=dict)

    @property
    def shortfall(self) -> Decimal:
        return max(Decimal(0), self.total - self.balance) if self.balance is not None else Decimal(0)

    @property
    def count(self) -> int:
        return len(self.send) + len(self.resend)


def preflight(store: Store, batch_id: int, balance: Decimal | None, window_days: int,
              max_total: Decimal | None = None, *, include_verified: bool = True,
              accepting: Accepting = False, retrying: tuple[int, ...] = ()) -> Preflight:
    """Plan a run without changing anything. `accepting`: the duplicates the operator accepts
    (True: all, as `--accept-duplicates` says; a set: the rows they were shown as duplicates,
    so that one that became a duplicate since is asked about again); they are planned as
    sendable, and `accept_duplicates` records it after the confirmation.
    `include_verified=False`: no new rows, only those with an orderId. `retrying`: FAILED rows
    the operator retries (planned as if already re-approved).

    A row's `duplicate_accepted` (the editor's o, or an earlier confirmation) answers only
    "the meter is twice in this batch": a payment of the same meter and amount elsewhere is a
    new fact, asked about in every plan it is found in."""
    p = Preflight(balance=balance)
    since = datetime.now(UTC) - timedelta(days=window_days)
    dup_meters = set(store.duplicate_meters(batch_id))  # before our session: one session at a time
    states = (S.VERIFIED, *rows.SENDABLE) if include_verified else rows.SENDABLE
    with store.session() as s:
        candidates = list(s.exec(select(Recipient).where(
            Recipient.batch_id == batch_id,
            or_(col(Recipient.state).in_(states), col(Recipient.id).in_(list(retrying))))
            .order_by(col(Recipient.row_number))))
        for row in candidates:
            elsewhere = s.exec(select(func.count()).where(
                Recipient.meter == row.meter, Recipient.amount_kobo == row.amount_kobo, Recipient.id != row.id,
                or_(col(Recipient.state).in_(IN_FLIGHT), rows.operator_failed(),
                    (Recipient.state == S.SUCCESS) & (col(Recipient.updated_at) >= since)))).one()
            if row.meter in dup_meters:
                p.batch_duplicates.append(row.id)
            if elsewhere:
                p.recent_duplicates.append(row.id)
            asked = elsewhere or (row.meter in dup_meters and not row.duplicate_accepted)
            if asked and not (accepting is True or (accepting and row.id in accepting)):
                p.unaccepted.append(row.id)
    p.seen = {row.id: (row.row_number, row.meter, row.disco, row.vend_type, row.amount_kobo, row.phone,
                       row.created_at) for row in candidates}
    running = Decimal(0)
    with_order = [r for r in candidates if r.state in rows.SENDABLE or r.id in retrying]
    verified = [r for r in candidates if r.state == S.VERIFIED and r.id not in retrying]
    for chosen, row in [(p.resend, r) for r in with_order] + [(p.send, r) for r in verified]:
        if row.id in p.unaccepted:  # rows with an orderId first: they were approved before
            continue
        if max_total is not None and running + row.amount > max_total:
            p.left_out_by_max_total.append(row.id)
            continue
        chosen.append(row.id)
        running += row.amount
        if any(is_name_warning(w) for w in row.warnings or ()):
            p.name_differs.append(row.id)
    p.total = running
    return p


def accept_duplicates(store: Store, p: Preflight) -> None:
    """Record the operator's acceptance of the duplicates the run is about to send."""
    chosen = set(p.send) | set(p.resend)
    for row_id in sorted(set(p.batch_duplicates + p.recent_duplicates) & chosen):
        try:
            rows.transition(store, row_id, (S.VERIFIED, S.FAILED, *rows.SENDABLE), lambda row: row.state,
                            duplicate_accepted=True, note="duplicate accepted by the operator")
        except rows.StateConflict:  # it says the row's id: the operator knows its sheet row
            number = p.seen[row_id][0] if row_id in p.seen else row_id
            raise rows.StateConflict(f"row {number} changed meanwhile (edited, deleted, or paid elsewhere); "
                                     "nothing was approved") from None
