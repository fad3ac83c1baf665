"""Two-person approval (issue 15 §3): with approval = "two-person" the operator who imported or
edited a batch cannot confirm paying it; another operator types VEND. Refused in the CLI
(exit 2, before VEND is asked, --yes or not) and in the TUI (the dialog says who prepared the
batch and asks for no word); the history names who approved each paid row.

Operators: on PostgreSQL each is a database role (two roles, the real thing); on SQLite the OS
user (the uid's name), which a test stands in for (`as_os_user`).
A store's operator is also set directly (`be`) where a test needs other machines."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from buypower_tui.core import rows, schema
from buypower_tui.core import store as store_module
from buypower_tui.core.approval import approval_problem, person, plan_approves, preparer
from buypower_tui.core.models import RowState
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.history import history_table
from buypower_tui.ui.screens.meter_history import MeterHistoryScreen
from tests.engine_helpers import cli, cli_sandbox
from tests.ui_support import confirm_dialog, screen_text, services, steady_screen, until  # noqa: F401 - autouse

S = RowState
HOST = socket.gethostname()
MAINTENANCE = "55500000007"  # the sandbox answers 501 "requires maintenance": FAILED, nothing vended
METERS = ("45143922341", "45143922342", MAINTENANCE)


@pytest.fixture
def sandbox(monkeypatch):
    with cli_sandbox(monkeypatch, seed=15) as server:
        yield server


@pytest.fixture
def two_person(monkeypatch):
    monkeypatch.setenv("BUYPOWER_APPROVAL", "two-person")


def sheet(tmp_path, name: str, *meters: str, amount: int = 1000) -> Path:
    """A sheet of these meters (ABUJA), as a path the CLI and the services take alike."""
    path = tmp_path / name
    path.write_text("meter,disco,amount,phone\n" + "".join(f"{m},ABUJA,{amount},08031234567\n" for m in meters))
    return path


def as_os_user(monkeypatch, name: str) -> str:
    """This process acts as OS user `name` from now on (a store opened after this names them):
    the uid's name is what counts, which a test can only stand in for here."""
    monkeypatch.setattr(store_module, "operator_name", lambda: f"{name}@{HOST}")
    return f"{name}@{HOST}"


def test_the_os_user_is_the_uids_not_what_user_or_logname_say(monkeypatch):
    """The review got past two-person approval on SQLite with `USER=mallory LOGNAME=mallory`."""
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    for var in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(var, "mallory")
    assert store_module.operator_name() == f"{me}@{HOST}"


def be(svc, operator: str) -> None:
    """The services' store acts as `operator` (user@host) from now on: another workstation."""
    svc.store.__dict__["operator"] = operator


def sqlite_store() -> Store:
    return Store.open(f"sqlite:///{AppPaths.resolve().db_file}")


def states(store: Store, batch_id: int) -> dict[str, str]:
    return {r.meter: r.state for r in store.rows(batch_id)}


# -- who prepared a batch ---------------------------------------------------------------------------


def test_the_import_and_every_change_of_what_a_batch_pays_make_their_operator_the_preparer(tmp_path):
    svc = services()
    be(svc, "ada@ws1")
    b = svc.import_sheet(sheet(tmp_path, "a.csv", "45143922341", "45143922342", "1234", amount=1000)).batch_id

    def prepared() -> str:
        return preparer(svc.store, b).operator

    assert prepared() == "ada@ws1" and preparer(svc.store, b).at is not None
    first, second, invalid = (r.id for r in svc.rows(b))

    # not preparing: a rename, closing a row that will not be paid and opening it again
    be(svc, "bola@ws2")
    svc.rename_batch(b, "March")
    svc.close_rows([invalid], "tenant moved out")
    svc.reopen_rows([invalid], "back after all")
    assert prepared() == "ada@ws1"

    before = preparer(svc.store, b).at
    acts = [("bola@ws2", lambda: svc.edit_row(first, {"amount": "1500"})),  # the row editor
            ("chi@ws3", lambda: svc.edit_rows(b, {first: {"amount": "1600"}})),  # a bulk edit, a merged sheet
            ("ada@ws1", lambda: svc.add_row(b, {"meter": "45143922343", "disco": "ABUJA", "amount": "700",
                                               "phone": "08031234567"})),
            ("bola@ws2", lambda: svc.copy_row(second)),
            ("chi@ws3", lambda: svc.undo(b)),  # the copy taken back
            ("ada@ws1", lambda: svc.delete_rows(b, [invalid])),
            ("bola@ws2", lambda: svc.undo(b)),  # the row deleted comes back
            ("chi@ws3", lambda: svc.copy_row(second)),
            ("ada@ws1", lambda: svc.accept_duplicates(b, [second])),
            ("bola@ws2", lambda: svc.edit_row(first, {"amount": "250000"})),
            ("chi@ws3", lambda: svc.split_row(first))]  # over the maximum: split into rows that add up
    for who, act in acts:
        be(svc, who)
        act()
        assert prepared().split(", ")[-1] == who, who  # each preparer once, the last one last
    assert preparer(svc.store, b).at > before
    assert prepared() == "ada@ws1, bola@ws2, chi@ws3"

    be(svc, "dayo@ws4")  # a repeat makes a new batch: whoever repeats it prepared it
    again = svc.repeat_batch(b).batch_id
    assert preparer(svc.store, again).operator == "dayo@ws4" and prepared() == "ada@ws1, bola@ws2, chi@ws3"
    svc.close()


def test_everyone_who_prepared_a_part_is_refused_not_only_the_last(tmp_path):
    """The review's way round: ada imports, bola fixes one row, ada confirms her own rows."""
    svc = services()
    be(svc, "ada@ws1")
    b = svc.import_sheet(sheet(tmp_path, "a.csv", "45143922341", "45143922342")).batch_id
    be(svc, "bola@ws2")
    svc.edit_row(next(iter(svc.rows(b))).id, {"amount": "1500"})
    said = approval_problem(svc.store, b, "two-person", operator="ada@ws1")
    assert said and "prepared (imported or edited) by ada@ws1 and bola@ws2 (last on " in said
    assert approval_problem(svc.store, b, "two-person", operator="bola@laptop")
    assert approval_problem(svc.store, b, "two-person", operator="chi@ws3") is None
    svc.close()


def test_a_role_whose_name_holds_a_comma_is_still_one_person(tmp_path):
    """The second review's way round: role "dan, x" read back as the two people "dan" and "x"."""
    svc = services()
    be(svc, "dan, x@ws1")
    b = svc.import_sheet(sheet(tmp_path, "a.csv", "45143922341")).batch_id
    be(svc, "ada@ws2")
    svc.edit_row(next(iter(svc.rows(b))).id, {"amount": "1500"})
    assert preparer(svc.store, b).operators == ("dan, x@ws1", "ada@ws2")
    assert approval_problem(svc.store, b, "two-person", operator="dan, x@laptop")
    assert approval_problem(svc.store, b, "two-person", operator="dan@ws1") is None
    svc.close()


def test_the_rule_compares_the_person_not_the_machine_and_only_guards_new_orders(tmp_path):
    svc = services()
    be(svc, "ada@ws1")
    b = svc.import_sheet(sheet(tmp_path, "a.csv", "45143922341")).batch_id
    store = svc.store
    assert approval_problem(store, b, "single") is None  # the default: whoever prepared it may pay it
    said = approval_problem(store, b, "two-person", operator="ada@laptop")  # the same role, another machine
    assert said.startswith(f"batch {b} was prepared (imported or edited) by ada@ws1 on ")
    assert ('with approval = "two-person" an operator who prepared no part of it must confirm it '
            "(you are ada@laptop)") in said
    assert approval_problem(store, b, "two-person") == said.replace("ada@laptop", "ada@ws1")  # this process's
    assert approval_problem(store, b, "two-person", operator="bola@ws1") is None
    assert approval_problem(store, 99, "two-person") is None  # no such batch: batch_problem says so
    assert (person("ada@ws1"), person("first.last@corp@ws2"), person("ada")) == ("ada", "first.last@corp", "ada")

    def plan(send=(), resend=(), retrying=()):
        return SimpleNamespace(batch_id=b, preflight=SimpleNamespace(send=list(send), resend=list(resend)),
                               retrying=tuple(retrying))

    assert plan_approves(plan(send=[1]))  # VERIFIED rows get orderIds
    assert plan_approves(plan(resend=[2], retrying=[2]))  # a FAILED row retried under a new orderId
    assert not plan_approves(plan(resend=[3]))  # sent under the orderId it was approved with
    assert not plan_approves(plan())
    svc.close()


def test_the_run_checks_again_when_it_approves_so_no_face_can_skip_it(sandbox, tmp_path, two_person):
    """A plan asked for by one operator and confirmed by the batch's preparer (a face that did
    not ask, or the batch edited between the question and VEND): ApprovalRefused, nothing approved."""
    from buypower_tui.services import ApprovalRefused, RunControl

    svc = services("--sandbox", "--base-url", sandbox.url)
    be(svc, "ada@ws1")
    svc.import_sheet(sheet(tmp_path, "a.csv", *METERS[:2]))
    be(svc, "bola@ws2")
    plan = svc.plan(1)
    assert plan.preflight.count == 2 and svc.approval_problem(plan) is None
    be(svc, "ada@ws2")
    with pytest.raises(ApprovalRefused, match=r"prepared .* by ada@ws1 on .*\(you are ada@ws2\)"):
        RunControl(svc, plan, lambda progress: None).run()
    assert sandbox.ledger.vends() == [] and all(r.order_id is None for r in svc.rows(1))
    svc.close()


# -- the CLI ------------------------------------------------------------------------------------------


def test_cli_the_preparer_is_refused_before_vend_and_another_operator_pays_runs_and_retries(
        sandbox, capsys, tmp_path, monkeypatch, two_person):
    ada = as_os_user(monkeypatch, "ada")
    assert cli(capsys, sandbox, "import", str(sheet(tmp_path, "a.csv", *METERS)))[0] == 0
    for argv in (("run", "1", "--yes"), ("run", "1")):  # --yes or a prompt: refused before VEND is asked
        code, _, err = cli(capsys, sandbox, *argv)
        assert code == 2, err
        assert f"prepared by {ada} on " in err
        assert f"run: batch 1 was prepared (imported or edited) by {ada} on " in err
        assert (f"an operator who prepared no part of it must confirm it (you are {ada}). Nothing was approved or "
                "paid") in err
        assert "Type VEND" not in err and "not confirmed" not in err
    assert sandbox.ledger.vends() == []
    store = sqlite_store()
    assert not rows.ids_in(store, 1, (S.APPROVED,)) and all(r.order_id is None for r in store.rows(1))
    store.close()

    bola = as_os_user(monkeypatch, "bola")
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 1, err  # paid, but for the meter that needs maintenance (FAILED)
    assert f"prepared by {ada} on " in err and f"you are {bola}" in err
    assert Counter(v["meter"] for v in sandbox.ledger.vends()) == Counter(METERS[:2])

    # a retry gives FAILED rows new orderIds: a confirmation like any other
    as_os_user(monkeypatch, "ada")
    code, _, err = cli(capsys, sandbox, "retry", "1", "--failed", "--yes")
    assert code == 2 and "an operator who prepared no part of it must confirm it" in err, err
    store = sqlite_store()
    failed = next(r for r in store.rows(1) if r.meter == MAINTENANCE)
    store.close()
    assert failed.state == S.FAILED
    as_os_user(monkeypatch, "bola")
    code, _, err = cli(capsys, sandbox, "retry", "1", "--failed", "--yes", "--wait-pending", "0")
    assert code == 1 and "retried under a new orderId" in err, err  # sent again (and BuyPower says no again)
    store = sqlite_store()
    assert rows.get(store, failed.id).order_id != failed.order_id
    assert preparer(store, 1).operator == ada  # lookups, approvals, runs and retries prepare nothing
    store.close()

    # the history names who approved
    code, out, _ = cli(capsys, sandbox, "history", METERS[0])
    header, line = out.splitlines()[1:3]
    assert code == 0 and "approved by" in header and bola in line
    code, out, _ = cli(capsys, sandbox, "history", MAINTENANCE, "--json")
    assert json.loads(out.splitlines()[0])["approved_by"] == bola  # the retry, which approved its new order


def test_cli_rows_approved_by_another_operator_are_sent_by_the_preparer_under_their_orderids(
        sandbox, capsys, tmp_path, monkeypatch, two_person):
    """Decided in core/approval.py: sending rows that already have an orderId needs no second
    person; they were approved already, by someone else, and can no longer be edited."""
    as_os_user(monkeypatch, "ada")
    assert cli(capsys, sandbox, "import", str(sheet(tmp_path, "a.csv", *METERS[:2])))[0] == 0
    store = sqlite_store()
    store.__dict__["operator"] = "bola@ws2"  # bola approved them; the run stopped before any was sent
    ids = [r.id for r in store.rows(1)]
    for row_id in ids:
        rows.transition(store, row_id, (S.VALID,), S.VERIFIED, note="meter verified")
    assert rows.approve(store, ids, every=True) == 2
    store.close()
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 0, err
    assert Counter(v["meter"] for v in sandbox.ledger.vends()) == Counter(METERS[:2])
    code, out, _ = cli(capsys, sandbox, "history", METERS[0], "--json")
    assert json.loads(out)["approved_by"] == "bola@ws2"


def test_cli_single_approval_lets_the_preparer_pay_as_before(sandbox, capsys, tmp_path, monkeypatch):
    as_os_user(monkeypatch, "ada")
    assert cli(capsys, sandbox, "import", str(sheet(tmp_path, "a.csv", *METERS[:2])))[0] == 0
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 0 and "prepared by" not in err, err


@pytest.fixture
def roles(pg_server):
    """Two operators, each with their own login, sharing one store made by the first."""
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        known = {r for (r,) in conn.execute(text("SELECT rolname FROM pg_roles"))}
        for role in ("chioma", "dayo"):
            if role not in known:
                conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text("DROP DATABASE IF EXISTS approvals"))
        conn.execute(text("CREATE DATABASE approvals OWNER chioma"))
    admin.dispose()
    server = pg_server.rsplit("@", 1)[1].rsplit("/", 1)[0]
    return tuple(f"postgresql+psycopg://{role}@{server}/approvals" for role in ("chioma", "dayo"))


def test_postgresql_two_roles_the_preparer_is_refused_the_other_pays_and_is_named_in_the_history(
        sandbox, capsys, tmp_path, monkeypatch, roles):
    as_chioma, as_dayo = roles
    monkeypatch.setenv("BUYPOWER_APPROVAL", "two-person")
    assert cli(capsys, sandbox, "--db", as_chioma, "import", str(sheet(tmp_path, "a.csv", *METERS[:2])))[0] == 0
    owner = create_engine(as_chioma, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:  # what README's "Team mode" has the owner grant each operator
        conn.execute(text("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO dayo"))
        conn.execute(text("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO dayo"))
    owner.dispose()

    code, _, err = cli(capsys, sandbox, "--db", as_chioma, "run", "1", "--yes")
    assert code == 2, err
    assert f"batch 1 was prepared (imported or edited) by chioma@{HOST} on " in err
    assert sandbox.ledger.vends() == []

    code, _, err = cli(capsys, sandbox, "--db", as_dayo, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 0, err
    assert f"prepared by chioma@{HOST} on " in err and f"you are dayo@{HOST}" in err
    assert Counter(v["meter"] for v in sandbox.ledger.vends()) == Counter(METERS[:2])

    code, out, _ = cli(capsys, sandbox, "--db", as_chioma, "history", METERS[1], "--json")
    assert code == 0 and json.loads(out)["approved_by"] == f"dayo@{HOST}"
    store = Store.open(as_chioma)
    try:
        assert preparer(store, 1).operator == f"chioma@{HOST}"
        assert states(store, 1) == dict.fromkeys(METERS[:2], S.SUCCESS)
    finally:
        store.close()

    monkeypatch.setenv("BUYPOWER_APPROVAL", "single")  # the default: the preparer pays, as before
    assert cli(capsys, sandbox, "--db", as_chioma, "import", str(sheet(tmp_path, "b.csv", "45143922343")))[0] == 0
    code, _, err = cli(capsys, sandbox, "--db", as_chioma, "run", "2", "--yes", "--wait-pending", "0")
    assert code == 0 and "prepared by" not in err, err


def test_postgresql_the_stores_own_rule_holds_for_an_operator_whose_config_says_single(
        sandbox, capsys, tmp_path, monkeypatch, roles):
    """The owner sets the rule in the store (`db approval two-person`); an operator granted what
    README's Team mode grants cannot change it, and their own config cannot turn it off."""
    as_chioma, as_dayo = roles
    monkeypatch.setenv("BUYPOWER_APPROVAL", "single")
    code, out, err = cli(capsys, sandbox, "--db", as_chioma, "db", "approval", "two-person")
    assert code == 0 and f"store's rule        two-person (set by chioma@{HOST} on " in out, out + err
    owner = create_engine(as_chioma, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:  # README's grants: the rows, not the store's rules
        conn.execute(text("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO dayo"))
        conn.execute(text("REVOKE INSERT, UPDATE, DELETE ON store_setting FROM dayo"))
        conn.execute(text("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO dayo"))
    owner.dispose()
    code, _, err = cli(capsys, sandbox, "--db", as_dayo, "db", "approval", "single")
    assert code == 2 and "the database refused (permission denied for table store_setting)" in err, err
    assert cli(capsys, sandbox, "--db", as_dayo, "import", str(sheet(tmp_path, "a.csv", *METERS[:2])))[0] == 0
    code, _, err = cli(capsys, sandbox, "--db", as_dayo, "run", "1", "--yes")
    assert code == 2 and f"batch 1 was prepared (imported or edited) by dayo@{HOST} on " in err, err
    assert sandbox.ledger.vends() == []
    code, _, err = cli(capsys, sandbox, "--db", as_chioma, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 0 and f"you are chioma@{HOST}" in err, err
    assert Counter(v["meter"] for v in sandbox.ledger.vends()) == Counter(METERS[:2])


# -- the TUI --------------------------------------------------------------------------------------------


async def test_tui_the_dialog_names_the_preparer_refuses_them_and_another_operator_pays(
        sandbox, tmp_path, monkeypatch, two_person):
    ada = as_os_user(monkeypatch, "ada")
    svc = services("--sandbox", "--base-url", sandbox.url)
    svc.import_sheet(sheet(tmp_path, "a.csv", *METERS[:2]))
    app = BuyPowerApp(svc, recover=False)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await confirm_dialog(pilot, 1)
        shown = screen_text(app)
        assert "Prepared by" in shown and ada in shown
        assert "You cannot confirm this: batch 1 was prepared" in shown
        assert "an operator who prepared no part of it must" in shown
        assert "an operator who prepared no part of it must confirm it" in dialog.refusal
        assert not dialog.query("#vend-word")
        await pilot.press(*"VEND", "enter")  # nowhere to type it: nothing happens
        await pilot.pause()
        assert app.screen is dialog and not app.run_active()
        await pilot.press("escape")
        await pilot.pause()
    svc.close()
    assert sandbox.ledger.vends() == []

    bola = as_os_user(monkeypatch, "bola")
    svc = services("--sandbox", "--base-url", sandbox.url)
    app = BuyPowerApp(svc, recover=False)
    app.wait_pending_s = 0
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await confirm_dialog(pilot, 1)
        shown = screen_text(app)
        assert "Prepared by" in shown and ada in shown and dialog.refusal is None
        assert "You cannot confirm" not in shown
        await pilot.press(*"VEND", "enter")
        await until(pilot, lambda: app.run_control is not None and not app.run_active())
        assert Counter(v["meter"] for v in sandbox.ledger.vends()) == Counter(METERS[:2])

        history = MeterHistoryScreen(METERS[0])  # who approved it, under its state; numbers whole at 80 columns
        await app.push_screen(history)
        await pilot.pause()
        shown = screen_text(app)
        assert "Approved by" in shown and bola in shown and "SUCCESS" in shown and "₦1,000.00" in shown
        assert max(map(len, shown.splitlines())) <= 80 and not history.cramped
        assert ("state", "approved", "receipt", "units") in [fields for fields, _ in history.shown]
        receipt = svc.meter_history(METERS[0]).rows[0].receipt
        assert receipt and receipt in shown
        events = svc.history(history.history.rows[0].row_id)
    svc.close()
    approved = [e for e in events if e.new_state == S.APPROVED]
    assert [e.operator for e in approved] == [bola]
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(history_table(approved))
    assert f"approved; by {bola}" in console.export_text()  # the row's history (h) names who


# -- the migration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_0006_gives_each_batch_the_operators_of_its_preparing_events(tmp_path, dialect, request):
    url = (request.getfixturevalue("pg_url") if dialect == "postgresql" else f"sqlite:///{tmp_path / 'at-0005.db'}")
    engine = create_engine(url)

    def at(day: int) -> datetime:
        return datetime(2026, 12, day, 9, 0, tzinfo=UTC)

    events = [  # (batch, row, operator, new_state, note, day)
        (1, None, "ada@ws1", None, "batch created from /x/march.csv", 1),
        (1, None, "ada@ws1", "IMPORTED", "imported 3 rows from march.csv: 3 valid", 1),
        (1, 1, "chi@ws3", "VALID", "edited", 2),
        (1, 1, "bola@ws2", "VERIFIED", "meter verified", 3),  # a lookup
        (1, 1, "bola@ws2", "VERIFIED", "duplicate accepted by the operator", 3),  # at the confirmation
        (1, 1, "bola@ws2", "APPROVED", "approved", 3),
        (1, 2, "dan@ws4", "CLOSED", "closed by the operator: tenant moved out", 4),
        (1, None, "dan@ws4", None, "renamed from 'a' to 'b'", 4),
        (2, None, "eze@ws5", None, "batch created from batch 1 (repeat)", 5),
        (2, None, "eze@ws5", "IMPORTED", "repeated 2 rows from batch 1: 2 valid, 0 invalid", 5),
        (2, 9, "ada@ws1", None, "row 3 deleted by the operator", 6),
        (2, 8, "bola@ws2", "VALID", "merged from march-fixed.csv", 6),  # the last: same day, later id
    ]
    with engine.begin() as connection:
        command.upgrade(schema._config(connection), "0005")
        for n in (1, 2, 3):
            connection.execute(text("INSERT INTO batch (name, mode, created_at) VALUES (:n, 'live', :at)"),
                               {"n": f"b{n}", "at": at(1)})
        for batch, row, who, state, note, day in events:
            connection.execute(text("INSERT INTO event (batch_id, recipient_id, operator, new_state, note, at) "
                                    "VALUES (:b, :r, :o, :s, :n, :at)"),
                               {"b": batch, "r": row, "o": who, "s": state, "n": note, "at": at(day)})
    engine.dispose()
    store = Store.open(url)
    try:
        assert (store.upgraded.before, store.upgraded.after) == ("0005", schema.head())
        first, second, none = (preparer(store, b) for b in (1, 2, 3))
        assert (first.operator, first.at) == ("ada@ws1, chi@ws3", datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
        assert second.operator == "eze@ws5, ada@ws1, bola@ws2"
        assert (none.operator, none.at) == (None, None)  # no history at all: nobody recorded
        said = approval_problem(store, 3, "two-person", operator="ada@ws1")
        assert said.startswith("batch 3 has no record of who prepared it")
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext
        from sqlmodel import SQLModel

        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
    finally:
        store.close()
