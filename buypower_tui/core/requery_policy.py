"""When to ask BuyPower again about a pending order, and when to stop and ask a person.

The provider's own schedule comes first: a Retry-After header on any answer, then a 202's
`delay` list (the i-th requery waits the i-th value, the last one repeating), and only
without either our doubling from `first_wait`. The budget is a time from the first POST of
the order, not a count: a provider that says "requery in 20 s" six times must not park a
row for review within two minutes (buypower-api.md §13).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from buypower_tui.core.outcomes import VendResult

SIX_HOURS = 6 * 3600.0


@dataclass(frozen=True)
class RequeryPolicy:
    first_wait: float = 120.0  # seconds before the first requery when BuyPower names none
    max_wait: float = 1800.0  # the longest wait between two requeries
    budget_s: float = SIX_HOURS  # requeried for this long after the first send, then NEEDS_REVIEW

    @classmethod
    def from_settings(cls, s) -> RequeryPolicy:  # s: buypower_tui.settings.Settings
        return cls(s.requery_first_wait, s.requery_max_wait, s.requery_budget_s)

    def wait(self, result: VendResult, count: int, schedule: Sequence[float] | None) -> float:
        """Seconds until the next requery, `count` requeries having been made (0 after the vend)."""
        if result.retry_after is not None:
            wait = result.retry_after
        elif schedule:
            wait = schedule[min(count, len(schedule) - 1)]
        else:
            wait = self.first_wait * (2 ** min(count, 30))
        # a server that says "0" (or a date gone by) every time must not get a tight loop of requeries
        floor = min(1.0, self.first_wait)
        return min(max(wait, floor), self.max_wait)

    def deadline(self, sent_at: datetime | None, now: datetime) -> datetime:
        """When the budget of an order sent at `sent_at` runs out. A POST is repeated only when
        BuyPower provably never had the order (NOT_SENT), so the last send is the first that counts."""
        start = now if sent_at is None else sent_at
        return start + timedelta(seconds=self.budget_s)

    def describe(self) -> str:
        hours = self.budget_s / 3600
        return f"{hours:g} h" if hours >= 1 else f"{self.budget_s:g} s"
