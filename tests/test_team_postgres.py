"""Several operators on one PostgreSQL store: the money lock is the server's advisory lock
per batch, so a second "workstation" (another home: no shared lock file) is refused the
batch the first pays, told who holds it, pays another batch meanwhile, and the lock is let
go when its holder is SIGKILLed. Against a real PostgreSQL server and the sandbox; the ledger is the proof."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from buypower_tui.core.store import Store
from tests.engine_helpers import assert_ledger_matches_store, cli, cli_sandbox, write_batch


@pytest.fixture
def sandbox(monkeypatch):
    with cli_sandbox(monkeypatch, seed=5) as server:
        yield server


def workstation(sandbox, db: str, home, *argv: str) -> subprocess.Popen:
    """`buypower-tui` in a process of its own, with a home of its own: another machine."""
    env = dict(os.environ, BUYPOWER_SANDBOX_API_KEY=sandbox.key, BUYPOWER_TUI_HOME=str(home),
               BUYPOWER_CONCURRENCY="1", BUYPOWER_RATE_LIMIT="0")
    return subprocess.Popen([sys.executable, "-m", "buypower_tui", "--sandbox", sandbox.url, "--db", db, *argv],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def until_paying(sandbox, process) -> None:
    for _ in range(400):
        if sandbox.ledger.vends():
            return
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    raise AssertionError("the first workstation never started paying")


def test_a_second_workstation_is_refused_the_batch_being_paid_and_told_who_but_pays_another(
        sandbox, pg_url, capsys, tmp_path, monkeypatch):
    sandbox.update_config(latency_ms=150)
    assert cli(capsys, sandbox, "--db", pg_url, "import", str(write_batch(tmp_path / "a.csv", 12)))[0] == 0
    assert cli(capsys, sandbox, "--db", pg_url, "import", str(write_batch(tmp_path / "b.csv", 3, seed=9)))[0] == 0
    first = workstation(sandbox, pg_url, tmp_path / "first-home", "run", "1", "--yes", "--wait-pending", "0")
    try:
        until_paying(sandbox, first)
        monkeypatch.setenv("BUYPOWER_TUI_HOME", str(tmp_path / "second-home"))
        for argv, said in ((("run", "1", "--yes"), "nothing was paid"), (("retry", "1", "--failed"), "nothing"),
                           (("close", "1", "--rows", "2", "--note", "n"), "nothing was closed")):
            code, _, err = cli(capsys, sandbox, "--db", pg_url, *argv)
            if argv[0] == "retry" and code == 0:  # no FAILED row yet: nothing to retry, nothing asked
                continue
            assert code == 2 and "is paying or requerying batch 1" in err and said in err, (argv, err)
            assert f"pid {first.pid}, since " in err  # who holds it, from the server
        # recovery leaves batch 1 to its holder, and says so; batch 2 is paid at the same time
        code, out, err = cli(capsys, sandbox, "--db", pg_url, "recover")
        assert code == 0 and "left alone: batch 1 is being paid or requeried by " in out, out + err
        code, _, err = cli(capsys, sandbox, "--db", pg_url, "run", "2", "--yes", "--wait-pending", "0")
        assert code == 0, err
        assert first.poll() is None  # the first was still paying batch 1 all the while
        # the wallet moved by both runs' payments: each counts the other's, and warns of nothing
        assert "reconciliation warning" not in err, err
    finally:
        assert first.wait(timeout=90) == 0
        said = first.stderr.read().decode()
        assert "reconciliation warning" not in said, said
    store = Store.open(pg_url)
    try:
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, (1, 2))
        assert {r.state for b in (1, 2) for r in store.rows(b)} == {"SUCCESS"}
    finally:
        store.close()


def test_a_sigkilled_holder_lets_go_and_the_other_workstation_recovers_its_rows(sandbox, pg_url, capsys, tmp_path,
                                                                                monkeypatch):
    sandbox.update_config(latency_ms=150)
    assert cli(capsys, sandbox, "--db", pg_url, "import", str(write_batch(tmp_path / "b.csv", 20)))[0] == 0
    first = workstation(sandbox, pg_url, tmp_path / "first-home", "run", "1", "--yes", "--wait-pending", "0")
    until_paying(sandbox, first)
    time.sleep(0.4)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    monkeypatch.setenv("BUYPOWER_TUI_HOME", str(tmp_path / "second-home"))
    for _ in range(50):  # the server ends the dead session's locks once it sees the socket closed
        code, out, err = cli(capsys, sandbox, "--db", pg_url, "recover")
        if "left alone" not in out:  # batch 1's lock is gone: its rows in flight were requeried
            break
        time.sleep(0.1)
    assert code in (0, 1), out + err
    code, _, err = cli(capsys, sandbox, "--db", pg_url, "run", "1", "--yes", "--wait-pending", "5")
    assert code == 0, err
    store = Store.open(pg_url)
    try:
        assert {r.state for r in store.rows(1)} == {"SUCCESS"}
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, 1)  # each meter once, every token kept
    finally:
        store.close()


def test_each_event_names_the_database_role_that_did_it(pg_server, sandbox, capsys, tmp_path):
    """Each operator logs in as their own role: the history names the person, not the OS user."""
    import socket

    from sqlalchemy import create_engine, text

    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for role in ("ada", "bola"):
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text("CREATE DATABASE estate OWNER ada"))
    admin.dispose()
    server = pg_server.rsplit("@", 1)[1].rsplit("/", 1)[0]
    as_ada, as_bola = (f"postgresql+psycopg://{role}@{server}/estate" for role in ("ada", "bola"))
    assert cli(capsys, sandbox, "--db", as_ada, "import", str(write_batch(tmp_path / "b.csv", 3)))[0] == 0
    owner = create_engine(as_ada, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:  # what README's "Team mode" has the owner grant each operator
        conn.execute(text("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO bola"))
        conn.execute(text("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO bola"))
    owner.dispose()
    code, _, err = cli(capsys, sandbox, "--db", as_bola, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 0, err
    store = Store.open(as_ada)
    try:
        from sqlmodel import select

        from buypower_tui.core.models import Event

        host = socket.gethostname()
        with store.session() as session:
            events = list(session.exec(select(Event).where(Event.batch_id == 1)))
        created = [e.operator for e in events if (e.note or "").startswith("batch created")]
        assert created == [f"ada@{host}"]
        paid = {e.operator for e in events if e.new_state in ("APPROVED", "SENDING", "SUCCESS")}
        assert paid == {f"bola@{host}"}
    finally:
        store.close()
