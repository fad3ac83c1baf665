"""Pre-flight: what a run would send, what it costs, and what the operator must accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import col, select

from buypower_tui.core import rows
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.store import Store

S = RowState


@dataclass
class Preflight:
    send: list[int] = field(default_factory=list)  # VERIFIED rows that would be approved, sheet order
    total: Decimal = Decimal(0)
    balance: Decimal | None = None
    batch_duplicates: list[int] = field(default_factory=list)  # same meter twice in the batch
    recent_duplicates: list[int] = field(default_factory=list)  # same meter+amount paid in the window
    unaccepted: list[int] = field(default_factory=list)
    left_out_by_max_total: list[int] = field(default_factory=list)
    resend: list[int] = field(default_factory=list)  # APPROVED / NOT_SENT rows that already have an orderId

    @property
    def shortfall(self) -> Decimal:
        return max(Decimal(0), self.total - self.balance) if self.balance is not None else Decimal(0)


def preflight(store: Store, batch_id: int, balance: Decimal | None, window_days: int,
              max_total: Decimal | None = None) -> Preflight:
    p = Preflight(balance=balance, resend=rows.ids_in(store, batch_id, rows.SENDABLE))
    since = datetime.now(UTC) - timedelta(days=window_days)
    dup_meters = set(store.duplicate_meters(batch_id))  # before our session: one session at a time
    with store.session() as s:
        verified = list(s.exec(select(Recipient).where(Recipient.batch_id == batch_id,
                                                       Recipient.state == S.VERIFIED)
                               .order_by(col(Recipient.row_number))))
        for row in verified:
            recent = s.exec(select(func.count()).where(
                Recipient.meter == row.meter, Recipient.amount_kobo == row.amount_kobo,
                Recipient.state == S.SUCCESS, col(Recipient.updated_at) >= since, Recipient.id != row.id)).one()
            if row.meter in dup_meters:
                p.batch_duplicates.append(row.id)
            if recent:
                p.recent_duplicates.append(row.id)
            if (row.meter in dup_meters or recent) and not row.duplicate_accepted:
                p.unaccepted.append(row.id)
    running = sum((rows.get(store, i).amount for i in p.resend), Decimal(0))
    for row in verified:
        if row.id in p.unaccepted:
            continue
        if max_total is not None and running + row.amount > max_total:
            p.left_out_by_max_total.append(row.id)
            continue
        p.send.append(row.id)
        running += row.amount
    p.total = running
    return p


def accept_duplicates(store: Store, row_ids: list[int]) -> None:
    for row_id in row_ids:
        rows.transition(store, row_id, (S.VERIFIED,), S.VERIFIED, duplicate_accepted=True,
                        note="duplicate accepted by the operator")
