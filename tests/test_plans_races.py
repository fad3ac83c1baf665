"""Found by the second review: an acceptance covers only what the operator was shown, settling
a row by hand waits for the requery in flight, and a lookup answer about a meter that was
edited meanwhile is thrown away. The sandbox's ledger is the proof of what was paid."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest

from buypower_tui.core import rows
from buypower_tui.core.models import RowState
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.test_plans_hold import Terminal, cli, confirm_dialog, other_process, paid_meters, tui
from tests.ui_support import SIZE, services, settle, steady_screen  # noqa: F401 - autouse fixture

S = RowState
A, B = "62010000001", "62040000004"


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=31, requery_cooldown_s=0, delay=(0,), pending_requeries=1)) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        monkeypatch.setenv("BUYPOWER_REQUERY_FIRST_WAIT", "0.1")
        yield server


def two_batches(capsys, sandbox, tmp_path) -> None:
    """Batch 1: meter A twice (a duplicate to decide) and meter B; batch 2: meter B again."""
    (tmp_path / "one.csv").write_text(f"meter,disco,amount,phone\n{A},EKO,1000,08031234567\n"
                                      f"{A},EKO,1500,08031234567\n{B},ENUGU,2000,08031234567\n")
    (tmp_path / "two.csv").write_text(f"meter,disco,amount,phone\n{B},ENUGU,2000,08031234567\n")
    cli(capsys, sandbox, "import", str(tmp_path / "one.csv"))
    cli(capsys, sandbox, "import", str(tmp_path / "two.csv"))


async def test_accept_in_the_tui_accepts_only_the_duplicates_it_showed(sandbox, capsys, tmp_path):
    two_batches(capsys, sandbox, tmp_path)
    app = tui(sandbox)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await confirm_dialog(pilot)
        assert len(dialog.plan.preflight.unaccepted) == 2
        done = await asyncio.to_thread(other_process, sandbox, "run", "2", "--yes", "--wait-pending", "0")
        assert done.returncode == 0, done.stderr  # meanwhile B is paid from batch 2
        await pilot.press(*"ACCEPT", "enter")
        await settle(pilot)
        again = app.screen.plan
        (b_row,) = again.preflight.unaccepted  # B, never shown as a duplicate: asked about, not accepted
        assert again.preflight.seen[b_row][1] == B and len(again.accepted) == 2
        await pilot.press(*"VEND", "enter")
        await settle(pilot)
        while app.run_active():
            await pilot.pause(0.2)
    assert paid_meters(sandbox)[B] == 1 and paid_meters(sandbox)[A] == 2
    app.services.close()


def test_accept_duplicates_on_the_cli_names_every_duplicate_it_will_pay(sandbox, capsys, tmp_path):
    two_batches(capsys, sandbox, tmp_path)
    assert other_process(sandbox, "run", "2", "--yes", "--wait-pending", "0").returncode == 0
    terminal = Terminal(sandbox, "run", "1", "--accept-duplicates", "--wait-pending", "0")
    terminal.wait_for("Type VEND to confirm")
    said = terminal.text.replace("\r\n", "\n")
    assert f"row 4: meter {B} ₦2,000.00 — paid recently: ₦2,000.00 on " in said
    assert "in batch 2 (row 2) (accepted: it will be paid)" in said
    terminal.type("no")
    assert terminal.finish() == 2 and paid_meters(sandbox)[B] == 1


def test_an_old_acceptance_does_not_cover_a_payment_made_elsewhere_since(sandbox, capsys, tmp_path):
    """Row 3 was accepted as 'twice in this batch', then failed. Batch 2 has since paid the same
    meter and amount: a retry of row 3 is a new duplicate, asked about, not paid unseen."""
    (tmp_path / "one.csv").write_text(f"meter,disco,amount,phone\n{A},EKO,1000,08031234567\n"
                                      f"{A},EKO,2000,08031234567\n")
    (tmp_path / "two.csv").write_text(f"meter,disco,amount,phone\n{A},EKO,2000,08031234567\n")
    cli(capsys, sandbox, "import", str(tmp_path / "one.csv"))
    cli(capsys, sandbox, "import", str(tmp_path / "two.csv"))
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        (third,) = [r.id for r in store.rows(1) if r.row_number == 3]
        rows.transition(store, third, (S.VALID,), S.FAILED, order_id="failed-1", duplicate_accepted=True,
                        provider_code="422", provider_message="insufficient wallet balance.")
        assert cli(capsys, sandbox, "run", "2", "--yes", "--wait-pending", "0")[0] == 0
        code, _, err = cli(capsys, sandbox, "retry", "1", "--rows", "3", "--yes", "--wait-pending", "0")
        assert code == 2 and ("row 3: meter 62010000001 ₦2,000.00 — twice in this batch: same meter as row 2; "
                              "paid recently: ₦2,000.00 on ") in err
        assert rows.get(store, third).state == S.FAILED and rows.get(store, third).order_id == "failed-1"
    finally:
        store.close()
    assert paid_meters(sandbox)[A] == 1


def test_resolving_waits_for_the_requery_in_flight_and_the_token_is_kept(sandbox, capsys, tmp_path):
    (tmp_path / "one.csv").write_text("meter,disco,amount,phone\n55500000001,ABUJA,1000,08031234567\n")
    sandbox.update_config(pending_requeries=1)
    cli(capsys, sandbox, "import", str(tmp_path / "one.csv"))
    cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    time.sleep(0.2)
    cli(capsys, sandbox, "requery", "1")  # BuyPower's one "still pending" (unless the run asked already)
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        (row,) = list(store.rows(1))
        rows.transition(store, row.id, (row.state,), S.NEEDS_REVIEW)  # as the spent requery budget does
        sandbox.update_config(latency_ms=3000)
        asked = sandbox.ledger.requests().get("requery", 0)
        requery = subprocess.Popen([sys.executable, "-m", "buypower_tui", "--sandbox", sandbox.url, "requery", "1"],
                                   env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 30
        while sandbox.ledger.requests().get("requery", 0) == asked:  # it is asking BuyPower now
            assert time.monotonic() < end and requery.poll() is None
            time.sleep(0.05)
        code, _, err = cli(capsys, sandbox, "resolve", "1", "--rows", "2", "--as", "paid", "--note", "customer")
        assert code == 2 and "is paying or requerying from this store" in err
        requery.communicate(timeout=60)
        row = rows.get(store, row.id)
        assert row.state == S.SUCCESS and row.token == sandbox.ledger.order(row.order_id).token
    finally:
        store.close()


def test_an_edit_during_the_lookup_throws_the_stale_answer_away(sandbox, capsys, tmp_path):
    (tmp_path / "one.csv").write_text(f"meter,disco,amount,phone\n{A},EKO,1000,08031234567\n")
    cli(capsys, sandbox, "import", str(tmp_path / "one.csv"))
    s = services("--sandbox", "--base-url", sandbox.url)
    sandbox.update_config(latency_ms=1500)
    reports = []
    worker = threading.Thread(target=lambda: reports.append(s.lookup(1, lambda *_: None)))
    worker.start()
    end = time.monotonic() + 30
    while not sandbox.ledger.requests().get("check_meter"):  # the meter check is at BuyPower
        assert time.monotonic() < end
        time.sleep(0.05)
    (row,) = list(s.store.rows(1))
    rows.edit_row(s.store, row.id, {"meter": "62030000003", "disco": "IBADAN", "amount": "5000"}, s.limits)
    worker.join()
    row = rows.get(s.store, row.id)
    assert row.state == S.VALID and row.customer_name is None  # not verified with the old meter's answer
    assert "changed during the lookup" in " ".join(reports[0].errors)
    s.close()
