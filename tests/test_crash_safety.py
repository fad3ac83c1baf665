"""SIGKILL the real `buypower-tui run` at random moments; restart until every row is final;
then prove from the sandbox's ledger that nothing was paid twice and no token was lost.

The sandbox runs as its own process (it must outlive the killed client), so does every
`run`. Kill moments are seeded: a failure replays with the same seed.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.engine_helpers import assert_ledger_matches_store, unsettled, write_batch

KEY = "c0ffee" * 10 + "c0de"
SEED = int(os.environ.get("CRASH_SEED", "20261126"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sandbox_process():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "buypower_tui.sandbox_cli", "--port", str(port), "--seed", "4",
         "--latency-ms", "40", "--jitter-ms", "20", "--requery-cooldown-s", "0", "--fail-rate", "0.04",
         "--pending-rate", "0.04", "--drop-rate", "0.02", "--delay", "0", "--pending-requeries", "1",
         "--wallet", "100000000"],
        env=dict(os.environ, BUYPOWER_SANDBOX_API_KEY=KEY),  # never argv: `ps` shows it
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{base}/__sandbox/ledger", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield f"{base}/v2"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)


def test_sigkill_at_random_moments_never_pays_twice_nor_loses_a_token(sandbox_process, tmp_path, isolated_home):
    env = dict(os.environ, BUYPOWER_SANDBOX_API_KEY=KEY, BUYPOWER_TUI_HOME=str(isolated_home),
               BUYPOWER_REQUERY_FIRST_WAIT="0.2", BUYPOWER_REQUERY_MAX_WAIT="1", BUYPOWER_CONCURRENCY="4",
               BUYPOWER_RATE_LIMIT="0", BUYPOWER_READ_TIMEOUT="3", BUYPOWER_REQUERY_BUDGET="50")
    cli = [sys.executable, "-m", "buypower_tui", "--sandbox", sandbox_process]
    sheet = write_batch(tmp_path / "batch.csv", 300, seed=SEED)
    subprocess.run([*cli, "import", str(sheet)], env=env, check=True, capture_output=True, timeout=60)
    run = [*cli, "run", "1", "--yes", "--wait-pending", "30"]

    rnd = random.Random(SEED)
    kills, finished = 0, False
    for _attempt in range(60):
        proc = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < 20:
            try:
                proc.wait(timeout=rnd.uniform(0.5, 2.0))
            except subprocess.TimeoutExpired:
                proc.kill()  # SIGKILL: no handler runs, no transaction is finished for us
                proc.wait()
                kills += 1
                continue
        else:
            proc.wait(timeout=90)
        stderr = proc.stderr.read().decode()
        assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
        if proc.returncode in (0, 1):  # every row final (1: some FAILED, as the sandbox decided)
            finished = True
            if kills >= 20:
                break
    assert finished and kills >= 20, (finished, kills)

    ledger = httpx.get(sandbox_process.replace("/v2", "/__sandbox/ledger"), timeout=10).json()
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        assert unsettled(store, 1) == []
        assert_ledger_matches_store(ledger, store, 1)
        assert sum(v["status"] == "SUCCESS" for v in ledger["vends"]) > 250
    finally:
        store.close()
