"""The health facts in Prometheus' text exposition format (0.0.4), for node_exporter's textfile
collector or any scraper: servers' monitoring already reads it, and then alerts on our facts.

BuyPower's facts are `check_health`'s (never asked twice); the store's are counted here from
row states and the runs' own records (run_log), as every statistic is. Days and months are the
machine's local ones (TZ), as `report` decides its months. Nothing here names a meter, a person,
a token or the key: labels are row states, modes, DISCOs and breaker states only.

A value that is not known (the wallet when BuyPower was not asked or did not answer) is left
out, not written as NaN or 0: a NaN compares false in every alert rule, a 0 looks like an empty
wallet; `absent(buypower_wallet_naira)` is the check for "not known".
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from buypower_tui.core.models import Batch, Event, Recipient, RowState, UTCDateTime, from_kobo
from buypower_tui.core.money_lock import sqlite_file
from buypower_tui.core.report import midnights
from buypower_tui.core.run_log import NOTE as RUN_NOTE
from buypower_tui.core.store import Store

if TYPE_CHECKING:
    from buypower_tui.core.health import Health

S = RowState
_R, _B, _E = Recipient.__table__, Batch.__table__, Event.__table__
MODES = ("live", "sandbox")  # two wallets: their money is never added up (as in `report`)
STATUSES = ("healthy", "degraded", "down")
BREAKER_STATES = ("closed", "open", "half_open")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Value = int | float | Decimal


@dataclass
class StoreFacts:
    """What the store says, by mode where money is concerned. Money in kobo: exact."""

    rows_by_state: dict[str, int] = field(default_factory=dict)
    paid_today_kobo: dict[str, int] = field(default_factory=dict)
    paid_month_kobo: dict[str, int] = field(default_factory=dict)
    paid_total_kobo: dict[str, int] = field(default_factory=dict)
    paid_rows_total: dict[str, int] = field(default_factory=dict)
    runs_total: dict[str, int] = field(default_factory=dict)
    last_run_at: dict[str, datetime] = field(default_factory=dict)
    size_bytes: int | None = None


def day_and_month_start(now: datetime) -> tuple[datetime, datetime]:
    """The local midnights that start today and this month, in UTC, as the month report has them."""
    here = now.astimezone()
    days = midnights(here.year, here.month)
    return days[here.day - 1], days[0]


def _paid_since(start: datetime):
    """A SUCCESS row paid at or after `start` (`paid_at`; a row from before it was kept, by
    `updated_at`, as the month report places it)."""
    paid_at = _R.c.paid_at
    return or_(and_(paid_at.is_not(None), paid_at >= start), and_(paid_at.is_(None), _R.c.updated_at >= start))


def collect_store(store: Store, now: datetime | None = None) -> StoreFacts | None:
    """The store's facts; None when it does not answer (health says why)."""
    day, month = day_and_month_start(now or datetime.now(UTC))
    facts = StoreFacts(rows_by_state=dict.fromkeys(map(str, S), 0))
    for fig in (facts.paid_today_kobo, facts.paid_month_kobo, facts.paid_total_kobo, facts.paid_rows_total,
                facts.runs_total):
        fig.update(dict.fromkeys(MODES, 0))
    kobo = _R.c.amount_kobo
    paid = (select(_B.c.mode, func.count(), func.sum(kobo), func.sum(case((_paid_since(month), kobo), else_=0)),
                   func.sum(case((_paid_since(day), kobo), else_=0)))
            .select_from(_R.join(_B, _R.c.batch_id == _B.c.id)).where(_R.c.state == S.SUCCESS).group_by(_B.c.mode))
    runs = (select(_B.c.mode, func.count(), type_coerce(func.max(_E.c.at), UTCDateTime()))
            .select_from(_E.join(_B, _E.c.batch_id == _B.c.id))
            .where(_E.c.note == RUN_NOTE, _E.c.recipient_id.is_(None)).group_by(_B.c.mode))
    try:
        with store.engine.connect() as conn:
            for state, n in conn.execute(select(_R.c.state, func.count()).group_by(_R.c.state)):
                facts.rows_by_state[str(state)] = n
            for mode, n, total, this_month, today in conn.execute(paid):
                facts.paid_rows_total[mode] = n
                facts.paid_total_kobo[mode] = total or 0
                facts.paid_month_kobo[mode] = this_month or 0
                facts.paid_today_kobo[mode] = today or 0
            for mode, n, last in conn.execute(runs):
                facts.runs_total[mode] = n
                if last is not None:
                    facts.last_run_at[mode] = last
            facts.size_bytes = store_size(store, conn)
    except (SQLAlchemyError, OSError):
        return None
    return facts


def store_size(store: Store, conn) -> int | None:
    """Bytes the store takes: a SQLite file with its -wal (what a backup or a full disk is
    about), or PostgreSQL's own figure for the database; None for an in-memory store."""
    if store.engine.dialect.name == "postgresql":
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0)
    path = sqlite_file(store.engine.url)
    if path is None:
        return None
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


# -- the text format -------------------------------------------------------------------------------

def _number(value: Value | bool) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, bool | int):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    """Families written in order, each with # HELP and # TYPE; a family without samples is left out."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, name: str, kind: str, text: str, samples: Iterable[tuple[dict[str, str], Value | bool]]) -> None:
        samples = list(samples)
        if not samples:
            return
        self.lines += [f"# HELP {name} {_help(text)}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            shown = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}")

    def gauge(self, name: str, text: str, value: Value | bool | None) -> None:
        self.add(name, "gauge", text, [] if value is None else [({}, value)])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _naira(kobo: int) -> Decimal:
    return from_kobo(kobo) or Decimal(0)


def exposition(h: Health, facts: StoreFacts | None, mode: str, now: datetime | None = None) -> str:
    """The whole page. `mode`: the wallet BuyPower was asked about (live or sandbox)."""
    now = now or datetime.now(UTC)
    e = Exposition()
    e.add("buypower_health_status", "gauge", "Health as `buypower-tui health` says it: 1 for the status it is in",
          [({"status": s}, s == h.status) for s in STATUSES])
    e.gauge("buypower_health_problems", "Problems `buypower-tui health` lists (each makes it degraded or down)",
            len(h.problems))
    e.gauge("buypower_store_up", "1 if the store answered, 0 if it could not be opened or read",
            h.store_ok and facts is not None)
    e.gauge("buypower_api_key_present", "1 if an API key was found (environment or keyring) for this mode",
            h.key_source != "none")
    e.gauge("buypower_api_up", "1 if BuyPower answered, 0 if not; absent when it was not asked (no key)",
            None if h.api_reachable is None else h.api_reachable)
    e.gauge("buypower_api_latency_seconds", "How long BuyPower took to answer the DISCO status request",
            None if h.api_latency_ms is None else round(h.api_latency_ms / 1000, 4))
    e.add("buypower_wallet_naira", "gauge", "Wallet balance at BuyPower in naira; absent when it was not read",
          [] if h.wallet is None else [({"mode": mode}, h.wallet)])
    e.add("buypower_breaker_state", "gauge", "The circuit breaker in front of BuyPower: 1 for the state it is in",
          [({"state": s}, h.breaker.replace("-", "_") == s) for s in BREAKER_STATES])
    e.add("buypower_disco_up", "gauge", "1 if BuyPower says the DISCO takes payments, 0 if it is down",
          [({"disco": d}, 1) for d in h.discos_up] + [({"disco": d}, 0) for d in h.discos_down])
    e.gauge("buypower_metrics_timestamp_seconds", "When these figures were collected (unix time)",
            round(now.timestamp(), 3))
    if facts is None:
        return e.text()
    e.gauge("buypower_pending_rows", "Rows BuyPower has not settled yet (PENDING), requeried on a schedule", h.pending)
    e.gauge("buypower_needs_review_rows", "Rows parked for an operator to settle by hand (NEEDS_REVIEW)",
            h.needs_review)
    e.add("buypower_rows", "gauge", "Rows in the store by state, every batch and mode",
          [({"state": s}, n) for s, n in facts.rows_by_state.items()])
    e.add("buypower_paid_today_naira", "gauge", "Naira paid today (SUCCESS rows, by local day)",
          [({"mode": m}, _naira(k)) for m, k in facts.paid_today_kobo.items()])
    e.add("buypower_paid_this_month_naira", "gauge", "Naira paid this month (SUCCESS rows, by local month)",
          [({"mode": m}, _naira(k)) for m, k in facts.paid_month_kobo.items()])
    e.add("buypower_paid_naira_total", "counter", "Naira paid since the store was made (SUCCESS rows)",
          [({"mode": m}, _naira(k)) for m, k in facts.paid_total_kobo.items()])
    e.add("buypower_paid_rows_total", "counter", "Rows paid since the store was made (SUCCESS)",
          [({"mode": m}, n) for m, n in facts.paid_rows_total.items()])
    e.add("buypower_runs_total", "counter", "Runs that reached their end and recorded their reconciliation",
          [({"mode": m}, n) for m, n in facts.runs_total.items()])
    e.add("buypower_last_run_timestamp_seconds", "gauge",
          "When the last run reached its end (unix time; 0: none yet; a killed run records none)",
          [({"mode": m}, round(facts.last_run_at[m].timestamp(), 3) if m in facts.last_run_at else 0)
           for m in MODES])
    e.gauge("buypower_store_size_bytes", "Size of the store: the SQLite file and its -wal, or the PostgreSQL database",
            facts.size_bytes)
    return e.text()


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` whole: a temporary file beside it (not named *.prom, so the textfile
    collector never reads it), fsynced, then renamed over it. A reader sees the old file or the
    new one, never a part. Mode 0644: the collector runs as another user, and nothing here is secret.
    Not paths.replace_file: that one keeps files owner-only and refuses a link at the target,
    where a shared collector folder wants a readable file and the link replaced."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), 0o644)
            os.fsync(fh.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a power cut once the folder is synced
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
