"""Pre-flight: what a run would send, what it costs, and what the operator must accept."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, or_
from sqlmodel import col, select

from buypower_tui.core import rows
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.names import is_name_warning
from buypower_tui.core.row_view import is_operator_failed
from buypower_tui.core.rules import naira
from buypower_tui.core.store import Store
from buypower_tui.core.times import local_minute

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
    # same meter and amount paid or in flight; same meter in flight in another batch
    recent_duplicates: list[int] = field(default_factory=list)
    unaccepted: list[int] = field(default_factory=list)
    left_out_by_max_total: list[int] = field(default_factory=list)
    name_differs: list[int] = field(default_factory=list)  # rows to send whose name is not BuyPower's (a warning)
    # Why each duplicate is one, in the operator's words ("twice in this batch: same meter as
    # row 7", "paid recently: ₦5,000.00 on 2026-12-01 09:14 +01:00 in batch 3 (row 12)").
    why: dict[int, str] = field(default_factory=dict)
    # What each row looked at: sheet row, where the money goes and how much, and when the row
    # was made (ids are reused after a delete). A change between the question and VEND means
    # the operator did not see what would be paid.
    seen: dict[int, tuple] = field(default_factory=dict)
    # Each planned row's state when planned: a row left out is named with it (one with an
    # orderId stays APPROVED or NOT_SENT, not VERIFIED). Not in `seen`: the check at VEND asks
    # about what would be paid, and a planned row's state only changes when it is paid.
    state: dict[int, str] = field(default_factory=dict)

    @property
    def shortfall(self) -> Decimal:
        return max(Decimal(0), self.total - self.balance) if self.balance is not None else Decimal(0)

    @property
    def count(self) -> int:
        return len(self.send) + len(self.resend)

    def amount_of(self, ids: list[int]) -> Decimal:
        """The sum of these rows' amounts, as the plan saw them."""
        return Decimal(sum(self.seen[i][4] or 0 for i in ids if i in self.seen)) / 100

    def left_out_with_order(self) -> list[int]:
        """The rows left out by the limit that already have an orderId: they keep their state
        and orderId (an APPROVED or NOT_SENT one is sent by a later run under that same orderId,
        never a new one; a FAILED one chosen for a retry stays FAILED)."""
        return [i for i in self.left_out_by_max_total if self.state.get(i, S.VERIFIED) != S.VERIFIED]

    def sheet_rows(self, ids: list[int], most: int = 10) -> str:
        """"row 3" / "rows 3, 7, 9 …": the sheet rows of `ids`, the first `most` of them."""
        numbers = [str(self.seen[i][0]) if i in self.seen else f"#{i}" for i in ids]
        more = " …" if len(numbers) > most else ""
        return ("row " if len(numbers) == 1 else "rows ") + ", ".join(numbers[:most]) + more


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
        twins: dict[str, list[tuple[int, int]]] = {}  # meter -> (row id, sheet row) of its rows in the batch
        if dup_meters:
            for row_id, meter, number in s.exec(select(Recipient.id, Recipient.meter, Recipient.row_number).where(
                    Recipient.batch_id == batch_id, col(Recipient.meter).in_(list(dup_meters)))
                    .order_by(col(Recipient.row_number))):
                twins.setdefault(meter, []).append((row_id, number))
        for row in candidates:
            unsettled = or_(col(Recipient.state).in_(IN_FLIGHT), rows.operator_failed())
            elsewhere = s.exec(select(Recipient).where(
                Recipient.meter == row.meter, Recipient.id != row.id,
                or_(and_(Recipient.amount_kobo == row.amount_kobo,
                         or_(unsettled, (Recipient.state == S.SUCCESS) & (col(Recipient.updated_at) >= since))),
                    # an order of another batch still unsettled, whatever its amount: BuyPower may
                    # have taken its money already (a repeat with a new amount made while it is pending)
                    and_(Recipient.batch_id != batch_id, unsettled)))
                .order_by(col(Recipient.updated_at).desc()).limit(1)).first()
            reasons = []
            if row.meter in dup_meters:
                p.batch_duplicates.append(row.id)
                others = [str(n) for i, n in twins.get(row.meter, ()) if i != row.id]
                reasons.append("twice in this batch: same meter as "
                               + ("row " if len(others) == 1 else "rows ") + ", ".join(others[:5])
                               + (" …" if len(others) > 5 else ""))
            if elsewhere:
                p.recent_duplicates.append(row.id)
                reasons.append(_elsewhere(elsewhere, batch_id))
            if reasons:
                p.why[row.id] = "; ".join(reasons)
            asked = elsewhere or (row.meter in dup_meters and not row.duplicate_accepted)
            if asked and not (accepting is True or (accepting and row.id in accepting)):
                p.unaccepted.append(row.id)
    p.seen = {row.id: (row.row_number, row.meter, row.disco, row.vend_type, row.amount_kobo, row.phone,
                       row.created_at) for row in candidates}
    p.state = {row.id: row.state for row in candidates}
    running = Decimal(0)
    with_order = [r for r in candidates if r.state in rows.SENDABLE or r.id in retrying]
    verified = [r for r in candidates if r.state == S.VERIFIED and r.id not in retrying]
    for chosen, row in [(p.resend, r) for r in with_order] + [(p.send, r) for r in verified]:
        if row.id in p.unaccepted:  # rows with an orderId first: they were approved before
            continue
        chosen.append(row.id)
        running += row.amount
        if any(is_name_warning(w) for w in row.warnings or ()):
            p.name_differs.append(row.id)
    p.total = running
    return p if max_total is None else fit(p, max_total)


def _elsewhere(other: Recipient, batch_id: int) -> str:
    """Why a row of the same meter and amount makes this one a duplicate."""
    where = f"{'this batch' if other.batch_id == batch_id else f'batch {other.batch_id}'} (row {other.row_number})"
    amount = naira(other.amount) if other.amount is not None else "the same amount"
    if other.state == S.SUCCESS:
        return f"paid recently: {amount} on {local_minute(other.paid_at or other.updated_at)} in {where}"
    if is_operator_failed(other):
        return (f"still in flight elsewhere: {amount} in {where}, marked failed by hand but not yet settled "
                "by BuyPower")
    return f"still in flight elsewhere: {amount} in {where}, {other.state}"


def fit(p: Preflight, limit: Decimal) -> Preflight:
    """The plan cut to `limit`: rows are kept in the plan's order (those with an orderId first,
    then the sheet's), each that would take the total over the limit is left out
    (`left_out_by_max_total`) and the next one tried. `preflight(max_total=limit)` plans the
    same, so a plan cut here is the plan the check at VEND finds."""
    kept = replace(p, send=[], resend=[], left_out_by_max_total=list(p.left_out_by_max_total), name_differs=[])
    running = Decimal(0)
    for chosen, row_id in [(kept.resend, i) for i in p.resend] + [(kept.send, i) for i in p.send]:
        amount = p.amount_of([row_id])
        if running + amount > limit:
            kept.left_out_by_max_total.append(row_id)
            continue
        chosen.append(row_id)
        running += amount
        if row_id in p.name_differs:
            kept.name_differs.append(row_id)
    kept.total = running
    return kept


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
