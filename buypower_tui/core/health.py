"""Health facts, shared by `buypower-tui health` and the dashboard."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_
from sqlmodel import col, select

from buypower_tui.core import dashboard
from buypower_tui.core.breaker import BreakerOpen
from buypower_tui.core.dashboard import HourPaid, LastRun, RowError
from buypower_tui.core.models import Event, Recipient, RowState
from buypower_tui.core.outcomes import ApiError, ConfigurationError
from buypower_tui.core.rules import naira
from buypower_tui.core.store import Store

if TYPE_CHECKING:  # the client (httpx) loads when a command first talks to BuyPower
    from buypower_tui.core.client import BuyPowerClient

S = RowState
LOW_DISK = 500 * 1024 * 1024
# The most health waits for BuyPower (its status and the wallet together): monitoring probes
# give up after 10 to 30 s, and an answer slower than this is an outage to report, not to wait
# out. Shorter when one request's deadline is (small timeouts in the settings).
API_BUDGET_S = 15.0


@dataclass
class Health:
    status: str = "healthy"  # healthy | degraded | down
    problems: list[str] = field(default_factory=list)
    store_ok: bool = False
    key_source: str = "none"
    api_reachable: bool | None = None  # None: not asked (no key)
    api_latency_ms: float | None = None
    breaker: str = "closed"
    discos_up: list[str] = field(default_factory=list)
    discos_down: list[str] = field(default_factory=list)
    wallet: Decimal | None = None
    pending: int = 0
    needs_review: int = 0
    success_rate_24h: float | None = None
    vends_24h: int = 0
    vends_by_hour: list[int] = field(default_factory=list)  # the last 24 hours, oldest first
    free_disk_mb: float = 0.0
    memory_mb: float = 0.0
    # For the dashboard (core/dashboard.py); in the JSON too, after the keys above.
    hours: list[HourPaid] = field(default_factory=list)  # vends and naira per clock hour, 24, oldest first
    last_run: LastRun | None = None
    recent_errors: list[RowError] = field(default_factory=list)  # rows that became FAILED/NEEDS_REVIEW

    def as_json(self) -> dict[str, Any]:
        """Money as decimal text ("887549.50"), times in the operator's zone with their offset."""
        data = dashboard.jsonable(asdict(self))
        if self.last_run is not None:
            moved = self.last_run.moved
            data["last_run"].update(not_sent=self.last_run.not_sent, moved=None if moved is None else f"{moved:.2f}")
        return data

    def degrade(self, problem: str, down: bool = False) -> None:
        self.problems.append(problem)
        if down:
            self.status = "down"
        elif self.status == "healthy":
            self.status = "degraded"


def process_memory_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc: the peak is the best we have
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def store_facts(store: Store, h: Health, now: datetime | None = None) -> None:
    now = now or dashboard.now()
    since = now - timedelta(hours=24)
    with store.session() as s:
        counts = dict(s.exec(select(Recipient.state, func.count()).where(
            col(Recipient.state).in_([S.PENDING, S.NEEDS_REVIEW])).group_by(Recipient.state)).all())
        finals = dict(s.exec(select(Event.new_state, func.count()).where(
            col(Event.at) >= since, col(Event.new_state).in_([S.SUCCESS, S.FAILED]),
            col(Event.recipient_id).is_not(None),
            # a closed row reopened as FAILED is no new failure: its vend failed once, counted then
            or_(col(Event.old_state).is_(None), Event.old_state != S.CLOSED)).group_by(Event.new_state)).all())
    h.store_ok = True
    h.pending, h.needs_review = counts.get(S.PENDING, 0), counts.get(S.NEEDS_REVIEW, 0)
    h.vends_24h = finals.get(S.SUCCESS, 0)
    paid = dashboard.paid_events(store, since)
    h.vends_by_hour = vends_by_hour(since, paid)
    h.hours = dashboard.by_hour(paid, now)
    h.last_run = dashboard.last_run(store)
    h.recent_errors = dashboard.recent_errors(store)
    done = h.vends_24h + finals.get(S.FAILED, 0)
    h.success_rate_24h = (h.vends_24h / done) if done else None


def vends_by_hour(since: datetime, paid: list[tuple[datetime, int]]) -> list[int]:
    """Paid vends per hour since `since` (24 buckets of an hour from `since`, oldest first),
    from dashboard.paid_events."""
    buckets = [0] * 24
    for at, _kobo in paid:
        buckets[max(0, min(23, int((at - since).total_seconds() // 3600)))] += 1
    return buckets


async def check_health(store: Store | None, client: BuyPowerClient | None, key_source: str,
                       data_dir: Path, store_error: str | None = None, *,
                       low_wallet: Decimal | None = None) -> Health:
    """`low_wallet`: a wallet below it is degraded (setting low_wallet_threshold; 0 or None: never)."""
    h = Health(key_source=key_source, memory_mb=round(process_memory_mb(), 1))
    if store is None:
        h.degrade(f"store: {store_error}", down=True)
    else:
        try:
            store_facts(store, h)
        except Exception as exc:  # any database failure is a fact to report, not a crash
            h.degrade(f"store: {exc}", down=True)
    probe_dir = data_dir if data_dir.exists() else Path.home()
    h.free_disk_mb = round(shutil.disk_usage(probe_dir).free / 1e6, 1)
    if h.free_disk_mb * 1e6 < LOW_DISK:
        h.degrade(f"low disk space: {h.free_disk_mb:.0f} MB free")
    if h.needs_review:
        h.degrade(f"{h.needs_review} rows need review")
    if client is None:
        h.degrade("no API key: BuyPower was not asked")
        return h
    started = time.perf_counter()
    budget = min(client.deadline, API_BUDGET_S)
    try:
        async with asyncio.timeout(budget):
            discos = await client.disco_status()
            h.api_latency_ms = round((time.perf_counter() - started) * 1000, 1)
            h.api_reachable = True
            h.discos_up = sorted(k for k, v in discos.items() if v)
            h.discos_down = sorted(k for k, v in discos.items() if not v)
            h.wallet = await client.wallet_balance()
            if low_wallet and h.wallet < low_wallet:
                h.degrade(f"wallet {naira(h.wallet)} below the low-wallet threshold {naira(low_wallet)}")
    except ConfigurationError as exc:
        h.api_reachable = True
        h.degrade(str(exc), down=True)
    except (ApiError, BreakerOpen, TimeoutError) as exc:
        h.api_reachable = h.api_reachable or False
        why = exc if not isinstance(exc, TimeoutError) else f"no answer within {budget:.1f} s"
        h.degrade(f"BuyPower: {why}", down=not h.api_reachable)
    h.breaker = client.breaker.snapshot().state.value
    if h.breaker != "closed":
        h.degrade(f"circuit breaker {h.breaker}")
    return h
