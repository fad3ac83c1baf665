"""SIGKILL the real `buypower-tui run` at random moments; restart until every row is final;
then prove from the sandbox's ledger that nothing was paid twice and no token was lost.
The same proof holds when the sandbox process itself is killed and restarted on its
ledger file, as BuyPower restarts without forgetting what it paid.

The sandbox runs as its own process (it must outlive the killed client), so does every
`run`. Kill moments are seeded: a failure replays with the same seed. The key reaches the
sandbox through the environment, never argv.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from buypower_tui.core.importing import import_file
from buypower_tui.core.rules import Limits
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.engine_helpers import assert_ledger_matches_store, unsettled, write_batch

KEY = "c0ffee" * 10 + "c0de"
SEED = int(os.environ.get("CRASH_SEED", "20261126"))
FAULTS = ("--seed", "4", "--latency-ms", "40", "--jitter-ms", "20", "--requery-cooldown-s", "0", "--fail-rate",
          "0.04", "--pending-rate", "0.04", "--drop-rate", "0.02", "--delay", "0", "--pending-requeries", "1",
          "--wallet", "100000000")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(port: int, *flags: str) -> subprocess.Popen:
    """A sandbox process on `port`, answering once this returns; its key comes from the env."""
    env = dict(os.environ, BUYPOWER_SANDBOX_API_KEY=KEY)
    proc = subprocess.Popen([sys.executable, "-m", "buypower_tui.sandbox_cli", "--port", str(port), *flags],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(150):
        try:
            httpx.get(f"http://127.0.0.1:{port}/__sandbox/ledger", timeout=1)
            return proc
        except httpx.TransportError:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the sandbox did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=10)


def book(base: str) -> dict:
    return httpx.get(f"{base}/__sandbox/ledger", timeout=10).json()


def client_env(home: Path, **more: str) -> dict[str, str]:
    return dict(os.environ, BUYPOWER_SANDBOX_API_KEY=KEY, BUYPOWER_TUI_HOME=str(home),  # the sandbox key only
                BUYPOWER_REQUERY_FIRST_WAIT="0.2", BUYPOWER_REQUERY_MAX_WAIT="1", BUYPOWER_CONCURRENCY="4",
                BUYPOWER_RATE_LIMIT="0", BUYPOWER_READ_TIMEOUT="3", BUYPOWER_REQUERY_BUDGET="50", **more)


def prove(base: str, url: str | None = None) -> dict:
    """Every row final, and the ledger agrees with the store: nothing paid twice, no token lost."""
    ledger = book(base)
    store = Store.open(url or f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        assert unsettled(store, 1) == []
        assert_ledger_matches_store(ledger, store, 1)
    finally:
        store.close()
    return ledger


@pytest.fixture
def sandbox_process():
    port = free_port()
    proc = start_sandbox(port, *FAULTS)
    yield f"http://127.0.0.1:{port}/v2"
    stop(proc)


def test_sigkill_at_random_moments_never_pays_twice_nor_loses_a_token(sandbox_process, tmp_path, isolated_home,
                                                                      db_url):
    """On SQLite and on PostgreSQL (where a killed process's transaction and locks end with its
    connection, on the server's side)."""
    env = client_env(isolated_home)
    cli = [sys.executable, "-m", "buypower_tui", "--sandbox", sandbox_process, "--db", db_url]
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

    ledger = prove(sandbox_process.replace("/v2", ""), db_url)
    assert sum(v["status"] == "SUCCESS" for v in ledger["vends"]) > 250


def test_a_sandbox_killed_and_restarted_on_its_ledger_still_knows_what_it_paid(tmp_path):
    """What BuyPower does after a restart: the paid orderId is refused (409), its requery
    still has the token, a pending order goes on where it was, and the wallet is unchanged.
    A sandbox without its ledger file would pay the same orderId a second time."""
    port, ledger_file = free_port(), str(tmp_path / "ledger.db")
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
    paid = {"orderId": "paid-1", "meter": "12345678910", "disco": "ABUJA", "vendType": "PREPAID",
            "amount": 1000, "phone": "08031234567"}
    pending = paid | {"orderId": "pending-1", "meter": "55500000001"}
    proc = start_sandbox(port, "--seed", "1", "--requery-cooldown-s", "0", "--ledger", ledger_file)
    try:
        token = httpx.post(f"{base}/v2/vend", json=paid, headers=auth).json()["data"]["token"]
        assert httpx.post(f"{base}/v2/vend", json=pending, headers=auth).status_code == 202
        assert httpx.get(f"{base}/v2/transaction/pending-1", headers=auth).json()["result"]["responseCode"] == 201
        before = book(base)
    finally:
        proc.kill()  # SIGKILL: nothing is flushed or closed on the way out
        proc.wait()
    proc = start_sandbox(port, "--seed", "1", "--requery-cooldown-s", "0", "--ledger", ledger_file)
    try:
        r = httpx.post(f"{base}/v2/vend", json=paid, headers=auth)
        assert (r.status_code, r.json()["message"]) == (409, "Request already received")
        r = httpx.get(f"{base}/v2/transaction/paid-1", headers=auth)
        assert r.status_code == 200 and r.json()["result"]["data"]["token"].replace("-", "") == token.replace("-", "")
        r = httpx.get(f"{base}/v2/transaction/pending-1", headers=auth)  # its second pending answer...
        assert r.json()["result"]["responseCode"] == 201
        assert httpx.get(f"{base}/v2/transaction/pending-1", headers=auth).status_code == 200  # ...then paid
        after = book(base)
        assert after["wallet"] == before["wallet"] == "998000.00"
        assert [v["orderId"] for v in after["vends"]] == ["paid-1", "pending-1"] and after["posts"]["paid-1"] == 2
    finally:
        stop(proc)


def test_sandbox_sigkilled_mid_run_and_restarted_on_its_ledger_never_pays_twice(tmp_path, isolated_home):
    port, ledger_file = free_port(), str(tmp_path / "ledger.db")
    base = f"http://127.0.0.1:{port}"
    faults = (*FAULTS, "--latency-ms", "10", "--jitter-ms", "5", "--ledger", ledger_file)
    sandbox = start_sandbox(port, *faults)
    env = client_env(isolated_home, BUYPOWER_BREAKER_COOLDOWN="1")  # BuyPower is back within a second
    cli = [sys.executable, "-m", "buypower_tui", "--sandbox", f"{base}/v2"]
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")  # in process: a CLI import costs seconds
    try:
        import_file(write_batch(tmp_path / "batch.csv", 40, seed=SEED), store, Limits(), mode="sandbox")
    finally:
        store.close()
    errors = tmp_path / "run-stderr.txt"

    def run() -> subprocess.Popen:
        with errors.open("a") as err:
            return subprocess.Popen([*cli, "run", "1", "--yes", "--wait-pending", "20"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)

    client, kills = run(), 0
    try:
        for at_least in sorted(random.Random(SEED).sample(range(3, 36), 3)):  # kill BuyPower while the run pays
            seen = 0
            while seen < at_least and client.poll() is None:
                seen = len(book(base)["vends"])
                time.sleep(0.02)
            if client.poll() is not None:
                break
            sandbox.kill()  # SIGKILL: answers in flight are lost, orders already committed are not
            sandbox.wait()
            kills += 1
            sandbox = start_sandbox(port, *faults)
            assert len(book(base)["vends"]) >= seen  # nothing it had paid is forgotten
        for _attempt in range(5):  # a run may end with rows pending; the next one settles them
            client.wait(timeout=90)
            if client.returncode in (0, 1):
                break
            client = run()
        stderr = errors.read_text()
        assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
        assert (kills, client.returncode in (0, 1)) == (3, True), (kills, client.returncode, stderr[-2000:])
        ledger = prove(base)
        assert sum(v["status"] == "SUCCESS" for v in ledger["vends"]) > 30
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        stop(sandbox)
