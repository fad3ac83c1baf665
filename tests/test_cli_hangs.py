"""`run` and `health` against a BuyPower that hangs (issue 10, points 11 and 14), as real processes:
Ctrl+C still stops a run whose request hangs (the row is PENDING at the request's deadline, or at
once on a second Ctrl+C), the run exits 130, and `health` answers in bounded time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from buypower_tui.cli import main
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.hostile_server import DRIP, HostileServer

GUARD = 60  # seconds: only so that a process that hangs fails the test instead of hanging it


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=11, requery_cooldown_s=0)) as server:
        for var in ("BUYPOWER_API_KEY", "BUYPOWER_SANDBOX_API_KEY"):  # the sandbox's key, before and after point 5
            monkeypatch.setenv(var, server.key)
        yield server


def env_for(sandbox: SandboxServer, home, **settings: str) -> dict[str, str]:
    return dict(os.environ, BUYPOWER_API_KEY=sandbox.key, BUYPOWER_SANDBOX_API_KEY=sandbox.key,
                BUYPOWER_TUI_HOME=str(home), BUYPOWER_RATE_LIMIT="0", BUYPOWER_CONNECT_TIMEOUT="1", **settings)


def start_run(sandbox, proxy, tmp_path, home, **settings: str) -> subprocess.Popen:
    """Import one row, start `run` in its own process, return once its vend hangs at the proxy."""
    sheet = tmp_path / "one.csv"
    sheet.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n")
    assert main(["--sandbox", proxy.url, "import", str(sheet)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "buypower_tui", "--sandbox", proxy.url, "run", "1", "--yes"],
                            env=env_for(sandbox, home, **settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + GUARD
    while "POST /v2/vend" not in proxy.hits and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    return proc


def the_row():
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        (row,) = list(store.rows(1))
        return row
    finally:
        store.close()


def test_ctrl_c_while_the_vend_hangs_stops_at_its_deadline_with_the_row_pending(sandbox, tmp_path, isolated_home):
    with HostileServer(sandbox.url, vend=DRIP, interval=0.3) as proxy:  # everything else: the real sandbox
        proc = start_run(sandbox, proxy, tmp_path, isolated_home, BUYPOWER_READ_TIMEOUT="1")  # deadline 3 s
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 130, err
    assert "stopping after the rows in flight" in err and "stopped after the rows in flight" in out
    row = the_row()
    assert row.state == "PENDING" and "DeadlineExceeded" in row.provider_message
    assert proxy.hits.count("POST /v2/vend") == 1 and sandbox.ledger.vends() == []


def test_a_second_ctrl_c_cuts_the_hung_vend_at_once_and_the_row_stays_pending(sandbox, tmp_path, isolated_home):
    with HostileServer(sandbox.url, vend=DRIP, interval=0.3) as proxy:
        proc = start_run(sandbox, proxy, tmp_path, isolated_home, BUYPOWER_READ_TIMEOUT="600")  # deadline ~11 min
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 130, err
    assert "cutting the requests in flight" in err and "requeried" in err
    row = the_row()
    assert row.state == "PENDING" and "RequestCut" in row.provider_message  # never NOT_SENT: it may have arrived
    assert proxy.hits.count("POST /v2/vend") == 1


def test_health_answers_in_bounded_time_when_buypower_hangs(sandbox, isolated_home):
    with HostileServer(vend=DRIP, reads=DRIP, interval=0.3) as proxy:
        done = subprocess.run([sys.executable, "-m", "buypower_tui", "--sandbox", proxy.url, "health", "--json"],
                              env=env_for(sandbox, isolated_home, BUYPOWER_READ_TIMEOUT="1"), capture_output=True,
                              text=True, timeout=GUARD)
    health = json.loads(done.stdout)
    assert done.returncode == 2 and health["status"] == "down" and health["api_reachable"] is False
    assert any("no answer within" in p for p in health["problems"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_the_plan_is_checked_again_approves_nothing_and_exits_130(sandbox, tmp_path, isolated_home,
                                                                                sig):
    """Issue 12 review: after VEND (here --yes) the plan is checked again with a fresh wallet
    read. A Ctrl+C or SIGTERM then ends the check: no row is approved (they stay editable),
    nothing is paid, and the command does not go on to plan again."""
    sheet = tmp_path / "two.csv"
    sheet.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n"
                     "04271892302,IKEJA,1500,08031234567\n")
    with HostileServer(sandbox.url) as proxy:
        assert main(["--sandbox", proxy.url, "import", str(sheet)]) == 0
        proc = subprocess.Popen([sys.executable, "-m", "buypower_tui", "--sandbox", proxy.url, "run", "1", "--yes"],
                                env=env_for(sandbox, isolated_home, BUYPOWER_READ_TIMEOUT="600"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + GUARD
        while "GET /v2/wallet/balance" not in proxy.hits and time.monotonic() < deadline:
            time.sleep(0.01)
        proxy.reads = DRIP  # the plan's read was answered; the check's read (after VEND) hangs
        while proxy.hits.count("GET /v2/wallet/balance") < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 130, err
    assert "nothing was paid" in err and "Checking again" not in err
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        assert {r.state for r in store.rows(1)} == {"VERIFIED"} and all(r.order_id is None for r in store.rows(1))
    finally:
        store.close()
    assert "POST /v2/vend" not in proxy.hits and sandbox.ledger.vends() == []
