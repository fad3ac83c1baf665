"""The lookup pass: check every VALID row's meter with BuyPower before anything is paid."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from buypower_tui.core import rows
from buypower_tui.core.breaker import BreakerOpen
from buypower_tui.core.models import RowState
from buypower_tui.core.names import with_name_warning
from buypower_tui.core.outcomes import ApiError
from buypower_tui.core.rules import naira
from buypower_tui.core.store import Store

if TYPE_CHECKING:  # the client (httpx) loads when a command first talks to BuyPower
    from buypower_tui.core.client import BuyPowerClient

S = RowState


@dataclass
class LookupReport:
    checked: int = 0
    verified: int = 0
    not_found: int = 0
    out_of_range: int = 0
    held: dict[str, int] = field(default_factory=dict)  # disco down -> rows held
    errors: list[str] = field(default_factory=list)  # BuyPower did not answer: rows stay VALID


async def lookup_batch(store: Store, client: BuyPowerClient, batch_id: int,
                       on_row: Callable[[int, int, int], None] | None = None) -> LookupReport:
    """VALID -> VERIFIED (customer, debt, min/max stored), LOOKUP_FAILED (not found), or INVALID
    (amount outside the meter's min/max). Rows of a DISCO that is down stay VALID (held).
    `on_row(done, total, row_id)` follows each row, so a screen can show it as it lands."""
    report = LookupReport()
    try:
        down = {code for code, up in (await client.disco_status()).items() if not up}
    except (ApiError, BreakerOpen) as exc:
        down = set()
        report.errors.append(f"disco status unknown ({exc}); checking every meter")
    todo = [r for r in store.rows(batch_id) if r.state == S.VALID]  # one read, not one per row
    total = len(todo)
    slots = asyncio.Semaphore(client.concurrency + 2)  # the client caps requests; this caps tasks
    done = 0

    async def one(row) -> None:
        nonlocal done
        async with slots:
            try:
                await check(row)
            except rows.StateConflict:  # edited or deleted meanwhile: its answer is stale
                report.errors.append(f"row {row.row_number}: changed during the lookup; not checked")
        done += 1
        if on_row:
            on_row(done, total, row.id)

    async def check(row) -> None:
        row_id = row.id
        looked_up = (row.meter, row.disco, row.vend_type, row.amount_kobo)

        def same_row(current) -> dict:
            """The answer is about the meter as it was asked: an edit meanwhile makes it stale."""
            if (current.meter, current.disco, current.vend_type, current.amount_kobo) != looked_up:
                raise rows.StateConflict(f"row {row.row_number} was edited during the lookup")
            return {}

        def named(customer_name: str | None):
            """same_row, and the row's name warning as BuyPower's name for the meter says now
            (its other warnings kept)."""
            def compute(current) -> dict:
                same_row(current)
                return {"warnings": with_name_warning(current.warnings, current.name, customer_name)}
            return compute

        if row.disco in down:
            report.held[row.disco] = report.held.get(row.disco, 0) + 1
            rows.transition(store, row_id, (S.VALID,), S.VALID, compute=same_row, note=f"held: {row.disco} is down",
                            provider_message=f"held: {row.disco} is down at BuyPower; try again later")
            return
        try:
            info = await client.check_meter(row.meter, row.disco, row.vend_type or "PREPAID")
        except (ApiError, BreakerOpen) as exc:
            report.errors.append(f"row {row.row_number}: {exc}")
            return
        report.checked += 1
        customer = dict(customer_name=info.name, customer_address=info.address, customer_debt=info.outstanding,
                        debt_repayment=info.debt_repayment, min_vend=info.min_vend, max_vend=info.max_vend)
        if not info.found:
            report.not_found += 1
            rows.transition(store, row_id, (S.VALID,), S.LOOKUP_FAILED, compute=named(None), note="meter not found",
                            provider_message=info.message)
            return
        amount = row.amount
        problem = None
        if info.min_vend is not None and amount < info.min_vend:
            problem = f"amount {naira(amount)} is below this meter's minimum {naira(info.min_vend)}; raise it."
        elif info.max_vend is not None and amount > info.max_vend:
            problem = f"amount {naira(amount)} is above this meter's maximum {naira(info.max_vend)}; lower it."
        if problem:
            report.out_of_range += 1
            errors = list(row.errors or []) + [{"field": "amount", "message": problem}]
            rows.transition(store, row_id, (S.VALID,), S.INVALID, compute=named(info.name),
                            note="amount outside the meter's range", errors=errors, **customer)
            return
        report.verified += 1
        rows.transition(store, row_id, (S.VALID,), S.VERIFIED, compute=named(info.name), note="meter verified",
                        provider_message=None, **customer)

    await asyncio.gather(*(one(row) for row in todo))
    return report
