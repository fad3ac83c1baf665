"""Start-up recovery: settle what a crash left in flight before anything new is sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, or_
from sqlmodel import col, select

from buypower_tui.core import rows
from buypower_tui.core.breaker import BreakerOpen
from buypower_tui.core.models import Batch, Event, Recipient, RowState
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.store import BatchStats, Store

if TYPE_CHECKING:  # the client (httpx) loads when a command first talks to BuyPower
    from buypower_tui.core.client import BuyPowerClient

S = RowState


@dataclass
class RecoveryReport:
    requeried: dict[str, int] = field(default_factory=dict)  # new state -> rows
    not_reached: list[str] = field(default_factory=list)  # requeries BuyPower did not answer
    repaired: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # listed, never deleted
    # batches another process (machine) is paying or requerying, and who: their rows are left to it
    held_elsewhere: dict[int, str] = field(default_factory=dict)
    stats: dict[int, BatchStats] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.not_reached or self.orphans)

    @property
    def found_anything(self) -> bool:
        return bool(self.requeried or self.repaired or self.orphans or self.not_reached or self.held_elsewhere)

    def describe(self) -> str:
        parts = [f"requeried {sum(self.requeried.values())} rows in flight"
                 + (f" ({', '.join(f'{n} {k}' for k, n in sorted(self.requeried.items()))})"
                    if self.requeried else "")]
        parts += [f"repaired: {x}" for x in self.repaired]
        parts += [f"orphan (listed, not deleted): {x}" for x in self.orphans]
        parts += [f"not reached: {x}" for x in self.not_reached]
        parts += [f"left alone: batch {b} is being paid or requeried by {who}: its rows in flight are left to it"
                  for b, who in self.held_elsewhere.items()]
        return "; ".join(parts)


# Claims a batch for the caller's money lock: None when it is the caller's now, else who holds
# it (money_lock.MoneyLock.try_claim). A SQLite store's lock holds every batch.
Claim = Callable[[int], "str | None"]


def _mine(claim: Claim | None, batch_id: int, report: RecoveryReport) -> bool:
    """Whether this process may touch the batch's rows; if not, the report says who has them
    (the server is asked once per batch, not once per row)."""
    if batch_id in report.held_elsewhere:
        return False
    if claim is None or (who := claim(batch_id)) is None:
        return True
    report.held_elsewhere[batch_id] = who
    return False


def needs_recovery(store: Store) -> bool:
    """Rows a crash or a stop may have left in flight (SENDING or PENDING), or orphans to report."""
    with store.session() as s:
        if s.exec(select(func.count()).where(col(Recipient.state).in_([S.SENDING, S.PENDING]))).one():
            return True
    report = RecoveryReport()
    _repair_and_list_orphans(store, report)  # with nothing SENDING it only lists: no change
    return bool(report.orphans)


def in_flight(store: Store) -> list[int]:
    """SENDING and PENDING rows with an orderId (those without one are orphans, listed), and
    rows the operator marked failed while BuyPower has not said so (their order may succeed)."""
    with store.session() as s:
        return list(s.exec(select(Recipient.id).where(
            or_(col(Recipient.state).in_([S.SENDING, S.PENDING]), rows.operator_failed()),
            col(Recipient.order_id).is_not(None))))


async def requery_now(store: Store, client: BuyPowerClient, row_ids: list[int], report: RecoveryReport, *,
                      policy: RequeryPolicy, stop: Callable[[], bool] | None = None, claim: Claim | None = None
                      ) -> None:
    """Requery these rows now (start-up, or the operator asked): a still-pending answer
    neither spends the budget nor moves the schedule. `stop()` true: the rest is left as it is
    (the app is closing). `claim`: rows of a batch another process holds are left to it."""
    for n, row_id in enumerate(row_ids):
        if stop is not None and stop():
            report.not_reached.append(f"{len(row_ids) - n} rows not requeried: stopped (the app is closing)")
            return
        row = rows.get(store, row_id)
        if not _mine(claim, row.batch_id, report):
            continue
        try:
            result = await client.requery(row.order_id, vend_type=row.vend_type or "PREPAID", sent_at=row.sent_at)
        except BreakerOpen as exc:
            report.not_reached.append(f"row {row.row_number} of batch {row.batch_id}: {exc}")
            continue
        try:
            after = rows.record_result(store, row_id, result, requery=True, policy=policy,
                                       scheduled=False)
        except rows.StateConflict as exc:  # settled meanwhile (by hand): that stands; the others go on
            report.not_reached.append(f"row {row.row_number} of batch {row.batch_id} changed meanwhile: {exc}")
            continue
        # a row the operator marked failed and BuyPower still does not know about is not "now FAILED"
        state = "still unknown (marked failed by OPERATOR)" if rows.is_operator_failed(after) else after.state
        report.requeried[state] = report.requeried.get(state, 0) + 1


async def recover(store: Store, client: BuyPowerClient | None, *, policy: RequeryPolicy,
                  stop: Callable[[], bool] | None = None, claim: Claim | None = None) -> RecoveryReport:
    """Repair, list orphans, requery what is in flight, recount. Without a client (no key)
    everything but the requery is done, and the rows left in flight are listed as not reached.
    `claim` (PostgreSQL, where batches are paid at once): the batches another process holds
    are left to it, neither requeried nor repaired; the report says whose they are."""
    report = RecoveryReport()
    _repair_and_list_orphans(store, report, claim)
    if client is None:
        pending = in_flight(store)
        if pending:
            report.not_reached.append(f"{len(pending)} rows in flight were not requeried: there is no API key")
    else:
        await requery_now(store, client, in_flight(store), report, policy=policy, stop=stop, claim=claim)
    with store.session() as s:
        batch_ids = list(s.exec(select(Batch.id)))
    report.stats = store.stats_for(batch_ids)
    return report


def _repair_and_list_orphans(store: Store, report: RecoveryReport, claim: Claim | None = None) -> None:
    with store.session() as s:
        sending_without_order = list(s.exec(select(Recipient.id).where(
            Recipient.state == S.SENDING, col(Recipient.order_id).is_(None))))
        no_order = list(s.exec(select(Recipient).where(
            col(Recipient.state).in_([st for st in rows.WITH_ORDER if st != S.SENDING]),
            col(Recipient.order_id).is_(None))))
        success_without_token = list(s.exec(select(Recipient).where(
            Recipient.state == S.SUCCESS, Recipient.vend_type == "PREPAID", col(Recipient.token).is_(None))))
        batch_ids = select(Batch.id)
        row_ids = select(Recipient.id)
        lost_rows = s.exec(select(func.count()).where(col(Recipient.batch_id).not_in(batch_ids))).one()
        lost_events = s.exec(select(func.count()).where(
            col(Event.recipient_id).is_not(None), col(Event.recipient_id).not_in(row_ids))).one()
    for row_id in sending_without_order:  # no orderId: it cannot have been sent
        if not _mine(claim, rows.get(store, row_id).batch_id, report):
            continue
        row = rows.transition(store, row_id, (S.SENDING,), S.VERIFIED,
                              note="recovery: SENDING without an orderId cannot have been sent; back to VERIFIED")
        report.repaired.append(f"row {row.row_number} of batch {row.batch_id}: SENDING without orderId -> VERIFIED")
    for row in no_order:
        report.orphans.append(f"row {row.row_number} of batch {row.batch_id} is {row.state} without an orderId")
    for row in success_without_token:
        report.orphans.append(f"row {row.row_number} of batch {row.batch_id} is SUCCESS without a token")
    if lost_rows:
        report.orphans.append(f"{lost_rows} rows belong to a batch that no longer exists")
    if lost_events:
        report.orphans.append(f"{lost_events} events belong to rows that no longer exist")
