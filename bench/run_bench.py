"""The engine end to end: a 1,000-row batch against the sandbox (its own process) at 50 ms
latency, concurrency 8, rate limit off. The send phase (approve + run) is compared with the
issue's bound 1000 x 0.050 / 8 = 6.25 s. The whole thing (import, a meter lookup per row,
then the vends) makes two calls per row, so it is compared with twice that bound.

--db: `sqlite` (default: a file in a temporary folder), `postgresql` (a throw-away server of
its own, tests/postgres.py), or a postgresql+psycopg:// URL: a database of its own is created
in that server and dropped afterwards (a schema of its own, dropped after, if the role may not
create databases), so nothing is left behind.

--processes N: N OS processes, each with its own Store on the same database, its own
1,000-row batch (its own meters) and its own client at --concurrency, against one shared
sandbox. They import together, and start the send phase at the same moment (a barrier);
each one's send phase is compared with the same bound (each has its own concurrency, so
alone it could reach it). Target: <= 1.15x the bound for one process, <= 1.25x for each of
two (issue 15 §5). The processes drive the engine (core) directly; on PostgreSQL each takes its
batch's money lock and the approval lock as a run does, and the run asks the lock before each
row (SQLite's lock is one per store, which would make two processes take turns: none there).

Shared, so not only the engine is measured: the sandbox is ONE Python process (a
ThreadingHTTPServer under one GIL) serving every process's requests, N x concurrency in
flight, and every process, the sandbox and the PostgreSQL server share this machine's cores.
`cpu` in the figures says how busy the cores were during the send phase and how much of a core
the sandbox, the PostgreSQL server and the clients each used, so a miss can be put where it
belongs (a sandbox near one core, or the cores near full, is the bench's limit, not the
engine's).

Afterwards the proof: every row of every batch SUCCESS, no orderId twice (in the store, across
the batches, and in the sandbox's ledger), each order POSTed once, the ledger's vends equal to
the stored rows (token, meter, amount), and the wallet moved by exactly what was paid.
The exit code is 1 if that proof fails.

Last line: one JSON object. Usage:
  python bench/run_bench.py [--rows N] [--db sqlite|postgresql|URL] [--processes N] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.run_bench_support import cpu_between, cpu_sample, database, postgres_pids, sandbox, verify  # noqa: E402
from buypower_tui.core import rows  # noqa: E402
from buypower_tui.core.client import BuyPowerClient  # noqa: E402
from buypower_tui.core.importing import import_file  # noqa: E402
from buypower_tui.core.lookup import lookup_batch  # noqa: E402
from buypower_tui.core.models import utcnow  # noqa: E402
from buypower_tui.core.preflight import preflight  # noqa: E402
from buypower_tui.core.rules import Limits  # noqa: E402
from buypower_tui.core.store import Store  # noqa: E402
from buypower_tui.core.vending import Runner, RunOptions  # noqa: E402
from tests.engine_helpers import write_batch  # noqa: E402

BARRIER_TIMEOUT_S = 600
TARGETS = {1: 1.15, 2: 1.25}  # issue 15 §5: one process; each of two at once (and of more)


async def bench(db_url: str, url: str, key: str, n: int, concurrency: int, tmp: Path, seed: int,
                barrier: Any, profile: Path | None) -> dict:
    store = Store.open(db_url)
    store.operator  # noqa: B018 - read once (a query on PostgreSQL), not inside the timed phases
    await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT_S)  # every process imports at once
    t0 = time.perf_counter()
    batch = import_file(write_batch(tmp / f"batch-{seed}.csv", n, seed=seed), store, Limits(),
                        mode="sandbox").batch_id
    t_import = time.perf_counter() - t0
    async with BuyPowerClient(url, SecretStr(key), concurrency=concurrency, rate_limit=0) as client:
        t0 = time.perf_counter()
        await lookup_batch(store, client, batch)
        t_lookup = time.perf_counter() - t0
        read_at = utcnow()  # the wallet's first read: the other processes' rows paid since count (team mode)
        plan = preflight(store, batch, await client.wallet_balance(), 7)
        if len(plan.send) != n:
            raise RuntimeError(f"the plan sends {len(plan.send)} of {n} rows: {store.stats(batch).by_state}")
        await asyncio.to_thread(barrier.wait, BARRIER_TIMEOUT_S)  # the send phase starts at one moment
        profiler = None
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.monotonic()
        t0, c0 = time.perf_counter(), time.process_time()
        # the batch's money lock, as a run takes it (PostgreSQL: per batch, so the processes pay at
        # once; SQLite: one per store, so each process takes a lock file of its own here, or they
        # would take turns), and the run asks it before each row
        lock = store.money_lock(Path(tmp) / f"lock-{seed}") if store.engine.dialect.name == "postgresql" else None
        with lock or contextlib.nullcontext():
            if lock is not None:
                lock.claim(batch)
            with store.approval():
                rows.approve(store, plan.send)
            t_approve = time.perf_counter() - t0
            result = await Runner(store, client, batch, RunOptions(concurrency=concurrency),
                                  lock_held=lock.held if lock else None).run(plan.balance, read_at)
        t_send, cpu_send = time.perf_counter() - t0, time.process_time() - c0
        ended = time.monotonic()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile / f"process-{seed}.prof"))
    counts = store.stats(batch).by_state
    store.close()
    return {"batch": batch, "import_s": t_import, "lookup_s": t_lookup, "send_s": t_send, "cpu_send_s": cpu_send,
            "approve_s": t_approve, "counts": counts, "started": started, "ended": ended,
            "reconciled": result.reconciliation is None, "pid": os.getpid()}


def worker(index: int, db_url: str, url: str, key: str, n: int, concurrency: int, tmp: str, barrier: Any,
           results: Any, profile: str | None) -> None:
    """One paying process (spawned: a fresh interpreter, no engine or thread inherited)."""
    try:
        r = asyncio.run(bench(db_url, url, key, n, concurrency, Path(tmp), 5 + index, barrier,
                              Path(profile) if profile else None))
        results.put((index, r))
    except BaseException:  # noqa: BLE001 - told to the parent, which stops the others
        barrier.abort()
        results.put((index, {"error": traceback.format_exc()}))


class Sampler:
    """CPU samples every 0.1 s while the processes run, to read the send phase's window from."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids, self.samples, self._stop = pids, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), cpu_sample(self.pids)))
            self._stop.wait(0.1)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, start: float, end: float) -> dict:
        first = max((s for s in self.samples if s[0] <= start), default=self.samples[0], key=lambda s: s[0])
        last = min((s for s in self.samples if s[0] >= end), default=self.samples[-1], key=lambda s: s[0])
        return cpu_between(first[1], last[1], last[0] - first[0])


def run_all(args: argparse.Namespace, tmp: Path) -> tuple[dict, list[dict], dict, dict]:
    with sandbox(args.latency_ms) as sb, database(args.db, tmp) as db:
        Store.open(db.url).close()  # the schema made once, before the processes open it
        wallet_before = Decimal(str(sb.ledger()["wallet"]))
        ctx = mp.get_context("spawn")
        barrier, results = ctx.Barrier(args.processes), ctx.Queue()
        procs = [ctx.Process(target=worker, args=(i, db.url, sb.url, sb.key, args.rows, args.concurrency, str(tmp),
                                                  barrier, results, args.profile), daemon=True)
                 for i in range(args.processes)]
        for p in procs:
            p.start()
        pids = {"sandbox": [sb.pid], "clients": [p.pid for p in procs]}
        if db.server_port is not None:
            pids["postgres"] = postgres_pids(db.server_port)
        got: dict[int, dict] = {}
        deadline = time.monotonic() + 2 * BARRIER_TIMEOUT_S
        with Sampler(pids) as sampler:
            while len(got) < len(procs):
                try:
                    index, r = results.get(timeout=1)
                except queue.Empty:
                    dead = [i for i, p in enumerate(procs) if i not in got and p.exitcode not in (None, 0)]
                    if dead or time.monotonic() > deadline:  # killed, or hung: no answer will come
                        barrier.abort()
                        for i in dead:
                            got[i] = {"error": f"process {i + 1} died (exit code {procs[i].exitcode})"}
                        if time.monotonic() > deadline:
                            raise SystemExit("the paying processes did not finish in time") from None
                    continue
                got[index] = r
                if "error" in r:
                    barrier.abort()
        for p in procs:
            p.join(timeout=60)
        errors = [r["error"] for r in got.values() if "error" in r]
        if errors:
            raise SystemExit("a paying process failed:\n" + "\n".join(errors))
        per = [got[i] for i in range(len(procs))]
        cpu = sampler.window(min(r["started"] for r in per), max(r["ended"] for r in per))
        checks = verify(db.url, [r["batch"] for r in per], sb.ledger(), wallet_before)
        return {"label": db.label, "kind": db.kind}, per, cpu, checks


def figures(args: argparse.Namespace, db: dict, per: list[dict], cpu: dict, checks: dict) -> dict:
    n = args.rows
    bound = n * args.latency_ms / 1000 / args.concurrency
    sends = [r["send_s"] for r in per]
    ends = [r["import_s"] + r["lookup_s"] + r["send_s"] for r in per]
    worst = max(range(len(per)), key=lambda i: sends[i])
    target = TARGETS.get(args.processes, TARGETS[2])
    reconciled = all(r["reconciled"] for r in per) if len(per) == 1 else checks["wallet_moved_by_paid"]
    out = {"rows": n, "concurrency": args.concurrency, "latency_ms": args.latency_ms,
           # one process: its figures, as before; several: the slowest one's (max), and success summed
           "send_wall_s": round(sends[worst], 2), "bound_s": round(bound, 2),
           "ratio_to_bound": round(sends[worst] / bound, 3), "lookup_wall_s": round(max(r["lookup_s"] for r in per), 2),
           "end_to_end_wall_s": round(max(ends), 2), "end_to_end_ratio_to_2x_bound": round(max(ends) / (2 * bound), 3),
           "import_wall_s": round(max(r["import_s"] for r in per), 2),
           "approve_wall_s": round(max(r["approve_s"] for r in per), 2),
           "send_cpu_ms_per_row": round(statistics.mean(r["cpu_send_s"] for r in per) * 1000 / n, 2),
           "success": sum(r["counts"].get("SUCCESS", 0) for r in per),
           "wallet_reconciled": reconciled,
           "db": db["label"], "processes": args.processes,
           "per_process_send_s": [round(s, 2) for s in sends],
           "send_vs_bound": round(max(sends) / bound, 3),
           "per_process_vs_bound": [round(s / bound, 3) for s in sends],
           "per_process_lookup_s": [round(r["lookup_s"], 2) for r in per],
           "per_process_end_to_end_s": [round(e, 2) for e in ends],
           "per_process_cpu_ms_per_row": [round(r["cpu_send_s"] * 1000 / n, 2) for r in per],
           # each runner compares the wallet with what it paid: with several, the others' payments move it too
           "per_process_runner_reconciled": [r["reconciled"] for r in per],
           "send_start_skew_s": round(max(r["started"] for r in per) - min(r["started"] for r in per), 3),
           "send_overlap_s": round(max(0.0, min(r["ended"] for r in per) - max(r["started"] for r in per)), 2),
           "cpu": cpu, "loadavg_before": args.loadavg,
           "verified": checks,
           "target": {"ratio_to_bound" if args.processes == 1 else "per_process_vs_bound": target},
           "meets_target": max(sends) / bound <= target}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--db", default="sqlite", help="sqlite (default), postgresql (a throw-away server), "
                                                       "or a postgresql+psycopg:// URL (a database of its own in it)")
    parser.add_argument("--processes", type=int, default=1, help="paying processes at once (default 1)")
    parser.add_argument("--profile", metavar="DIR", help="write a cProfile of each process's send phase there "
                                                         "(its event loop's thread only, not the store thread)")
    args = parser.parse_args()
    if args.processes < 1 or args.rows < 1:
        parser.error("--processes and --rows must be at least 1")
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        args.profile = str(Path(args.profile).resolve())
    args.loadavg = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="buypower-run-bench-") as tmp:
        db, per, cpu, checks = run_all(args, Path(tmp))
    out = figures(args, db, per, cpu, checks)
    for i, r in enumerate(per):
        print(f"process {i + 1}/{len(per)}: {args.rows} rows sent in {r['send_s']:.2f} s against a "
              f"{out['bound_s']:.2f} s bound ({out['per_process_vs_bound'][i]:.2f}x); lookup {r['lookup_s']:.2f} s",
              file=sys.stderr)
    print(f"{db['label']}: cores {cpu['machine_busy_share']:.0%} busy during the send phase, sandbox "
          f"{cpu.get('sandbox_cores_used')} cores, postgres {cpu.get('postgres_cores_used', '-')}; "
          f"proof {'ok' if checks['ok'] else 'FAILED'}", file=sys.stderr)
    sys.stderr.flush()
    print(json.dumps(out), flush=True)
    if not checks["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
