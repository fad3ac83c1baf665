"""The database stops answering in the middle of a run (issue 15 §1): PostgreSQL restarted under
a `run` in a process of its own, against the sandbox with latency, so that POSTs are in flight.

What must hold: sending stops at once (no row is POSTed whose SENDING was not committed first),
the POSTs in flight end, nothing is guessed (an answer that could not be stored leaves its row
SENDING), the process ends by itself with a clear message and exit 2, no traceback; `recover`
then requeries the rows in flight and stores their tokens, and the sandbox's ledger matches the
store: no orderId or meter paid twice, every paid token kept."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from buypower_tui.core.models import RowState
from buypower_tui.core.store import Store
from tests import postgres
from tests.engine_helpers import assert_ledger_matches_store, cli, cli_sandbox, write_batch

S = RowState
ROWS, CONCURRENCY = 30, 4


@pytest.fixture
def sandbox(monkeypatch):
    monkeypatch.setenv("BUYPOWER_RATE_LIMIT", "0")  # what is tested is the outage, not the pace
    with cli_sandbox(monkeypatch, seed=5) as server:
        yield server


@pytest.fixture(scope="module")
def own_server():
    """A server of this module's own: it is restarted under the runs (the session's is shared)."""
    if not postgres.available():
        pytest.skip("PostgreSQL's initdb is not installed (.ci/run installs it)")
    with postgres.running_server() as handle:
        yield handle


@pytest.fixture
def own_pg(own_server):
    """That server, and the URL of an empty database of this test's own on it."""
    return own_server, postgres.fresh_database(own_server.url)


def paying(sandbox, url: str, home) -> subprocess.Popen:
    env = dict(os.environ, BUYPOWER_SANDBOX_API_KEY=sandbox.key, BUYPOWER_TUI_HOME=str(home),
               BUYPOWER_CONCURRENCY=str(CONCURRENCY), BUYPOWER_RATE_LIMIT="0")
    return subprocess.Popen([sys.executable, "-m", "buypower_tui", "--sandbox", sandbox.url, "--db", url,
                             "run", "1", "--yes", "--wait-pending", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def until_vends(sandbox, process, n: int) -> None:
    deadline = time.monotonic() + 30
    while len(sandbox.ledger.vends()) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started paying"
        time.sleep(0.02)


def states(store: Store) -> dict[str, str]:
    """orderId -> state, as the store has it."""
    return {r.order_id: r.state for r in store.rows(1) if r.order_id}


def test_a_restarted_server_stops_the_run_at_once_and_recover_settles_the_rows_in_flight(
        sandbox, own_pg, capsys, tmp_path):
    server, url = own_pg
    sandbox.update_config(latency_ms=400)  # each POST is in flight for 0.4 s: some are when the server goes
    assert cli(capsys, sandbox, "--db", url, "import", str(write_batch(tmp_path / "b.csv", ROWS)))[0] == 0
    run = paying(sandbox, url, tmp_path / "home")
    try:
        until_vends(sandbox, run, 6)
        server.stop()  # every connection dropped, the money lock with them; writes are refused…
        down = time.monotonic()
        at_stop = len(sandbox.ledger.vends())
        time.sleep(2.0)
        server.start()  # …for two seconds
        out, err = run.communicate(timeout=30)  # no hang: the run ended by itself
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    ended = time.monotonic() - down
    vends = sandbox.ledger.vends()

    assert run.returncode == 2, err
    assert "Traceback" not in err + out and "unexpected error" not in err, err
    said = re.search(r"run stopped: the database stopped answering during the run \(.*\): sending stopped "
                     r"after (\d+) rows; (.*)", err)
    assert said, err
    assert "buypower-tui recover" in err and "Nothing was guessed" in err
    assert int(said[1]) == len(vends)  # every POST it made, and no other
    # Sending stopped at once: after the server went, only rows already committed SENDING could
    # still go out (at most one per worker), never one whose SENDING failed
    assert len(vends) - at_stop <= CONCURRENCY + 2, (at_stop, len(vends))
    assert len(vends) < ROWS
    assert ended < 15  # the requests in flight ended (0.4 s each) and so did the run

    store = Store.open(url)
    try:
        before = states(store)
        # write-ahead held: every order BuyPower received belongs to a row the store had SENDING
        # (or settled since), never one still APPROVED
        assert all(before[v["orderId"]] not in (S.APPROVED, S.NOT_SENT) for v in vends), before
        in_flight = [v["orderId"] for v in vends if before[v["orderId"]] == S.SENDING]
        unstored = re.search(r"the answers of (\d+) of them could not be stored", said[2])
        assert (int(unstored[1]) if unstored else 0) == len(in_flight)  # nothing guessed, nothing hidden
        assert not any(s in (S.FAILED, S.PENDING) for s in before.values())  # no answer was made up
    finally:
        store.close()

    sandbox.update_config(latency_ms=0)
    code, report, _ = cli(capsys, sandbox, "--db", url, "recover")  # the database answers again
    assert code == 0, report
    store = Store.open(url)
    try:
        after = states(store)
        assert S.SENDING not in after.values()
        assert all(after[o] == S.SUCCESS for o in in_flight)  # requeried, their tokens stored
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, 1)
    finally:
        store.close()

    code, _, err = cli(capsys, sandbox, "--db", url, "run", "1", "--yes", "--wait-pending", "5")
    assert code == 0, err  # the rest is paid; rows whose SENDING never became a POST go under their orderId
    store = Store.open(url)
    try:
        assert {r.state for r in store.rows(1)} == {S.SUCCESS}
        ledger = sandbox.ledger.snapshot()
        assert_ledger_matches_store(ledger, store, 1)  # no orderId paid twice, every token kept
        assert len({v["meter"] for v in ledger["vends"]}) == len(ledger["vends"]) == ROWS  # no meter twice
    finally:
        store.close()


def test_a_server_back_before_the_answers_come_back_stores_them_all(sandbox, own_pg, capsys, tmp_path):
    """A quick restart while POSTs are in flight (2.5 s each; the server is back within a second):
    the run stops sending, as its lock went with the server, but every answer that comes back
    is stored. The review's case: the run's kept connection, dead since the restart, must not
    be the one the answers are written on."""
    server, url = own_pg
    assert cli(capsys, sandbox, "--db", url, "import", str(write_batch(tmp_path / "b.csv", ROWS)))[0] == 0
    run = paying(sandbox, url, tmp_path / "home")
    try:
        until_vends(sandbox, run, 2)
        sandbox.update_config(latency_ms=2500)
        time.sleep(0.5)
        server.restart()
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 2, err
    assert "the answers that came back were stored" in err, err
    store = Store.open(url)
    try:
        vended = {v["orderId"] for v in sandbox.ledger.vends()}
        assert not [o for o, state in states(store).items() if state == S.SENDING and o in vended]
    finally:
        store.close()


def test_the_runs_own_connection_ended_by_the_server_is_replaced_before_it_is_used(pg_url, tmp_path):
    """An administrator's pg_terminate_backend ends the run's kept connection (the database goes
    on answering, the money lock's session is another) while POSTs are in flight: the run sees
    it closed before it writes on it and takes another; it goes on and settles every row."""
    import asyncio

    from sqlalchemy import create_engine, text

    from buypower_tui.core.requery_policy import RequeryPolicy
    from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
    from buypower_tui.core.vending import Runner, RunOptions

    def end_idle_sessions() -> int:
        engine = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            ended = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'idle'")).scalar()
        engine.dispose()
        return ended

    store = Store.open(pg_url)
    options = RunOptions(concurrency=2, requery=RequeryPolicy(first_wait=0.05, max_wait=0.2, budget_s=60))
    try:
        with SandboxServer(SandboxConfig(seed=3, requery_cooldown_s=0, delay=(0,))) as sandbox:
            async def go():
                async with _client(sandbox) as c:
                    batch = await _approved(store, c, write_batch(tmp_path / "b.csv", 6))
                    sandbox.update_config(latency_ms=800)
                    task = asyncio.create_task(Runner(store, c, batch, options).run())
                    while len(sandbox.ledger.vends()) < 2:
                        await asyncio.sleep(0.02)
                    ended = await asyncio.to_thread(end_idle_sessions)
                    return batch, ended, await asyncio.wait_for(task, 30)

            batch, ended, result = asyncio.run(go())
            assert ended >= 1 and result.error is None
            assert store.stats(batch).by_state == {S.SUCCESS: 6}
            assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)
    finally:
        store.close()


# -- the runner in-process: the same rules, without a server to restart ---------------------------

def _client(sandbox):
    from pydantic import SecretStr

    from buypower_tui.core.client import BuyPowerClient

    return BuyPowerClient(sandbox.url, SecretStr(sandbox.key), rate_limit=0, concurrency=CONCURRENCY,
                          not_found_window=0.3)


async def _approved(store: Store, c, path) -> int:
    from decimal import Decimal

    from buypower_tui.core import rows
    from buypower_tui.core.importing import import_file
    from buypower_tui.core.lookup import lookup_batch
    from buypower_tui.core.preflight import preflight
    from buypower_tui.core.rules import Limits

    report = import_file(path, store, Limits(amount_min=Decimal(100)), mode="sandbox")
    await lookup_batch(store, c, report.batch_id)
    rows.approve(store, preflight(store, report.batch_id, await c.wallet_balance(), 7).send)
    return report.batch_id


def _outage(store: Store) -> dict[str, bool]:
    """Every statement of `store` fails while the flag is up, as a server gone away would."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    down = {"down": False}

    def refuse(*_):
        if down["down"]:
            raise OperationalError("SELECT", {}, ConnectionError("server closed the connection unexpectedly"))
    event.listen(store.engine, "before_cursor_execute", refuse)
    return down


def test_a_store_that_stops_answering_stops_sending_and_never_posts_a_row_not_marked(store, tmp_path):
    """SQLite, in-process: the store fails every statement from the 6th POST on (POSTs in flight,
    0.3 s each), then answers again. No row whose SENDING failed went out; each answer that
    could not be stored left its row SENDING; recovery settles them; the ledger agrees."""
    import asyncio

    from buypower_tui.core.recovery import recover
    from buypower_tui.core.requery_policy import RequeryPolicy
    from buypower_tui.core.run_progress import StoreUnavailable
    from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
    from buypower_tui.core.vending import Runner, RunOptions

    policy = RequeryPolicy(first_wait=0.05, max_wait=0.2, budget_s=60)
    with SandboxServer(SandboxConfig(seed=5, requery_cooldown_s=0, delay=(0,))) as sandbox:
        async def go():
            async with _client(sandbox) as c:
                batch = await _approved(store, c, write_batch(tmp_path / "b.csv", ROWS))
                sandbox.update_config(latency_ms=300)
                outage, posts, seen = _outage(store), [], []
                vend = c.vend

                async def counted(*args, **kwargs):
                    posts.append(1)
                    if len(posts) == 6:
                        outage["down"] = True
                        seen.append(len(sandbox.ledger.vends()))
                    return await vend(*args, **kwargs)
                c.vend = counted
                reports = []
                runner = Runner(store, c, batch, RunOptions(concurrency=CONCURRENCY, requery=policy),
                                on_progress=reports.append)
                with pytest.raises(StoreUnavailable) as stopped:
                    await asyncio.wait_for(runner.run(), 20)  # it ends by itself
                sent = len(sandbox.ledger.vends())
                outage["down"] = False  # the database answers again
                states = {r.order_id: r.state for r in store.rows(batch)}
                await asyncio.sleep(0.4)  # the settle window: an order BuyPower never got may be sent again
                report = await recover(store, c, policy=policy)
                return batch, stopped.value, reports, states, sent, seen[0], report

        batch, stopped, reports, states, sent, at_outage, report = asyncio.run(go())
        said = str(stopped)
        assert said.startswith("the database stopped answering during the run (ConnectionError: server closed")
        assert f"sending stopped after {sent} rows" in said and "buypower-tui recover" in said
        assert stopped.result.error == said and reports[-1].finished and reports[-1].halted == said
        assert sent - at_outage <= CONCURRENCY  # the POSTs already in flight (or let through), no new one
        vends = sandbox.ledger.vends()
        assert all(states[v["orderId"]] not in (S.APPROVED, S.NOT_SENT) for v in vends)  # write-ahead held
        in_flight = [v["orderId"] for v in vends if states[v["orderId"]] == S.SENDING]
        assert f"the answers of {len(in_flight)} of them could not be stored" in said
        assert not report.not_reached
        after = {r.order_id: r.state for r in store.rows(batch)}
        assert all(after[o] == S.SUCCESS for o in in_flight) and S.SENDING not in after.values()
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)


def test_a_lock_found_lost_stops_sending_while_the_store_still_answers(store, tmp_path):
    """`lock_held` says no (PostgreSQL: the lock's session ended, the store's own connections
    came back at once): nothing more is marked or sent; the answers in flight are stored."""
    import asyncio

    from buypower_tui.core.requery_policy import RequeryPolicy
    from buypower_tui.core.run_progress import StoreUnavailable
    from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
    from buypower_tui.core.vending import Runner, RunOptions

    with SandboxServer(SandboxConfig(seed=5, requery_cooldown_s=0, delay=(0,))) as sandbox:
        async def go():
            async with _client(sandbox) as c:
                batch = await _approved(store, c, write_batch(tmp_path / "b.csv", ROWS))
                sandbox.update_config(latency_ms=200)
                asked = []

                def held() -> bool:
                    asked.append(1)
                    return len(asked) <= 8
                runner = Runner(store, c, batch, RunOptions(concurrency=CONCURRENCY,
                                                            requery=RequeryPolicy(0.05, 0.2, 60)), lock_held=held)
                with pytest.raises(StoreUnavailable) as stopped:
                    await asyncio.wait_for(runner.run(), 20)
                return batch, str(stopped.value)

        batch, said = asyncio.run(go())
        sent = len(sandbox.ledger.vends())  # the 8 rows the lock let through, or fewer: one may wait at the cap
        assert 4 <= sent <= 8
        assert said.startswith("the money lock was lost during the run (its database session ended), so another "
                               f"process may pay this batch now: sending stopped after {sent} rows; the answers "
                               "that came back were stored. Nothing was guessed. Run `buypower-tui recover`"), said
        by_state = store.stats(batch).by_state
        assert by_state == {S.SUCCESS: sent, S.APPROVED: ROWS - sent}  # nothing in flight, nothing guessed
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)


async def test_the_run_view_says_the_database_stopped_answering_and_the_app_goes_on(
        sandbox, own_pg, capsys, tmp_path, monkeypatch):
    """The TUI: the same restart under a run started with VEND. No crash: the run view (and the
    error dialog) say what happened and what to do; the app is still there once it answers."""
    import asyncio

    from buypower_tui.ui.app import BuyPowerApp
    from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
    from buypower_tui.ui.screens.run import RunScreen
    from tests.ui_support import SIZE, screen_text, services, settle, until

    server, url = own_pg
    assert cli(capsys, sandbox, "--db", url, "import", str(write_batch(tmp_path / "b.csv", 16)))[0] == 0
    monkeypatch.setenv("BUYPOWER_CONCURRENCY", str(CONCURRENCY))
    app = BuyPowerApp(services("--sandbox", "--base-url", sandbox.url, "--db", url), open_batch=1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRunModal))
        sandbox.update_config(latency_ms=400)
        await pilot.press(*"VEND", "enter")
        await until(pilot, lambda: len(sandbox.ledger.vends()) >= 4, timeout=30)
        await asyncio.to_thread(server.stop)
        await until(pilot, lambda: not app.run_active(), timeout=15)  # it ended by itself, the server still down
        await pilot.pause(0.3)
        shown = " ".join(screen_text(app).split())
        assert app.is_running and app.screen.query_one("#dialog") is not None  # the error dialog, not a crash
        assert "The run stopped" in shown and "the database stopped answering during the run" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        summary = " ".join(str(app.screen.query_one("#run-summary").render()).split())
        assert "Stopped. The database stopped answering during the run" in summary
        assert "buypower-tui recover" in summary and "the last the store gave" in summary
        await asyncio.to_thread(server.start)
        await pilot.pause(0.5)
        assert app.is_running
    app.services.close()
    sandbox.update_config(latency_ms=0)
    assert (await asyncio.to_thread(cli, capsys, sandbox, "--db", url, "recover"))[0] == 0  # its own loop
    store = Store.open(url)
    try:
        assert S.SENDING not in {r.state for r in store.rows(1)}
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, 1)
    finally:
        store.close()
