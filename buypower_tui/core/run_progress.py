"""What a run reports as it goes and when it ends, and how it is set up: the runner's
(core/vending.py) words to the faces, kept apart so that file holds only the running."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from buypower_tui.core.breaker import BreakerSnapshot
from buypower_tui.core.requery_policy import RequeryPolicy


@dataclass(frozen=True)
class PendingRow:
    """A PENDING row during the wait for pending rows: when the run asks BuyPower about it next."""

    row_number: int
    meter: str
    next_requery_at: datetime | None  # UTC


@dataclass(frozen=True)
class Progress:
    """One snapshot of a run, for the CLI's progress line and the TUI's run view.

    `to_send` and `sent` count rows, each at most once: a row sent again under its orderId
    (BuyPower never received it: NOT_SENT) counts in `resent`, not again in `sent`."""

    counts: dict[str, int]
    to_send: int  # rows this run sends (those it set out to send, and rows a requery found never received)
    sent: int  # of those, the rows whose POST got an answer (BuyPower has or may have the order)
    vends_per_s: float
    eta_s: float | None
    breaker: BreakerSnapshot
    waiting: str | None  # why nothing is being sent right now, if so
    last_error: str | None
    paused: bool
    finished: bool
    resent: int = 0  # POSTs of rows sent before in this run (the earlier request never reached BuyPower)
    # Sending is done: the pending rows are requeried until then (UTC), and no longer (None: not waiting)
    wait_ends_at: datetime | None = None
    pending: tuple[PendingRow, ...] = ()  # during that wait: pending rows, soonest requery first (at most 50)
    # The run stopped sending by itself, and why (the store stopped answering: StoreUnavailable)
    halted: str | None = None


@dataclass
class RunResult:
    progress: Progress
    succeeded: list[int] = field(default_factory=list)
    balance_before: Decimal | None = None
    balance_after: Decimal | None = None
    reconciliation: str | None = None  # a warning when the wallet moved by other than the successes
    error: str | None = None  # what stopped the run early (a refused key, a bug)


class StoreUnavailable(Exception):
    """The store stopped answering during a run (a server restarted or gone, a network cut, a
    write refused), so the run stopped sending at once and ended after the requests in flight;
    the rows whose answers could not be stored stay as the store has them (SENDING) and are
    requeried, never sent again, once it answers. str(): what happened and what to do.
    `result`: the run as far as it went (its counts are the last the store gave)."""

    def __init__(self, message: str, result: RunResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class RunOptions:
    concurrency: int = 4
    requery: RequeryPolicy = field(default_factory=RequeryPolicy)
    # Once every row has been sent, requery PENDING rows this long (seconds), and no longer:
    # see Runner._requery_loop.
    wait_pending: float = 0.0
