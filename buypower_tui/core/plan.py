"""Before money moves: settle what is in flight, look meters up, read the wallet, plan.

Shared by `buypower-tui run`/`retry` and the TUI's confirm dialog: both show the same plan,
and nothing is changed until the operator confirms it (`commit_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from buypower_tui.core import rows
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.lookup import LookupReport, lookup_batch
from buypower_tui.core.preflight import Preflight, accept_duplicates, preflight
from buypower_tui.core.recovery import RecoveryReport, recover
from buypower_tui.core.store import Store


@dataclass(frozen=True)
class Policy:
    """The settings a plan and a run depend on (see Settings for their meaning)."""

    first_wait: float = 120.0
    max_wait: float = 1800.0
    budget: int = 10
    duplicate_window_days: int = 7

    @classmethod
    def from_settings(cls, s) -> Policy:  # s: buypower_tui.settings.Settings
        return cls(s.requery_first_wait, s.requery_max_wait, s.requery_budget, s.duplicate_window_days)


@dataclass
class RunPlan:
    batch_id: int
    recovery: RecoveryReport
    lookup: LookupReport | None  # None when retrying: no new rows are looked up
    balance: Decimal
    preflight: Preflight
    retrying: tuple[int, ...] = ()
    accepting: bool = False


def batch_problem(store: Store, batch_id: int, mode: str) -> str | None:
    """Why this batch must not be paid in this mode now, if it must not."""
    batch = store.batch(batch_id)
    if batch is None:
        return f"there is no batch {batch_id}; `buypower-tui batches` lists them"
    if batch.mode != mode:
        return (f"batch {batch_id} was imported for {batch.mode} but this runs in {mode} mode; "
                "a batch is never paid in another environment")
    if batch.imported_at is None:
        return f"batch {batch_id}'s import was cut short; import the file again"
    return None


async def plan_run(store: Store, client: BuyPowerClient, batch_id: int, policy: Policy, *,
                   accepting: bool = False, retrying: tuple[int, ...] = (),
                   max_total: Decimal | None = None) -> RunPlan:
    """Recovery, the lookup (unless retrying), the wallet and the pre-flight. Changes no
    row that the operator has not yet approved (recovery and lookup only settle facts)."""
    recovery = await recover(store, client, first_wait=policy.first_wait, max_wait=policy.max_wait,
                             budget=policy.budget)
    lookup = None if retrying else await lookup_batch(store, client, batch_id)
    balance = await client.wallet_balance()
    p = preflight(store, batch_id, balance, policy.duplicate_window_days, max_total,
                  include_verified=not retrying, accepting=accepting, retrying=retrying)
    return RunPlan(batch_id, recovery, lookup, balance, p, retrying, accepting)


def commit_plan(store: Store, plan: RunPlan) -> list[rows.RowView]:
    """The operator confirmed: record the accepted duplicates, give retried rows new
    orderIds, approve the rest. Returns the retried rows (their new orderIds)."""
    if plan.accepting:
        accept_duplicates(store, plan.preflight)
    retried = [rows.retry_failed(store, row_id) for row_id in plan.retrying]
    rows.approve(store, plan.preflight.send)
    return retried
