"""Two workstations (separate homes, separate processes) share one PostgreSQL store and one
sandbox BuyPower: they pay two batches at once, both try a third at the same moment, and one
of them is SIGKILLed mid-run. The sandbox's ledger is the proof: no orderId and no meter
paid twice, every token paid for stored; and the survivor's recovery leaves the other's rows
alone for as long as the other holds their batch."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from buypower_tui.core.store import Store
from tests.engine_helpers import assert_ledger_matches_store, cli, cli_sandbox, write_batch
from tests.test_team_postgres import workstation


@pytest.fixture
def sandbox(monkeypatch):
    with cli_sandbox(monkeypatch, seed=5) as server:
        yield server


def paying(sandbox, meters: set[str]) -> bool:
    return any(v["meter"] in meters for v in sandbox.ledger.vends())


def wait_for(what, *, processes=(), timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not what():
        for p in processes:
            assert p.poll() is None, p.stderr.read().decode()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_two_workstations_pay_at_once_both_try_a_third_and_one_is_killed(sandbox, pg_url, capsys, tmp_path,
                                                                         monkeypatch):
    sandbox.update_config(latency_ms=80)
    sizes = {1: 80, 2: 50, 3: 4}  # one row at a time: batch 1 is still paying when the rest is done
    for batch, n in sizes.items():
        sheet = write_batch(tmp_path / f"{batch}.csv", n, seed=batch)
        assert cli(capsys, sandbox, "--db", pg_url, "import", str(sheet))[0] == 0
    store = Store.open(pg_url)
    meters = {b: {r.meter for r in store.rows(b)} for b in sizes}
    home_a, home_b = tmp_path / "ada", tmp_path / "bola"
    run = ("--yes", "--wait-pending", "0")
    a1 = workstation(sandbox, pg_url, home_a, "run", "1", *run)
    b2 = workstation(sandbox, pg_url, home_b, "run", "2", *run)
    try:
        wait_for(lambda: paying(sandbox, meters[1]) and paying(sandbox, meters[2]), processes=(a1, b2))
        # both try the third at the same moment: one pays it, the other is told who does
        third = [workstation(sandbox, pg_url, home, "run", "3", *run) for home in (home_a, home_b)]
        codes = [p.wait(timeout=90) for p in third]
        said = [p.stderr.read().decode() for p in third]
        assert sorted(codes) == [0, 2], said
        assert "is paying or requerying batch 3" in said[codes.index(2)] and "nothing was paid" in said[codes.index(2)]
        # the second workstation's recovery leaves batch 1 to the first, which is still paying it
        assert a1.poll() is None, "batch 1 ended too soon for this test"
        monkeypatch.setenv("BUYPOWER_TUI_HOME", str(home_b))
        code, out, err = cli(capsys, sandbox, "--db", pg_url, "recover")
        assert code == 0 and "left alone: batch 1 is being paid or requeried by " in out and f"pid {a1.pid}" in out
        assert a1.poll() is None
        a1.kill()  # SIGKILL, mid-run: its rows in flight stay as they are in the store
        a1.wait(timeout=30)
        assert b2.wait(timeout=90) == 0, b2.stderr.read().decode()
    finally:
        for p in (a1, b2):
            if p.poll() is None:
                p.kill()
    for _ in range(100):  # the server lets go of a dead session's locks once it sees its socket closed
        code, out, err = cli(capsys, sandbox, "--db", pg_url, "recover")
        if "left alone" not in out:
            break
        time.sleep(0.1)
    assert code in (0, 1) and "left alone" not in out, out + err  # now it takes batch 1's rows in flight
    code, _, err = cli(capsys, sandbox, "--db", pg_url, "run", "1", *run[:1], "--wait-pending", "10")
    assert code == 0, err
    try:
        assert {r.state for b in sizes for r in store.rows(b)} == {"SUCCESS"}
        ledger = sandbox.ledger.snapshot()
        assert_ledger_matches_store(ledger, store, tuple(sizes))  # no orderId twice, every token stored
        paid = Counter(v["meter"] for v in ledger["vends"] if v["status"] == "SUCCESS")
        assert set(paid.values()) == {1} and len(paid) == sum(sizes.values())  # each meter once
    finally:
        store.close()


def test_a_run_whose_lock_the_server_let_go_stops_sending_before_another_can_take_the_batch(
        sandbox, pg_url, pg_server, capsys, tmp_path, monkeypatch):
    """An administrator's pg_terminate_backend (or a cut connection) ends the lock's session
    while the run's own writes still work: the run must notice before its next row, since
    another workstation may now take the batch."""
    from sqlalchemy import create_engine, text

    from buypower_tui.core.money_lock import BATCH_KEY

    sandbox.update_config(latency_ms=80)
    assert cli(capsys, sandbox, "--db", pg_url, "import", str(write_batch(tmp_path / "b.csv", 40)))[0] == 0
    first = workstation(sandbox, pg_url, tmp_path / "ada", "run", "1", "--yes", "--wait-pending", "0")
    wait_for(lambda: len(sandbox.ledger.vends()) >= 3, processes=(first,))
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                  "AND classid = :k AND objid = 1 AND objsubid = 2"), {"k": BATCH_KEY}).all()
    admin.dispose()
    assert ended == [(True,)]
    sent_then = len(sandbox.ledger.vends())
    assert first.wait(timeout=30) == 2
    said = first.stderr.read().decode()
    assert "Traceback" not in said and "stopped" in said, said
    # at most the rows in flight then (one at a time here) and one the lock was last trusted for
    assert len(sandbox.ledger.vends()) <= sent_then + 2
    monkeypatch.setenv("BUYPOWER_TUI_HOME", str(tmp_path / "bola"))
    assert cli(capsys, sandbox, "--db", pg_url, "recover")[0] == 0
    code, _, err = cli(capsys, sandbox, "--db", pg_url, "run", "1", "--yes", "--wait-pending", "10")
    assert code == 0, err
    store = Store.open(pg_url)
    try:
        assert {r.state for r in store.rows(1)} == {"SUCCESS"}
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, 1)
    finally:
        store.close()
