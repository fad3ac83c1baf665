"""What bench/run_bench.py needs around the run itself: the database to run on (a SQLite file,
a throw-away PostgreSQL server, or a fresh database in a server given by URL, dropped after),
the sandbox with its pid, CPU figures read from /proc, and the proof that the batches were
paid exactly once (the sandbox's ledger against the store).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bench.client_bench import _start_sandbox, free_port
from buypower_tui.core.models import RowState
from buypower_tui.core.store import Store, safe_url

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Database:
    url: str  # with its password: handed to the worker processes, never printed
    label: str  # what the figures say: sqlite, postgresql (throw-away server), or the URL without password
    kind: str  # sqlite | postgresql
    server_port: int | None = None  # a PostgreSQL server on this machine: its CPU is counted


@contextmanager
def database(spec: str, tmp: Path) -> Iterator[Database]:
    """`sqlite` (a file in `tmp`), `postgresql` (a throw-away server of its own), or a
    postgresql+psycopg:// URL, in which a database of its own is created and dropped after
    (a schema of its own, dropped after, when the role may not create databases)."""
    if spec == "sqlite":
        yield Database(f"sqlite:///{tmp / 'bench.db'}", "sqlite", "sqlite")
        return
    if spec == "postgresql":
        from tests.postgres import available, server

        if not available():
            raise SystemExit("--db postgresql: no initdb/pg_ctl found (install PostgreSQL, or give a URL)")
        with server() as url:
            yield Database(url, "postgresql (throw-away server)", "postgresql", make_url(url).port)
        return
    parsed = make_url(spec)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(f"--db: sqlite, postgresql or a postgresql+psycopg:// URL, not {safe_url(spec)}")
    local = parsed.host in (None, "", "127.0.0.1", "localhost", "::1")
    port = (parsed.port or 5432) if local else None
    with _fresh_database(spec) as (url, where):
        yield Database(url, f"{safe_url(spec)} ({where})", "postgresql", port)


@contextmanager
def _fresh_database(url: str) -> Iterator[tuple[str, str]]:
    name = f"buypower_bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except SQLAlchemyError:  # no CREATEDB: a schema of its own in the database the URL names
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
            try:
                yield make_url(url).update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(
                    hide_password=False), f"schema {name}, dropped after"
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            return
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False), \
                f"database {name}, dropped after"
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@dataclass
class Sandbox:
    url: str
    key: str
    pid: int

    @property
    def ledger_url(self) -> str:
        return self.url.removesuffix("/v2") + "/__sandbox/ledger"

    def ledger(self) -> dict:
        return httpx.get(self.ledger_url, timeout=60).json()


@contextmanager
def sandbox(latency_ms: float) -> Iterator[Sandbox]:
    """As client_bench.sandbox_process, with the pid (its CPU time is read from /proc)."""
    port, key = free_port(), secrets.token_hex(32)
    proc = _start_sandbox(port, key, latency_ms)
    try:
        yield Sandbox(f"http://127.0.0.1:{port}/v2", key, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- CPU from /proc ---------------------------------------------------------------------------

def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return total - idle, total


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), its children that ended (as
    PostgreSQL's backends do) and its live children; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            after_name = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        return 0.0
    own = sum(int(after_name[i]) for i in (11, 12, 13, 14)) / TICK  # utime stime cutime cstime
    return own + sum(process_cpu_s(c) for c in children)


def postgres_pids(port: int | None) -> list[int]:
    """The postmaster listening on `port` on this machine (its backends are counted as its children)."""
    if port is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                if argv[0].endswith("postgres") and f" -p {port} " in f" {' '.join(argv)} ":
                    found.append(int(entry.name))
    return found


def cpu_sample(pids: dict[str, list[int]]) -> dict:
    """A point to measure from: the machine's ticks and each named group's CPU seconds."""
    busy, total = machine_jiffies()
    return {"busy": busy, "total": total, **{name: sum(process_cpu_s(p) for p in group)
                                              for name, group in pids.items()}}


def cpu_between(first: dict, last: dict, wall_s: float) -> dict:
    """Between two samples: how busy the machine's cores were (1.0 = every core, all the time)
    and each group's CPU seconds."""
    total = last["total"] - first["total"]
    out = {"machine_busy_share": round((last["busy"] - first["busy"]) / total, 3) if total else None,
           "cores": os.cpu_count()}
    for name in first.keys() - {"busy", "total"}:
        out[f"{name}_cpu_s"] = round(last[name] - first[name], 2)
        out[f"{name}_cores_used"] = round((last[name] - first[name]) / wall_s, 2) if wall_s else None
    if total and wall_s:  # what else ran meanwhile (other people's jobs on a shared machine, this bench's parent)
        ours = sum(last[name] - first[name] for name in first.keys() - {"busy", "total"})
        used = (last["busy"] - first["busy"]) / total * (os.cpu_count() or 1)
        out["others_cores_used"] = round(max(0.0, used - ours / wall_s), 2)
    return out


# -- the proof ----------------------------------------------------------------------------------

def verify(url: str, batch_ids: list[int], ledger: dict, wallet_before: Decimal) -> dict:
    """Every row of every batch SUCCESS; no orderId in two rows (across the batches too); the
    ledger paid each once, with the token the store holds, and nothing else; the wallet moved
    by what the batches paid."""
    store = Store.open(url)
    try:
        stored = [r for b in batch_ids for r in store.rows(b)]
    finally:
        store.close()
    order_ids = [r.order_id for r in stored]
    vends = ledger["vends"]
    by_order = {v["orderId"]: v for v in vends}
    paid = [v for v in vends if v["status"] != "FAILED"]
    ours = {r.order_id: r for r in stored}
    mismatched = [r.row_number for r in stored
                  if r.order_id not in by_order or by_order[r.order_id]["status"] != "SUCCESS"
                  or by_order[r.order_id]["token"] != r.token or by_order[r.order_id]["meter"] != r.meter
                  or Decimal(by_order[r.order_id]["amount"]) != r.amount]
    total = sum((r.amount for r in stored if r.state == RowState.SUCCESS), Decimal(0))
    checks = {
        "rows": len(stored),
        "all_success": all(r.state == RowState.SUCCESS for r in stored),
        "order_ids_unique_in_store": len(set(order_ids)) == len(order_ids) and None not in order_ids,
        "order_ids_unique_in_ledger": len(by_order) == len(vends),
        "posts_once_each": all(ledger["posts"].get(o, 0) == 1 for o in ours),
        "ledger_has_nothing_else": all(v["orderId"] in ours for v in paid),
        "ledger_matches_store": not mismatched,
        "wallet_moved_by_paid": wallet_before - Decimal(str(ledger["wallet"])) == total,
    }
    checks["ok"] = all(v for k, v in checks.items() if k != "rows")
    if mismatched:
        checks["mismatched_rows"] = mismatched[:10]
    return checks
