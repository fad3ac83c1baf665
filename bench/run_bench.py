"""The engine end to end: a 1,000-row batch against the sandbox (its own process) at 50 ms
latency, concurrency 8, rate limit off. The send phase (approve + run) is compared with the
issue's bound 1000 x 0.050 / 8 = 6.25 s. The whole thing (import, a meter lookup per row,
then the vends) makes two calls per row, so it is compared with twice that bound.
Last line: one JSON object. Usage: python bench/run_bench.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.client_bench import sandbox_process  # noqa: E402
from buypower_tui.core import rows  # noqa: E402
from buypower_tui.core.client import BuyPowerClient  # noqa: E402
from buypower_tui.core.importing import import_file  # noqa: E402
from buypower_tui.core.lookup import lookup_batch  # noqa: E402
from buypower_tui.core.preflight import preflight  # noqa: E402
from buypower_tui.core.rules import Limits  # noqa: E402
from buypower_tui.core.store import Store  # noqa: E402
from buypower_tui.core.vending import Runner, RunOptions  # noqa: E402
from tests.engine_helpers import write_batch  # noqa: E402


async def bench(url: str, key: str, n: int, concurrency: int, tmp: Path) -> dict:
    store = Store.open(f"sqlite:///{tmp / 'bench.db'}")
    t0 = time.perf_counter()
    batch = import_file(write_batch(tmp / "batch.csv", n, seed=5), store, Limits(), mode="sandbox").batch_id
    t_import = time.perf_counter() - t0
    async with BuyPowerClient(url, SecretStr(key), concurrency=concurrency, rate_limit=0) as client:
        t0 = time.perf_counter()
        await lookup_batch(store, client, batch)
        t_lookup = time.perf_counter() - t0
        plan = preflight(store, batch, await client.wallet_balance(), 7)
        t0, c0 = time.perf_counter(), time.process_time()
        rows.approve(store, plan.send)
        t_approve = time.perf_counter() - t0
        result = await Runner(store, client, batch, RunOptions(concurrency=concurrency)).run(plan.balance)
        t_send, cpu_send = time.perf_counter() - t0, time.process_time() - c0
    counts = store.stats(batch).by_state
    store.close()
    return {"import_s": t_import, "lookup_s": t_lookup, "send_s": t_send, "cpu_send_s": cpu_send,
            "approve_s": t_approve, "counts": counts,
            "reconciled": result.reconciliation is None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    with sandbox_process(args.latency_ms) as (url, key), tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(bench(url, key, args.rows, args.concurrency, Path(tmp)))
    bound = args.rows * args.latency_ms / 1000 / args.concurrency
    figures = {"rows": args.rows, "concurrency": args.concurrency, "latency_ms": args.latency_ms,
               "send_wall_s": round(r["send_s"], 2), "bound_s": round(bound, 2),
               "ratio_to_bound": round(r["send_s"] / bound, 3), "lookup_wall_s": round(r["lookup_s"], 2),
               "end_to_end_wall_s": round(r["import_s"] + r["lookup_s"] + r["send_s"], 2),
               "end_to_end_ratio_to_2x_bound": round((r["import_s"] + r["lookup_s"] + r["send_s"]) / (2 * bound), 3),
               "import_wall_s": round(r["import_s"], 2), "approve_wall_s": round(r["approve_s"], 2),
               "send_cpu_ms_per_row": round(r["cpu_send_s"] * 1000 / args.rows, 2),
               "success": r["counts"].get("SUCCESS", 0),
               "wallet_reconciled": r["reconciled"], "target": {"ratio_to_bound": 1.15}}
    print(f"{args.rows} rows: sent in {r['send_s']:.2f} s against a {bound:.2f} s bound "
          f"({r['send_s'] / bound:.2f}x); lookup {r['lookup_s']:.2f} s", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
