"""What a run says when it ends: stopped by a lost store or lock, and whether the wallet moved
by what it paid. Pure wording and one read, apart from the runner that decides when."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from buypower_tui.core import rows, run_log
from buypower_tui.core.run_progress import RunResult
from buypower_tui.core.store import Store

STORE_LOST = "the database stopped answering during the run"
LOCK_LOST = "the money lock was lost during the run"


def why(halted_by: str | None, error: str | None) -> str:
    said = f"{halted_by} ({error})"
    return said + (", so another process may pay this batch now" if halted_by == LOCK_LOST else "")


def halted_message(halted_by: str | None, error: str | None, *, sent: int, unstored: int, unsent: int) -> str:
    """The end of a run the store (or the lock) stopped: what was sent, what stays SENDING and
    why, and what the operator does next."""
    rows_ = "row" if sent == 1 else "rows"
    said = (f"the answers of {unstored} of them could not be stored: those rows stay SENDING (in flight) and "
            "will be requeried, their tokens stored, never sent again" if unstored
            else "the answers that came back were stored")
    if unsent:
        said += (f"; {unsent} more {'row' if unsent == 1 else 'rows'} marked SENDING but never sent could not be "
                 f"put back: {'it stays' if unsent == 1 else 'they stay'} SENDING, and recovery finds BuyPower "
                 f"never got {'it' if unsent == 1 else 'them'}")
    when = "When the database answers again, run" if halted_by == STORE_LOST else "Run"
    return (f"{why(halted_by, error)}: sending stopped after {sent} {rows_}; {said}. Nothing was guessed. {when} "
            "`buypower-tui recover` (the TUI recovers when it starts) to requery the rows in flight, "
            "then run the batch again to pay the rows not sent")


def reconcile(store: Store, batch_id: int, result: RunResult, paid: Decimal, posted: Collection[int],
              read_at: datetime, after_at: datetime) -> str | None:
    """None when the wallet moved by what the run paid (`paid`: successes of the rows it POSTed,
    `posted`), else what to check."""
    if result.balance_before is None or result.balance_after is None:
        return "wallet not reconciled: the balance could not be read before and after the run"
    delta = result.balance_before - result.balance_after
    if delta == paid:
        return None
    # Another operator (another process) paying another batch from the same wallet meanwhile
    # moved it too: what their rows paid from just before the first read of the balance to
    # just after the second counts with ours.
    others, batches = rows.paid_between(store, read_at, after_at, but=batch_id)
    if others and paid <= delta <= paid + others:
        # Their rows answered around the two reads may have moved the wallet before or after
        # either, so theirs is an upper bound: a move within it is accounted for.
        return None
    also = (f" and rows of batch{'es' if len(batches) > 1 else ''} {', '.join(map(str, batches))} paid "
            f"up to ₦{others:,.2f} meanwhile" if others else "")
    unsettled = set(rows.ids_in(store, batch_id, run_log.UNSETTLED))
    pending = len(unsettled & set(posted))
    why_ = f" ({pending} rows sent by this run are still pending and may account for it)" if pending else ""
    return (f"wallet moved by ₦{delta:,.2f} but the rows this run paid total ₦{paid:,.2f}{also}{why_}; "
            "check BuyPower's transaction history")
