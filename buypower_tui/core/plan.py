"""Before money moves: settle what is in flight, look meters up, read the wallet, plan.

Shared by `buypower-tui run`/`retry` and the TUI's confirm dialog: both show the same plan,
and nothing is changed until the operator confirms it (`commit_plan`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from buypower_tui.core import rows
from buypower_tui.core.approval import check_plan
from buypower_tui.core.lookup import LookupReport, lookup_batch
from buypower_tui.core.manual import retry_failed, retry_problem
from buypower_tui.core.models import RowState, utcnow
from buypower_tui.core.preflight import Accepting, Preflight, accept_duplicates, fit, preflight
from buypower_tui.core.recovery import Claim, RecoveryReport, recover
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.rules import naira
from buypower_tui.core.store import Store
from buypower_tui.core.times import local_minute

if TYPE_CHECKING:  # the client (httpx) loads when a command first talks to BuyPower
    from buypower_tui.core.client import BuyPowerClient

S = RowState


@dataclass(frozen=True)
class Policy:
    """The settings a plan and a run depend on (see Settings for their meaning)."""

    requery: RequeryPolicy = RequeryPolicy()
    duplicate_window_days: int = 7
    low_wallet_threshold: Decimal = Decimal(10_000)
    approval: str = "single"  # or "two-person": core/approval.py

    @classmethod
    def from_settings(cls, s) -> Policy:  # s: buypower_tui.settings.Settings
        return cls(RequeryPolicy.from_settings(s), s.duplicate_window_days, s.low_wallet_threshold, s.approval)


@dataclass
class RunPlan:
    batch_id: int
    recovery: RecoveryReport
    lookup: LookupReport | None  # None when retrying: no new rows are looked up
    balance: Decimal
    preflight: Preflight
    retrying: tuple[int, ...] = ()  # the rows of `retry_asked` that may be retried
    accepting: Accepting = False
    max_total: Decimal | None = None
    not_retried: list[str] = field(default_factory=list)  # rows chosen for a retry that may not be, and why
    retry_asked: tuple[int, ...] = ()  # the FAILED rows the operator chose to retry
    low_wallet_threshold: Decimal | None = None  # warn when the run would leave less in the wallet
    # The operator pays without the duplicates that wait for a decision (--skip-duplicates,
    # SKIP): they are left as they are, and a VERIFIED one says why (`record_left_out`).
    skipping: bool = False
    fit_to_wallet: bool = False  # max_total is the wallet's balance: the TUI's "pay what fits"

    @property
    def low_wallet_after(self) -> Decimal | None:
        """What the wallet would hold after this run, when that is below the low-wallet
        threshold (a warning: the run is still paid)."""
        p = self.preflight
        if self.low_wallet_threshold is None or not p.count or p.shortfall:
            return None
        after = self.balance - p.total
        return after if after < self.low_wallet_threshold else None

    def fitted(self) -> RunPlan | None:
        """"Pay what fits": this plan cut to the wallet's balance (rows kept in the plan's order,
        each that would go over left out), as `max_total=balance` would plan it, so the check at
        VEND finds the same plan. None when nothing is short or nothing fits. Duplicates that wait
        for a decision are left unpaid (skipped)."""
        p = self.preflight
        if not p.shortfall or any(i not in p.seen for i in p.send + p.resend):
            return None
        cut = fit(p, self.balance)
        if not cut.count:
            return None
        return replace(self, preflight=cut, max_total=self.balance, fit_to_wallet=True,
                       skipping=self.skipping or bool(p.unaccepted))

    @property
    def skipped(self) -> list[int]:
        """The duplicates this run leaves unpaid because the operator chose to skip them."""
        return list(self.preflight.unaccepted) if self.skipping else []

    @property
    def accepted(self) -> list[int]:
        """Duplicates this run will pay because the operator accepted them (to be shown)."""
        dups = set(self.preflight.batch_duplicates) | set(self.preflight.recent_duplicates)
        return [i for i in self.preflight.send + self.preflight.resend if i in dups]

    @property
    def to_send(self) -> frozenset[int]:
        """The rows the operator confirms: the runner sends these and no other."""
        return frozenset(self.preflight.send) | frozenset(self.preflight.resend)


class PlanChanged(Exception):
    """What the operator confirmed is no longer true (another process paid, an edit, the
    wallet): nothing was paid. `plan` is the plan as it stands now, to be shown and asked again."""

    def __init__(self, changes: list[str], plan: RunPlan) -> None:
        super().__init__("the plan changed since it was shown: " + "; ".join(changes))
        self.changes, self.plan = changes, plan


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
                   accepting: Accepting = False, retrying: tuple[int, ...] = (),
                   max_total: Decimal | None = None,
                   on_row: Callable[[int, int, int], None] | None = None,
                   stop: Callable[[], bool] | None = None, claim: Claim | None = None) -> RunPlan:
    """Recovery, the lookup (unless retrying), the wallet and the pre-flight. Changes no
    row that the operator has not yet approved (recovery and lookup only settle facts).

    Recovery requeries rows the operator marked failed; those BuyPower has still not
    answered for (or that were paid after all) are dropped from `retrying`, with the reason."""
    recovery = await recover(store, client, policy=policy.requery, stop=stop, claim=claim)
    problems = {i: retry_problem(rows.get(store, i)) for i in retrying}
    not_retried = [p for p in problems.values() if p]
    retry_asked, retrying = retrying, tuple(i for i, p in problems.items() if p is None)
    lookup = None if retrying or not_retried else await lookup_batch(store, client, batch_id, on_row)
    balance = await client.wallet_balance()
    p = _preflight(store, batch_id, balance, policy, max_total, accepting, retrying, not_retried)
    return RunPlan(batch_id, recovery, lookup, balance, p, retrying, accepting, max_total, not_retried, retry_asked,
                   low_wallet_threshold=policy.low_wallet_threshold)


def _preflight(store: Store, batch_id: int, balance: Decimal, policy: Policy, max_total: Decimal | None,
               accepting: Accepting, retrying: tuple[int, ...], not_retried: list[str]) -> Preflight:
    return preflight(store, batch_id, balance, policy.duplicate_window_days, max_total,
                     include_verified=not (retrying or not_retried), accepting=accepting, retrying=retrying)


async def commit_plan(store: Store, client: BuyPowerClient, plan: RunPlan, policy: Policy
                      ) -> tuple[list[rows.RowView], Decimal]:
    """The operator confirmed: check the plan again (under the batch's money lock, which the
    caller holds, and the store's approval lock), then record the accepted duplicates, give
    retried rows new orderIds and approve the rest. Returns the retried rows (their new
    orderIds) and the wallet balance now.

    Between the question and the answer another process may have paid the same meters,
    the rows may have been edited, the wallet may have moved: then PlanChanged, and
    nothing is changed."""
    balance = await client.wallet_balance()
    with store.approval():  # no other process checks and approves between our check and our approval
        return _check_and_approve(store, plan, policy, balance)


def _check_and_approve(store: Store, plan: RunPlan, policy: Policy, balance: Decimal
                       ) -> tuple[list[rows.RowView], Decimal]:
    now = _preflight(store, plan.batch_id, balance, policy, plan.max_total, plan.accepting, plan.retrying,
                     plan.not_retried)
    changes = differences(plan.preflight, now)
    changes += [p for p in (retry_problem(rows.get(store, i)) for i in plan.retrying) if p]
    if changes:
        raise PlanChanged(changes, replace(plan, recovery=RecoveryReport(), lookup=None, balance=balance,
                                           preflight=now))
    check_plan(store, plan, policy.approval)  # two-person approval: ApprovalRefused, nothing changed
    # A row edited after the check (in another window, a merge) is asked about again, as if the
    # check had seen it: PlanChanged, nothing approved. Acceptances recorded before it are the
    # operator's answers to this plan (an edit of meter or amount takes them back), and the
    # next plan shows them as accepted duplicates.
    try:
        if plan.accepting:
            accept_duplicates(store, plan.preflight)
    except rows.StateConflict as exc:
        raise _changed_meanwhile(store, plan, policy, balance, exc) from None
    # only the retried rows this run sends: one left out (an unaccepted duplicate) stays FAILED
    retried = [retry_failed(store, row_id) for row_id in plan.retrying if row_id in plan.preflight.resend]
    try:  # a plan either retries FAILED rows or approves new ones, never both (plan_run)
        rows.approve(store, plan.preflight.send, every=True)
    except rows.StateConflict as exc:
        raise _changed_meanwhile(store, plan, policy, balance, exc) from None
    record_left_out(store, plan)
    return retried, balance


def left_out_reasons(plan: RunPlan) -> dict[int, str]:
    """Why each row this run leaves unpaid by the operator's choice is left out: over the
    limit (--max-total, or the wallet when paying what fits) or a skipped duplicate."""
    p, today = plan.preflight, local_minute(utcnow())
    reasons = {i: f"left out: {p.why.get(i, 'a duplicate')} (skipped on {today})" for i in plan.skipped}
    if plan.max_total is not None:
        over = (f"did not fit the wallet's {naira(plan.max_total)}" if plan.fit_to_wallet
                else f"over --max-total {naira(plan.max_total)}")
        reasons |= {i: f"left out: {over} on {today}" for i in p.left_out_by_max_total}
    return reasons


# The states a row left out is noted in: not yet sent under this plan. A FAILED row chosen for
# a retry and left out keeps BuyPower's answer (an operator's "marked failed" is read from it).
NOTED_WHEN_LEFT_OUT = (S.VERIFIED, *rows.SENDABLE)


def record_left_out(store: Store, plan: RunPlan) -> int:
    """After the approval, or when the run sends nothing at all: the rows the run leaves out
    say why (their status line in the editor, the export's provider_message, an event in their
    history), so the batch does not look as if nothing happened. They keep their state: a
    VERIFIED one is paid by a later run (approval clears the note), an APPROVED or NOT_SENT one
    (an orderId from an earlier run) is sent by a later run under that same orderId (its answer
    replaces the note). Returns how many rows were noted."""
    by_reason: dict[str, list[int]] = {}
    for row_id, why in left_out_reasons(plan).items():
        by_reason.setdefault(why[:500], []).append(row_id)
    return sum(rows.note_rows(store, ids, NOTED_WHEN_LEFT_OUT, note=why, provider_message=why)
               for why, ids in by_reason.items())


def _changed_meanwhile(store: Store, plan: RunPlan, policy: Policy, balance: Decimal, exc: Exception
                       ) -> PlanChanged:
    now = _preflight(store, plan.batch_id, balance, policy, plan.max_total, plan.accepting, plan.retrying,
                     plan.not_retried)
    return PlanChanged(differences(plan.preflight, now) or [str(exc)],
                       replace(plan, recovery=RecoveryReport(), lookup=None, balance=balance, preflight=now))


def differences(then: Preflight, now: Preflight) -> list[str]:
    """What changed between two pre-flights of the same run, in the operator's words."""
    def numbers(ids: set[int]) -> str:
        shown = sorted((then.seen.get(i) or now.seen[i])[0] for i in ids)
        more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
        return ("row " if len(shown) == 1 else "rows ") + ", ".join(map(str, shown[:10])) + more

    changes = []
    recent = set(now.recent_duplicates) - set(then.recent_duplicates)
    twice = set(now.batch_duplicates) - set(then.batch_duplicates)
    if recent:
        changes.append(f"{numbers(recent)}: the same meter and amount were paid, or are being paid, in another "
                       "batch meanwhile")
    if twice - recent:
        changes.append(f"{numbers(twice - recent)}: the meter now appears twice in this batch")
    chosen_then, chosen_now = set(then.send) | set(then.resend), set(now.send) | set(now.resend)
    if edited := {i for i in chosen_then & chosen_now if then.seen[i] != now.seen[i]}:
        changes.append(f"{numbers(edited)}: meter, amount or details changed (edited, or another batch now "
                       "holds these rows)")
    if gone := chosen_then - chosen_now - recent - twice:
        changes.append(f"{numbers(gone)}: no longer ready to send (edited, deleted, paid or changed meanwhile)")
    if added := chosen_now - chosen_then:
        changes.append(f"{numbers(added)}: now ready to send as well")
    if now.total != then.total:
        changes.append(f"the total is now {naira(now.total)} (it was {naira(then.total)})")
    if now.shortfall > then.shortfall:
        changes.append(f"the wallet now holds {naira(now.balance)}: {naira(now.shortfall)} short")
    return changes
