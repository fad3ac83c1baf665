"""The money commands as an operator runs them, against the sandbox."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import stat
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from pydantic import SecretStr

from buypower_tui.cli import main
from buypower_tui.core import rows
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.importing import import_file
from buypower_tui.core.rules import Limits
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.core.vending import Runner, RunOptions
from buypower_tui.paths import AppPaths
from tests.engine_helpers import assert_ledger_matches_store, write_batch

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "buypower_tui", "data", "sample-recipients.csv")


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=21, requery_cooldown_s=0, delay=(0,), pending_requeries=1)) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        monkeypatch.setenv("BUYPOWER_REQUERY_FIRST_WAIT", "0.1")
        monkeypatch.setenv("BUYPOWER_REQUERY_MAX_WAIT", "1")
        yield server


def cli(capsys, sandbox, *argv):
    code = main(["--sandbox", sandbox.url, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def store() -> Store:
    return Store.open(f"sqlite:///{AppPaths.resolve().db_file}")


def test_import_run_export_the_sample(sandbox, capsys, tmp_path):
    assert cli(capsys, sandbox, "import", SAMPLE)[0] == 0
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 2 and "--accept-duplicates" in err and "twice in this batch" in err
    assert sandbox.ledger.vends() == []  # nothing was paid
    code, out, err = cli(capsys, sandbox, "run", "1", "--yes", "--accept-duplicates")
    assert code == 0, err
    assert "12 SUCCESS; paid ₦105,250.50" in out and "pre-flight: 12 rows to send" in err
    target = tmp_path / "tokens.csv"
    assert cli(capsys, sandbox, "export", "1", "-o", str(target))[0] == 0
    exported = list(csv.DictReader(target.open()))
    assert len(exported) == 12 and all(r["state"] == "SUCCESS" for r in exported)
    prepaid = [r for r in exported if r["meter"] != "2200411875"]  # the sample's one POSTPAID row: no token
    assert len(prepaid) == 11 and all(len(r["token"]) == 24 and r["token"].count("-") == 4 for r in prepaid)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    s = store()
    try:
        assert_ledger_matches_store(sandbox.ledger.snapshot(), s, 1)
    finally:
        s.close()


def test_run_refuses_without_confirmation_or_in_the_wrong_mode(sandbox, capsys, monkeypatch):
    cli(capsys, sandbox, "import", SAMPLE)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    code, _, err = cli(capsys, sandbox, "run", "1", "--accept-duplicates")
    assert code == 2 and "pass --yes" in err
    assert main(["--live", "run", "1", "--yes"]) == 2
    assert "imported for sandbox" in capsys.readouterr().err
    assert sandbox.ledger.vends() == []


def test_a_shortfall_refuses_unless_limited_with_max_total(sandbox, capsys):
    cli(capsys, sandbox, "import", SAMPLE)
    sandbox.update_config(wallet=Decimal(10_000))
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--accept-duplicates")
    assert code == 2 and "SHORTFALL" in err and "--max-total" in err
    code, out, err = cli(capsys, sandbox, "run", "1", "--yes", "--accept-duplicates", "--max-total", "9000")
    paid = sum(Decimal(v["amount"]) for v in sandbox.ledger.vends())
    assert 0 < paid <= 9000 and code == 3  # the rows left out are still to be paid


def test_retry_failed_rows_under_new_orders_and_requery(sandbox, capsys, tmp_path):
    sheet = tmp_path / "s.csv"
    sheet.write_text("meter,disco,amount,phone\n55500000007,ABUJA,1000,08031234567\n"
                     "55500000001,ABUJA,1000,08031234567\n")
    cli(capsys, sandbox, "import", str(sheet))
    code, out, _ = cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 1 and "1 FAILED" in out and "1 PENDING" in out
    for _ in range(3):  # the sandbox answers "pending" once; whether the run asked already depends on timing
        time.sleep(0.2)
        code, out, _ = cli(capsys, sandbox, "requery", "1")
        if "1 now SUCCESS" in out:
            break
    assert code == 0 and "1 now SUCCESS" in out
    first_order = next(r for r in sandbox.ledger.snapshot()["rejected"])["orderId"]
    code, out, err = cli(capsys, sandbox, "retry", "1", "--failed", "--yes")
    assert "retried under a new orderId" in err and code == 1
    rejected = sandbox.ledger.snapshot()["rejected"]
    assert len(rejected) == 2 and rejected[1]["orderId"] != first_order


def test_health_says_healthy_degraded_or_down(sandbox, capsys, monkeypatch):
    code, out, _ = cli(capsys, sandbox, "health")
    assert code == 0 and "status: HEALTHY" in out and "wallet       ₦1,000,000.00" in out
    code, out, _ = cli(capsys, sandbox, "health", "--json")
    assert '"api_reachable": true' in out and '"breaker": "closed"' in out
    monkeypatch.delenv("BUYPOWER_SANDBOX_API_KEY")
    assert cli(capsys, sandbox, "health")[0] == 1  # no key: degraded
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", sandbox.key)
    sandbox.stop()
    code, out, _ = cli(capsys, sandbox, "health")
    assert code == 2 and "status: DOWN" in out


def test_pause_holds_sending_and_resume_goes_on(sandbox, tmp_path):
    s = store()
    try:
        batch = import_file(write_batch(tmp_path / "b.csv", 20), s, Limits(), mode="sandbox").batch_id
        ids = rows.ids_in(s, batch, ("VALID",))
        for i in ids:
            rows.transition(s, i, ("VALID",), "VERIFIED")
        rows.approve(s, ids)

        async def go():
            async with BuyPowerClient(sandbox.url, SecretStr(sandbox.key), rate_limit=0) as c:
                runner = Runner(s, c, batch, RunOptions(concurrency=2))
                runner.pause()
                task = asyncio.create_task(runner.run())
                await asyncio.sleep(0.5)
                held = len(sandbox.ledger.vends())
                runner.resume()
                await task
                return held
        assert asyncio.run(go()) == 0
        assert s.stats(batch).by_state == {"SUCCESS": 20}
    finally:
        s.close()


def test_sigterm_stops_after_the_rows_in_flight(tmp_path, isolated_home):
    config = SandboxConfig(seed=8, requery_cooldown_s=0, latency_ms=150)
    with SandboxServer(config) as sandbox:
        env = dict(os.environ, BUYPOWER_SANDBOX_API_KEY=sandbox.key, BUYPOWER_TUI_HOME=str(isolated_home),
                   BUYPOWER_RATE_LIMIT="0")
        cli_args = [sys.executable, "-m", "buypower_tui", "--sandbox", sandbox.url]
        subprocess.run([*cli_args, "import", str(write_batch(tmp_path / "b.csv", 200))], env=env, check=True,
                       capture_output=True)
        proc = subprocess.Popen([*cli_args, "run", "1", "--yes"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not sandbox.ledger.vends() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err  # interrupted, as the README says
        assert "stopped after the rows in flight" in out
        s = store()
        try:
            by_state = s.stats(1).by_state
            assert "SENDING" not in by_state and by_state.get("APPROVED", 0) > 0  # a clean stop
            assert_ledger_matches_store(sandbox.ledger.snapshot(), s, 1)
        finally:
            s.close()


def _two_rows(tmp_path, name, meters=("45143922321", "12345678910")):
    sheet = tmp_path / name
    sheet.write_text("meter,disco,amount,phone\n" + "".join(f"{m},ABUJA,1000,08031234567\n" for m in meters))
    return str(sheet)


def test_the_same_meter_and_amount_in_flight_or_paid_in_another_batch_must_be_accepted(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", _two_rows(tmp_path, "a.csv"))
    cli(capsys, sandbox, "import", _two_rows(tmp_path, "b.csv"))
    s = store()
    try:  # batch 1 approved but not yet sent (a run stopped early)
        for row_id in rows.ids_in(s, 1, ("VALID",)):
            rows.transition(s, row_id, ("VALID",), "VERIFIED")
        rows.approve(s, rows.ids_in(s, 1, ("VERIFIED",)))
    finally:
        s.close()
    code, _, err = cli(capsys, sandbox, "run", "2", "--yes")
    assert code == 2 and "still in flight elsewhere" in err and sandbox.ledger.vends() == []
    # batch 1 had its orders first (batch 2's rows are only verified): it goes out
    assert cli(capsys, sandbox, "run", "1", "--yes")[0] == 0
    code, _, err = cli(capsys, sandbox, "run", "2", "--yes")  # now they were paid recently
    assert code == 2 and "paid recently" in err and len(sandbox.ledger.vends()) == 2


def test_retry_sends_only_the_chosen_rows_and_nothing_before_confirmation(sandbox, capsys, tmp_path, monkeypatch):
    cli(capsys, sandbox, "import", _two_rows(tmp_path, "m.csv", ("55500000007", "45143922321", "12345678910")))
    code, _, _ = cli(capsys, sandbox, "run", "1", "--yes", "--max-total", "1000")
    assert code == 1 and len(sandbox.ledger.snapshot()["rejected"]) == 1  # the maintenance row failed
    s = store()
    try:
        before = {r.row_number: (r.state, r.order_id) for r in s.rows(1)}
    finally:
        s.close()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli(capsys, sandbox, "retry", "1", "--rows", "2")[0] == 2  # not confirmed
    s = store()
    try:
        assert {r.row_number: (r.state, r.order_id) for r in s.rows(1)} == before  # nothing changed
    finally:
        s.close()
    code, _, err = cli(capsys, sandbox, "retry", "1", "--rows", "2", "--yes")
    assert "pre-flight: 1 rows to send" in err
    s = store()
    try:
        states = {r.row_number: r.state for r in s.rows(1)}
    finally:
        s.close()
    assert states[3] == "VERIFIED" and states[4] == "VERIFIED"  # left out by --max-total, still not paid
    rejected = sandbox.ledger.snapshot()["rejected"]  # the retry went out once, under a new order
    assert [r["orderId"] == before[2][1] for r in rejected] == [True, False]
    assert all(r["posts"] == 1 for r in rejected) and sandbox.ledger.vends() == []


def test_one_process_at_a_time_pays_from_a_store(sandbox, capsys):
    import fcntl

    cli(capsys, sandbox, "import", SAMPLE)
    lock = AppPaths.resolve().db_file.with_name("buypower-tui.db.money-lock")  # beside the store
    with lock.open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        for argv in (("run", "1", "--yes"), ("requery",), ("recover",)):
            code, _, err = cli(capsys, sandbox, *argv)
            assert code == 2 and "is paying or requerying from this store" in err
        for argv, said in ((("close", "1", "--rows", "2", "--note", "x"), "nothing was closed"),
                           (("close", "1", "--rows", "2", "--reopen", "--note", "x"), "nothing was reopened")):
            code, _, err = cli(capsys, sandbox, *argv)  # closing waits for a run too: said as what it is
            assert code == 2 and err.startswith(f"{argv[0]}{' --reopen' if '--reopen' in argv else ''}: ")
            assert "is paying or requerying from this store" in err and said in err, err
    assert sandbox.ledger.vends() == []


def test_two_homes_sharing_one_database_share_its_money_lock(sandbox, capsys, tmp_path, monkeypatch, isolated_home):
    """The lock belongs to the database: a second home opening the same --db must wait."""
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    sandbox.update_config(latency_ms=150)
    assert cli(capsys, sandbox, "--db", db, "import", str(write_batch(tmp_path / "b.csv", 12)))[0] == 0
    env = dict(os.environ, BUYPOWER_SANDBOX_API_KEY=sandbox.key, BUYPOWER_TUI_HOME=str(isolated_home),
               BUYPOWER_CONCURRENCY="1", BUYPOWER_RATE_LIMIT="0")
    first = subprocess.Popen([sys.executable, "-m", "buypower_tui", "--sandbox", sandbox.url, "--db", db,
                              "run", "1", "--yes", "--wait-pending", "0"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):  # until the first home is paying
            if sandbox.ledger.vends():
                break
            time.sleep(0.05)
        monkeypatch.setenv("BUYPOWER_TUI_HOME", str(tmp_path / "second-home"))
        for argv in (("run", "1", "--yes"), ("requery",), ("recover",)):
            code, _, err = cli(capsys, sandbox, "--db", db, *argv)
            assert code == 2 and "is paying or requerying from this store" in err, err
    finally:
        assert first.wait(timeout=60) == 0, first.stderr.read().decode()
    s = Store.open(db)
    try:
        assert_ledger_matches_store(sandbox.ledger.snapshot(), s, 1)
        assert {r.state for r in s.rows(1)} == {"SUCCESS"}
    finally:
        s.close()


def test_restarts_do_not_spend_the_requery_budget(sandbox, capsys, tmp_path):
    sandbox.update_config(pending_requeries=100)
    cli(capsys, sandbox, "import", _two_rows(tmp_path, "p.csv", ("55500000001",)))
    cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")

    def pending_row():
        s = store()
        try:
            (row,) = list(s.rows(1))
            return row
        finally:
            s.close()
    before = pending_row()
    for _ in range(12):  # twelve restarts: each requeries the pending row on start
        cli(capsys, sandbox, "recover")
    after = pending_row()
    assert after.state == "PENDING" and after.requery_count == before.requery_count
    assert after.next_requery_at == before.next_requery_at  # the schedule stands


def test_a_wrong_key_or_no_buypower_is_one_message_and_exit_2(sandbox, capsys, monkeypatch):
    cli(capsys, sandbox, "import", SAMPLE)
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", "0" * 64)
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 2 and "API key was refused" in err and "unexpected" not in err
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", sandbox.key)
    sandbox.stop()
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 2 and "no usable answer from BuyPower" in err and "unexpected" not in err


def test_recover_lists_a_pending_row_without_an_order_and_goes_on(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", _two_rows(tmp_path, "o.csv"))
    s = store()
    try:
        first = rows.ids_in(s, 1, ("VALID",))[0]
        rows.transition(s, first, ("VALID",), "PENDING")  # damaged by hand: PENDING, no orderId
    finally:
        s.close()
    code, out, _ = cli(capsys, sandbox, "recover")
    assert code == 1 and "PENDING without an orderId" in out


def test_the_money_lock_of_a_sqlite_uri_is_the_lock_of_its_file(sandbox, capsys, tmp_path):
    """`file:` URIs name the same database as a plain path: they share its lock, in any home."""
    import fcntl

    path = tmp_path / "shared.db"
    assert cli(capsys, sandbox, "--db", f"sqlite:///{path}", "import", SAMPLE)[0] == 0
    with open(f"{path}.money-lock", "a+") as fh:  # a run from another home, by the plain path
        fcntl.flock(fh, fcntl.LOCK_EX)
        for url in (f"sqlite:///file:{path}?uri=true", f"sqlite:///file://{path}?uri=true&mode=rw"):
            code, _, err = cli(capsys, sandbox, "--db", url, "requery")
            assert code == 2 and "is paying or requerying from this store" in err
