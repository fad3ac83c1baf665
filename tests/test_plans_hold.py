"""Nothing is paid on a plan that stopped being true between the question and the answer,
and a row the operator marked failed is not paid again before BuyPower says it failed.

The ledger of the sandbox (a real HTTP server) is the proof of what was paid."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

import pytest

from buypower_tui.cli import main
from buypower_tui.core import rows
from buypower_tui.core.models import RowState
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
from tests.engine_helpers import write_batch
from tests.ui_support import SIZE, confirm_dialog, services, settle, steady_screen  # noqa: F401 - autouse fixture

S = RowState


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=31, requery_cooldown_s=0, delay=(0,), pending_requeries=1)) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        monkeypatch.setenv("BUYPOWER_REQUERY_FIRST_WAIT", "0.1")
        yield server


def cli(capsys, sandbox, *argv):
    code = main(["--sandbox", sandbox.url, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def other_process(sandbox, *argv) -> subprocess.CompletedProcess:
    """Another operator's buypower-tui on the same store."""
    return subprocess.run([sys.executable, "-m", "buypower_tui", "--sandbox", sandbox.url, *argv],
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)


def tui(sandbox) -> BuyPowerApp:
    return BuyPowerApp(services("--sandbox", "--base-url", sandbox.url), recover=False)



def paid_meters(sandbox) -> Counter:
    return Counter(v["meter"] for v in sandbox.ledger.vends() if v["status"] != "FAILED")


def two_batches_from_one_sheet(capsys, sandbox, tmp_path, n=6):
    sheet = write_batch(tmp_path / "estate.csv", n, seed=5)
    assert cli(capsys, sandbox, "import", str(sheet))[0] == 0
    assert cli(capsys, sandbox, "import", str(sheet))[0] == 0


async def test_the_tui_checks_the_plan_again_when_vend_is_typed(sandbox, capsys, tmp_path):
    """The CLI pays a batch made from the same sheet while the TUI's confirm dialog is open."""
    two_batches_from_one_sheet(capsys, sandbox, tmp_path)
    app = tui(sandbox)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await confirm_dialog(pilot)
        assert dialog.plan.preflight.count == 6
        done = await asyncio.to_thread(other_process, sandbox, "run", "2", "--yes", "--wait-pending", "0")
        assert done.returncode == 0, done.stderr
        await pilot.press(*"VEND", "enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmRunModal) and dialog.changes, "asked again, with what changed"
        assert "paid, or are being paid, in another batch" in " ".join(dialog.changes)
        assert dialog.plan.preflight.count == 0 and len(dialog.plan.preflight.unaccepted) == 6
        await pilot.press(*"VEND", "enter")  # nothing left that may be paid without a decision
        await settle(pilot)
        assert isinstance(app.screen, ConfirmRunModal)
    assert set(paid_meters(sandbox).values()) == {1} and len(paid_meters(sandbox)) == 6
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        assert {r.state for r in store.rows(1)} == {S.VERIFIED} and all(r.order_id is None for r in store.rows(1))
    finally:
        store.close()
    app.services.close()


class Terminal:
    """`buypower-tui run` at a terminal (a pty), as a person runs it: it asks to type VEND."""

    def __init__(self, sandbox, *argv: str) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "buypower_tui", "--sandbox", sandbox.url, *argv],
                                     stdin=slave, stdout=slave, stderr=slave, env=dict(os.environ))
        os.close(slave)
        self.text = ""

    def wait_for(self, text: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while text not in self.text:
            assert time.monotonic() < end, f"{text!r} never came:\n{self.text}"
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.text += os.read(self.master, 4096).decode(errors="replace")
                except OSError:  # the process ended and closed the terminal
                    assert text in self.text, f"{text!r} never came:\n{self.text}"
        return self.text

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self) -> int:
        code = self.proc.wait(timeout=120)
        self.wait_for("")
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.text += chunk.decode(errors="replace")
        os.close(self.master)
        return code


def test_the_cli_checks_the_plan_again_after_vend_is_typed(sandbox, capsys, tmp_path):
    """While a person reads the prompt, another process pays the same meters: VEND pays nothing."""
    two_batches_from_one_sheet(capsys, sandbox, tmp_path)
    terminal = Terminal(sandbox, "run", "1", "--wait-pending", "0")
    terminal.wait_for("Type VEND to confirm")
    done = other_process(sandbox, "run", "2", "--yes", "--wait-pending", "0")  # the lock is free meanwhile
    assert done.returncode == 0, done.stderr
    terminal.type("VEND")
    assert terminal.finish() == 2
    assert "nothing was paid: since the plan was shown" in terminal.text
    assert "duplicates must be decided explicitly" in terminal.text  # checked again, and said why not
    assert set(paid_meters(sandbox).values()) == {1} and len(paid_meters(sandbox)) == 6


def test_the_cli_pays_nothing_when_the_wallet_fell_short_while_it_asked(sandbox, capsys, tmp_path):
    two_batches_from_one_sheet(capsys, sandbox, tmp_path, n=4)
    terminal = Terminal(sandbox, "run", "1", "--wait-pending", "0")
    terminal.wait_for("Type VEND to confirm")
    sandbox.update_config(wallet=Decimal(600))  # spent elsewhere meanwhile
    terminal.type("VEND")
    assert terminal.finish() == 2
    assert "the wallet now holds ₦600.00" in terminal.text and "SHORTFALL" in terminal.text
    assert sandbox.ledger.vends() == []


def test_a_row_failed_by_hand_is_requeried_and_never_paid_twice(sandbox, capsys, tmp_path):
    """The operator marks a NEEDS_REVIEW row failed; BuyPower later says the order succeeded.
    The retry must find that out first, store the token and refuse: a new order would pay twice."""
    sheet = tmp_path / "one.csv"
    sheet.write_text("meter,disco,amount,phone\n55500000001,ABUJA,1000,08031234567\n")  # pending, then paid
    sandbox.update_config(pending_requeries=4)
    cli(capsys, sandbox, "import", str(sheet))
    assert cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")[0] == 3
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        (row_id,) = rows.ids_in(store, 1, (S.PENDING,))
        rows.transition(store, row_id, (S.PENDING,), S.NEEDS_REVIEW)  # as the spent requery budget does
        order = rows.get(store, row_id).order_id

        code, _, err = cli(capsys, sandbox, "resolve", "1", "--rows", "2", "--as", "failed", "--note", " ")
        assert code == 2 and "--note must say how you know" in err
        code, out, _ = cli(capsys, sandbox, "resolve", "1", "--rows", "2", "--as", "failed",
                           "--note", "support says it failed")
        assert code == 0 and "marked failed by OPERATOR" in out and "still requeried" in out
        assert rows.is_operator_failed(rows.get(store, row_id))

        code, _, err = cli(capsys, sandbox, "retry", "1", "--rows", "2", "--yes")  # BuyPower: still pending
        assert code == 2 and "marked failed by OPERATOR, and BuyPower has not said" in err
        assert rows.get(store, row_id).state == S.FAILED and rows.get(store, row_id).order_id == order

        for _ in range(4):  # `requery` asks about it too, until BuyPower says it was paid
            if cli(capsys, sandbox, "requery", "1")[0] == 0:
                break
        row = rows.get(store, row_id)
        assert row.state == S.SUCCESS and row.order_id == order
        code, _, err = cli(capsys, sandbox, "retry", "1", "--rows", "2", "--yes")
        assert code == 2 and "not FAILED" in err
        assert row.token == sandbox.ledger.order(order).token
        assert "was paid after all" in rows.history(store, row_id)[-1].note
    finally:
        store.close()
    assert paid_meters(sandbox) == Counter({"55500000001": 1})
    assert sandbox.ledger.posts(order) == 1 and len(sandbox.ledger.snapshot()["posts"]) == 1


def test_a_row_buypower_said_failed_is_retried_and_the_wording_says_who_said_it(sandbox, capsys, tmp_path):
    sheet = tmp_path / "m.csv"
    sheet.write_text("meter,disco,amount,phone\n55500000007,ABUJA,1000,08031234567\n")  # maintenance: 501
    cli(capsys, sandbox, "import", str(sheet))
    cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    code, _, err = cli(capsys, sandbox, "retry", "1", "--failed", "--yes")
    assert "retried under a new orderId (BuyPower said the earlier order failed)" in err
    code, _, err = cli(capsys, sandbox, "resolve", "1", "--rows", "2", "--as", "paid", "--note", "x")
    assert code == 2 and "only NEEDS_REVIEW rows are resolved by hand" in err


# -- found by review: what VEND pays is exactly what the operator saw ------------------------------

def _stopped_with_rows_approved(store_path_batch: int) -> None:
    """As a run stopped before sending: every verified row of the batch APPROVED, with its orderId."""
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        for row_id in rows.ids_in(store, store_path_batch, (S.VALID,)):
            rows.transition(store, row_id, (S.VALID,), S.VERIFIED)
        rows.approve(store, rows.ids_in(store, store_path_batch, (S.VERIFIED,)))
    finally:
        store.close()


async def test_the_tui_never_sends_an_approved_row_the_plan_left_out(sandbox, capsys, tmp_path):
    """An approved row that became a duplicate (another batch paid its meter) is left out of the
    plan; VEND 'pays without the duplicates', and the run must not send it anyway."""
    (tmp_path / "a.csv").write_text("meter,disco,amount,phone\n62010000001,EKO,1000,08031234567\n"
                                    "62030000003,IBADAN,1000,08031234567\n62040000004,ENUGU,1000,08031234567\n")
    (tmp_path / "b.csv").write_text("meter,disco,amount,phone\n62040000004,ENUGU,1000,08031234567\n")
    cli(capsys, sandbox, "import", str(tmp_path / "a.csv"))
    cli(capsys, sandbox, "import", str(tmp_path / "b.csv"))
    _stopped_with_rows_approved(1)
    paid_b = await asyncio.to_thread(other_process, sandbox, "run", "2", "--yes", "--accept-duplicates",
                                     "--wait-pending", "0")
    assert paid_b.returncode == 0, paid_b.stderr
    app = tui(sandbox)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await confirm_dialog(pilot)
        assert len(dialog.plan.preflight.unaccepted) == 1
        await pilot.press(*"VEND", "enter")
        await settle(pilot)
        while app.run_active():
            await pilot.pause(0.2)
    assert paid_meters(sandbox) == Counter({"62010000001": 1, "62030000003": 1, "62040000004": 1})
    app.services.close()


async def test_an_edit_between_the_question_and_vend_is_caught(sandbox, capsys, tmp_path):
    """Same rows, same total, but row 3 now pays another meter: the operator never saw that."""
    (tmp_path / "c.csv").write_text("meter,disco,amount,phone\n62050000005,PH,1000,08031234567\n"
                                    "62060000006,JOS,2000,08031234567\n")
    cli(capsys, sandbox, "import", str(tmp_path / "c.csv"))
    app = tui(sandbox)
    async with app.run_test(size=SIZE) as pilot:
        await confirm_dialog(pilot)
        store = app.services.store
        (second,) = [r.id for r in store.rows(1) if r.row_number == 3]
        rows.edit_row(store, second, {"meter": "62050000099"}, app.services.limits)  # another operator's edit
        rows.transition(store, second, (S.VALID,), S.VERIFIED)  # ... and its lookup
        await pilot.press(*"VEND", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmRunModal)
        assert "row 3: meter, amount or details changed" in " ".join(app.screen.changes)
    assert sandbox.ledger.vends() == []
    app.services.close()


def test_max_total_caps_rows_that_already_have_an_order_too(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", str(write_batch(tmp_path / "b.csv", 3, seed=2)))
    _stopped_with_rows_approved(1)
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--max-total", "500", "--wait-pending", "0")
    assert "rows left out to stay within --max-total" in err
    assert sum(Decimal(v["amount"]) for v in sandbox.ledger.vends()) <= 500


def test_ctrl_d_at_the_vend_prompt_is_not_confirmed(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", str(write_batch(tmp_path / "b.csv", 2)))
    terminal = Terminal(sandbox, "run", "1", "--wait-pending", "0")
    terminal.wait_for("Type VEND to confirm")
    os.write(terminal.master, b"\x04")
    assert terminal.finish() == 2
    assert "not confirmed; nothing was paid" in terminal.text and "unexpected" not in terminal.text
    assert sandbox.ledger.vends() == []


def test_a_slip_at_the_vend_prompt_says_what_is_needed_and_asks_again(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", str(write_batch(tmp_path / "b.csv", 1)))
    terminal = Terminal(sandbox, "run", "1", "--wait-pending", "0")
    terminal.wait_for("Type VEND to confirm")
    os.write(terminal.master, b"vend\n")
    terminal.wait_for("Type VEND in capitals to pay")
    assert sandbox.ledger.vends() == []  # lower case pays nothing, and the question comes again
    os.write(terminal.master, b"\n")
    assert terminal.finish() == 2
    assert "not confirmed; nothing was paid" in terminal.text and sandbox.ledger.vends() == []


def test_resolving_never_replaces_the_token_buypower_sent(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", str(write_batch(tmp_path / "b.csv", 1)))
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        (row_id,) = rows.ids_in(store, 1, (S.VALID,))
        rows.transition(store, row_id, (S.VALID,), S.NEEDS_REVIEW, token="0" * 20)  # paid; the answer looked wrong
        code, _, err = cli(capsys, sandbox, "resolve", "1", "--rows", "2", "--as", "paid", "--note", "support",
                           "--token", "1234 5678 9012 3456 7890")
        assert code == 2 and "already has the token BuyPower sent" in err
        assert rows.get(store, row_id).token == "0" * 20 and rows.get(store, row_id).state == S.NEEDS_REVIEW
        assert cli(capsys, sandbox, "resolve", "1", "--rows", "2", "--as", "paid", "--note", "support")[0] == 0
        assert rows.get(store, row_id).token == "0" * 20 and rows.get(store, row_id).state == S.SUCCESS
    finally:
        store.close()
