"""Client throughput: 2,000 vends at concurrency 8 against the sandbox with 50 ms latency.

The sandbox runs as its own process, so this process's CPU time is the client's alone.
With the rate limit off, the bound is concurrency / latency (8 / 0.050 s = 160 vends/s).
Prints vends/s, the bound, the ratio and the client's CPU milliseconds per vend; the last
line is one JSON object. Usage: python bench/client_bench.py [--vends N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import httpx
from pydantic import SecretStr

from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.outcomes import Outcome


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sandbox_process(latency_ms: float) -> Iterator[tuple[str, str]]:
    """The sandbox in its own process (so this process's CPU time is the client's alone);
    yields its base URL and key, and stops it afterwards."""
    port, key = free_port(), secrets.token_hex(32)
    proc = _start_sandbox(port, key, latency_ms)
    try:
        yield f"http://127.0.0.1:{port}/v2", key
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _start_sandbox(port: int, key: str, latency_ms: float) -> subprocess.Popen:
    proc = subprocess.Popen(  # the key goes by the environment: argv shows in `ps`
        [sys.executable, "-m", "buypower_tui.sandbox_cli", "--port", str(port), "--seed", "1",
         "--latency-ms", str(latency_ms), "--wallet", "1000000000"],
        env=dict(os.environ, BUYPOWER_SANDBOX_API_KEY=key), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/__sandbox/ledger", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox did not start")


async def run(url: str, key: str, vends: int, concurrency: int) -> dict:
    meters = ["04271892301", "62010000001", "12345678910"]  # fixture meters that always succeed
    client = BuyPowerClient(url, SecretStr(key), concurrency=concurrency, rate_limit=0, read_timeout=30)
    outcomes: dict[str, int] = {}

    async def one(i: int) -> None:
        r = await client.vend(str(uuid.uuid4()), meters[i % len(meters)], ["IKEJA", "EKO", "ABUJA"][i % 3],
                              Decimal(1000), "08031234567")
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1

    async with client:
        await asyncio.gather(*(one(i) for i in range(min(concurrency, vends))))  # warm the connections
        outcomes.clear()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(vends)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall_s": wall, "cpu_s": cpu, "outcomes": outcomes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vends", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    with sandbox_process(args.latency_ms) as (url, key):
        result = asyncio.run(run(url, key, args.vends, args.concurrency))
    rate = args.vends / result["wall_s"]
    bound = args.concurrency / (args.latency_ms / 1000)
    figures = {
        "vends": args.vends, "concurrency": args.concurrency, "latency_ms": args.latency_ms,
        "wall_s": round(result["wall_s"], 2), "vends_per_s": round(rate, 1), "bound_per_s": round(bound, 1),
        "ratio_to_bound": round(rate / bound, 3),
        "client_cpu_ms_per_vend": round(result["cpu_s"] * 1000 / args.vends, 3),
        "successes": result["outcomes"].get(Outcome.SUCCESS, 0),
        "target": {"ratio_to_bound": 0.9, "client_cpu_ms_per_vend": 2.0},
    }
    print(f"{args.vends} vends in {result['wall_s']:.1f} s: {rate:.0f}/s of a {bound:.0f}/s bound "
          f"({rate / bound:.0%}); client CPU {figures['client_cpu_ms_per_vend']} ms per vend", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
