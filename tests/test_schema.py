"""The store's schema under migrations: a 0.1.0 store upgrades with nothing lost, a store from
the future is refused untouched, and the migrations make what the models say, on SQLite and
on PostgreSQL.

tests/fixtures/store-0.1.0.db was made by 0.1.0 itself (tests/fixtures/make_store_0_1_0.py):
three batches with rows in every state, real tokens and events, accepted duplicates, meter
lookups and an orphan event."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing, nullcontext
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from buypower_tui.cli import main
from buypower_tui.core import schema
from buypower_tui.core.models import RowState
from buypower_tui.core.recovery import recover
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.store import Store
from tests import postgres

FIXTURE = Path(__file__).parent / "fixtures" / "store-0.1.0.db"
TABLES = ("batch", "recipient", "event", "meterlookup")


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of our tables, every column 0.1.0 had, in id order: what must not change."""
    with closing(sqlite3.connect(path)) as db:
        out = {}
        for table in TABLES:
            columns = [c[1] for c in sqlite3.connect(FIXTURE).execute(f"PRAGMA table_info({table})")]
            out[table] = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2").fetchall()
        return out


def derived(path: Path) -> list[tuple]:
    """Counts and money by batch and state, recomputed from the rows."""
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT batch_id, state, COUNT(*), COALESCE(SUM(amount_kobo), 0) FROM recipient "
                          "GROUP BY batch_id, state ORDER BY 1, 2").fetchall()


@pytest.fixture
def old_store(tmp_path) -> Path:
    path = tmp_path / "operators.db"
    shutil.copyfile(FIXTURE, path)
    return path


def test_the_fixture_is_a_0_1_0_store_with_rows_in_every_state():
    assert schema.sqlite_revision(FIXTURE) == schema.FIRST
    with closing(sqlite3.connect(FIXTURE)) as db:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        states = {s for (s,) in db.execute("SELECT DISTINCT state FROM recipient")}
        tokens = db.execute("SELECT COUNT(*) FROM recipient WHERE token IS NOT NULL").fetchone()[0]
        accepted = db.execute("SELECT COUNT(*) FROM recipient WHERE duplicate_accepted").fetchone()[0]
        orphans = db.execute("SELECT COUNT(*) FROM event WHERE recipient_id NOT IN (SELECT id FROM recipient)"
                             ).fetchone()[0]
    assert "alembic_version" not in tables and states == set(RowState) - {RowState.CLOSED}  # CLOSED: issue 14
    assert tokens >= 3 and accepted == 2 and orphans == 1


def test_a_0_1_0_store_upgrades_in_place_with_nothing_lost(old_store):
    before, counts = dump(old_store), derived(old_store)
    store = Store.open(f"sqlite:///{old_store}")
    try:
        done = store.upgraded
        assert done.before == schema.FIRST and done.after == schema.head()
        assert done.backup == old_store.with_name("operators.before-0001.db")
        assert stat.S_IMODE(done.backup.stat().st_mode) == 0o600 and dump(done.backup) == before
        assert dump(old_store) == before and derived(old_store) == counts  # every row, token and event
        stats = store.stats_for([1, 2, 3])
        assert sorted((b, st, n, k) for b, s in stats.items() for st, n in s.by_state.items()
                      for k in [s.kobo_by_state[st]]) == counts
        report = __import__("asyncio").run(recover(store, None, policy=RequeryPolicy()))
        assert "1 events belong to rows that no longer exist" in report.orphans
        with closing(sqlite3.connect(old_store)) as db:  # paid_at: each paid row's SUCCESS event
            paid = db.execute("SELECT r.paid_at, (SELECT MAX(at) FROM event e WHERE e.recipient_id = r.id AND "
                              "e.new_state = 'SUCCESS') FROM recipient r WHERE r.state = 'SUCCESS'").fetchall()
            unpaid = db.execute("SELECT COUNT(*) FROM recipient WHERE state != 'SUCCESS' AND paid_at IS NOT NULL"
                                ).fetchone()[0]
        assert paid and all(a == b and a for a, b in paid) and unpaid == 0
    finally:
        store.close()
    again = Store.open(f"sqlite:///{old_store}")  # stamped, never made again; nothing more to do
    assert again.upgraded is None and len(list(again.rows(1))) == 11
    again.close()


def test_a_store_from_the_future_is_refused_and_untouched(old_store, capsys, monkeypatch):
    Store.open(f"sqlite:///{old_store}").close()
    with closing(sqlite3.connect(old_store)) as db:
        db.execute("UPDATE alembic_version SET version_num = '9001'")
        db.commit()
    content, mode = old_store.read_bytes(), old_store.stat().st_mode
    for argv in (["batches"], ["db", "upgrade"], []):  # [] is the TUI: refused before it starts
        assert main(["--db", f"sqlite:///{old_store}", *argv]) == 2
        err = capsys.readouterr().err
        assert "schema revision 9001, newer than this buypower-tui knows" in err and "upgrade buypower-tui" in err
    assert main(["--db", f"sqlite:///{old_store}", "db", "status"]) == 2
    assert "9001: newer than this buypower-tui" in capsys.readouterr().out
    assert old_store.read_bytes() == content and old_store.stat().st_mode == mode
    assert not list(old_store.parent.glob("*-wal")) and not list(old_store.parent.glob("*.before-9001*"))


def test_db_status_and_db_upgrade_say_what_they_see_and_do(old_store, capsys):
    db = ["--db", f"sqlite:///{old_store}"]
    assert main([*db, "db", "status"]) == 1
    out = capsys.readouterr().out
    assert f"app's schema {schema.head()}" in out and "store's      0001" in out and "pending    0002" in out
    assert main([*db, "db", "upgrade"]) == 0
    assert f"from schema revision 0001 to {schema.head()}; its copy from before is" in capsys.readouterr().out
    assert main([*db, "db", "status"]) == 0 and "(up to date)" in capsys.readouterr().out
    assert main([*db, "db", "upgrade"]) == 0 and "nothing to do" in capsys.readouterr().out


def test_other_commands_upgrade_too_and_say_so_in_one_line(old_store, capsys):
    assert main(["--db", f"sqlite:///{old_store}", "batches"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "store upgraded from schema revision 0001" in err


def _migrated_matches_the_models(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(schema._config(connection), "head")  # every migration, from nothing
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
            assert MigrationContext.configure(connection).get_current_revision() == schema.head()
    finally:
        engine.dispose()


def test_the_head_said_in_code_is_alembics_own():
    """Opening an up-to-date store compares it with schema.HEAD rather than ask Alembic (which
    costs the TUI's first frame); a new migration must move HEAD too."""
    assert schema._script().get_current_head() == schema.HEAD


def test_the_migrations_make_what_the_models_say_on_sqlite(tmp_path):
    _migrated_matches_the_models(f"sqlite:///{tmp_path / 'migrated.db'}")
    new = Store.open(f"sqlite:///{tmp_path / 'new.db'}")  # a new store: made from the models, at head
    assert schema.sqlite_revision(tmp_path / "new.db") == schema.head()
    new.close()


@pytest.mark.skipif(not postgres.available(), reason="PostgreSQL's initdb is not installed (.ci/run installs it)")
def test_the_migrations_run_on_postgresql_and_a_store_works_there():
    with postgres.server() as url:
        _migrated_matches_the_models(url)
        store = Store.open(url)  # at head already: opened as it is
        try:
            assert store.upgraded is None
            batch = store.create_batch("on postgres", None, "sandbox")
            assert store.batches()[0].id == batch.id and store.stats(batch.id).rows == 0
            # issue 13: the "name differs" view reads the warnings' JSON as text there too
            from buypower_tui.core import editing, rows
            from buypower_tui.core.names import with_name_warning
            from buypower_tui.core.rules import Limits

            row_id = editing.add_row(store, batch.id, {"meter": "12345678910", "disco": "ABUJA", "amount": "900",
                                                         "phone": "08031234567"}, Limits())
            assert editing.view_ids(store, batch.id, "name differs") == []
            rows.transition(store, row_id, (RowState.VALID,), RowState.VERIFIED,
                            warnings=with_name_warning(None, "Ada Obi", "BOLA EZE"))
            assert editing.view_ids(store, batch.id, "name differs") == [row_id]
        finally:
            store.close()


OPEN = "import sys; from buypower_tui.core.store import Store; s = Store.open(sys.argv[1]); " \
       "print(s.upgraded.describe() if s.upgraded else 'nothing to do'); s.close()"


def _open_at_once(url: str, n: int) -> list[str]:
    """`n` processes open the same store at the same moment; what each says."""
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(n)]
    said = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * n, [err for _, err in said]
    return [out.strip() for out, _ in said]


def test_several_processes_opening_an_old_store_at_once_upgrade_it_once(old_store):
    said = _open_at_once(f"sqlite:///{old_store}", 4)
    assert sum(s.startswith("store upgraded from schema revision 0001") for s in said) == 1
    assert said.count("nothing to do") == 3  # they waited, found the work done and said nothing of it
    assert [p.name for p in old_store.parent.glob("*.before-*")] == ["operators.before-0001.db"]
    assert schema.sqlite_revision(old_store) == schema.head()


def test_a_copy_cut_short_never_sits_under_the_name_one_restores_from(old_store):
    partial = old_store.with_name("operators.before-0001.db.partial")  # left by a kill in the middle of a copy
    partial.write_bytes(b"half a database")
    store = Store.open(f"sqlite:///{old_store}")
    store.close()
    assert store.upgraded.backup == old_store.with_name("operators.before-0001.db") and not partial.exists()
    assert dump(store.upgraded.backup) == dump(FIXTURE)


@pytest.mark.parametrize("versions", [[], ["0002", "0003"]])
def test_a_store_whose_version_is_unclear_is_refused_untouched(old_store, capsys, versions):
    Store.open(f"sqlite:///{old_store}").close()
    with closing(sqlite3.connect(old_store)) as db:
        db.execute("DELETE FROM alembic_version")
        db.executemany("INSERT INTO alembic_version VALUES (?)", [(v,) for v in versions])
        db.commit()
    content, copies = old_store.read_bytes(), sorted(old_store.parent.glob("*.before-*"))
    for argv in (["batches"], ["db", "upgrade"], ["db", "status"]):
        assert main(["--db", f"sqlite:///{old_store}", *argv]) == 2
        captured = capsys.readouterr()
        assert "its schema version table (alembic_version)" in captured.err + captured.out
    assert old_store.read_bytes() == content and sorted(old_store.parent.glob("*.before-*")) == copies


@pytest.mark.skipif(not postgres.available(), reason="PostgreSQL's initdb is not installed (.ci/run installs it)")
def test_several_processes_opening_an_old_postgresql_store_at_once_upgrade_it_once():
    with postgres.server() as url:
        engine = create_engine(url)
        with engine.begin() as connection:  # a store as 0.1.0's create_all made it: no version table
            command.upgrade(schema._config(connection), schema.FIRST)
            connection.exec_driver_sql("DROP TABLE alembic_version")
        engine.dispose()
        said = _open_at_once(url, 4)
        assert sum(s.startswith("store upgraded from schema revision 0001") for s in said) == 1
        assert said.count("nothing to do") == 3
        assert schema.revision_at(url) == schema.head()


def test_the_tui_upgrades_at_start_and_says_so_with_the_retired_settings(old_store, monkeypatch):
    import asyncio

    from buypower_tui.ui.app import BuyPowerApp
    from tests.ui_support import services

    monkeypatch.setenv("BUYPOWER_REQUERY_BUDGET", "10")  # 0.1's setting: said in the app, not refused
    s = services("--db", f"sqlite:///{old_store}")
    s.ctx.announce_upgrade = False
    s.store  # noqa: B018 - as run_tui opens it before the app starts

    async def go() -> list[tuple[str, str]]:
        app = BuyPowerApp(s, recover=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            return [(n.title, n.message) for n in app._notifications]

    said = asyncio.run(go())
    assert ("Store upgraded", f"store upgraded from schema revision 0001 to {schema.head()}; its copy from before "
            f"is {old_store.with_name('operators.before-0001.db')}.") in said
    assert any(title == "Setting no longer used" and "BUYPOWER_REQUERY_BUDGET" in text for title, text in said)


@pytest.mark.parametrize("make", [
    lambda p: p.write_bytes(b""),
    lambda p: sqlite3.connect(p).execute("CREATE TABLE notes (x)").connection.commit(),
    lambda p: p.symlink_to(p.with_name("nowhere.db")),
])
def test_db_status_refuses_what_every_other_command_refuses(tmp_path, capsys, make):
    path = tmp_path / "odd.db"
    make(path)
    assert main(["db", "status", "--db", f"sqlite:///{path}"]) == 2  # the option after the action works too
    assert "db status: cannot read the store" in capsys.readouterr().err
    assert main(["--db", f"sqlite:///{path}", "batches"]) == 2


def _at_0003_as_issue_11_first_made_it(connection) -> None:
    """0003 as it stood before its release had first_sent_at (the budget ran from the first
    POST); a store upgraded then has the column, with its value."""
    command.upgrade(schema._config(connection), "0003")
    connection.exec_driver_sql("ALTER TABLE recipient ADD COLUMN first_sent_at TIMESTAMP")


def test_0004_brings_a_store_from_before_the_release_of_0003_to_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'early.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        _at_0003_as_issue_11_first_made_it(connection)
        connection.exec_driver_sql("INSERT INTO batch (name, mode, created_at) VALUES ('b', 'live', '2026-11-30')")
    engine.dispose()
    store = Store.open(url)
    try:
        assert (store.upgraded.before, store.upgraded.after) == ("0003", schema.head())
        assert [b.name for b in store.batches()] == ["b"]
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    finally:
        store.close()


@pytest.mark.skipif(not postgres.available(), reason="PostgreSQL's initdb is not installed (.ci/run installs it)")
def test_0004_gives_postgresql_times_their_zone_and_keeps_the_instant():
    with postgres.server() as url:
        engine = create_engine(url)
        with engine.begin() as connection:  # a store made from the models before times carried a zone
            _at_0003_as_issue_11_first_made_it(connection)
            for table, names in (("batch", ("created_at", "imported_at")), ("event", ("at",))):
                for name in names:
                    connection.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {name} TYPE timestamp "
                                               f"USING {name} AT TIME ZONE 'UTC'")
            connection.exec_driver_sql("INSERT INTO batch (name, mode, created_at) "
                                       "VALUES ('b', 'live', '2026-11-30 09:30:00')")  # written as UTC
        engine.dispose()
        store = Store.open(url)
        try:
            assert store.upgraded.after == schema.head()
            (batch,) = store.batches()
            assert batch.created_at.isoformat() == "2026-11-30T09:30:00+00:00"
            with store.engine.connect() as connection:
                assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
        finally:
            store.close()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_0005_keeps_every_row_of_a_0004_store_and_gives_it_no_extras(tmp_path, dialect):
    """Issue 14: the sheet's other columns are kept from now on; rows imported before have none."""
    if dialect == "postgresql" and not postgres.available():
        pytest.skip("PostgreSQL's initdb is not installed (.ci/run installs it)")
    with (postgres.server() if dialect == "postgresql" else nullcontext(f"sqlite:///{tmp_path / 'at-0004.db'}")) as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            command.upgrade(schema._config(connection), "0004")
            connection.exec_driver_sql("INSERT INTO batch (name, mode, created_at) VALUES ('b', 'live', '2026-11-30')")
            connection.exec_driver_sql("INSERT INTO recipient (batch_id, row_number, state, meter_raw, disco_raw, "
                                       "amount_raw, phone_raw, vend_type_raw, name_raw, email_raw, created_at, "
                                       "updated_at) VALUES (1, 2, 'VALID', '04271892301', 'EKO', '1000', '', '', "
                                       "'', '', '2026-11-30', '2026-11-30')")
        engine.dispose()
        store = Store.open(url)
        try:
            assert (store.upgraded.before, store.upgraded.after) == ("0004", schema.head())
            (row,) = store.rows(1)
            assert row.meter_raw == "04271892301" and row.extras is None
            with store.engine.connect() as connection:
                assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
        finally:
            store.close()
