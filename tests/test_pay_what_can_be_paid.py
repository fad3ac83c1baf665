"""Pay what can be paid, unattended: --skip-duplicates (and SKIP), --max-total and "pay what
fits" (FIT) name the rows they leave and leave them saying why; the low-wallet threshold.

Against the sandbox (a real HTTP server); its ledger is the proof of what was paid."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from buypower_tui.cli import main
from buypower_tui.core import rows
from buypower_tui.core.lookup import LookupReport
from buypower_tui.core.models import RowState
from buypower_tui.core.plan import RunPlan
from buypower_tui.core.preflight import Preflight
from buypower_tui.core.recovery import RecoveryReport
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
from tests.engine_helpers import cli, cli_sandbox
from tests.ui_support import SIZE, confirm_dialog, demo_app, screen_text, services, settle, steady_screen, until  # noqa: F401

S = RowState


@pytest.fixture
def sandbox(monkeypatch):
    with cli_sandbox(monkeypatch, seed=21, pending_requeries=1) as server:
        yield server



def sheet(tmp_path, name: str, *recipients: tuple[str, int]) -> str:
    path = tmp_path / name
    path.write_text("meter,disco,amount,phone\n" + "".join(f"{m},ABUJA,{a},08031234567\n" for m, a in recipients))
    return str(path)


def by_row(batch_id: int) -> dict:
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        return {r.row_number: r for r in store.rows(batch_id)}
    finally:
        store.close()


def history_notes(row_id: int) -> list[str]:
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        return [e.note or "" for e in rows.history(store, row_id)]
    finally:
        store.close()


def paid(sandbox) -> Counter:
    return Counter(v["meter"] for v in sandbox.ledger.vends())


PAID_BEFORE = "45143922321"  # paid in batch 1, then again in batch 2 (same amount): the recent-duplicate guard
TWICE = "45143922323"  # twice in batch 2


def with_duplicates(capsys, sandbox, tmp_path) -> None:
    """Batch 1 pays PAID_BEFORE; batch 2 (sheet rows 2-6): PAID_BEFORE again, two clean meters
    and TWICE at rows 4 and 5."""
    assert cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", (PAID_BEFORE, 1000)))[0] == 0
    assert cli(capsys, sandbox, "run", "1", "--yes")[0] == 0
    assert cli(capsys, sandbox, "import", sheet(tmp_path, "b.csv", (PAID_BEFORE, 1000), ("45143922322", 2000),
                                                (TWICE, 1500), (TWICE, 1500), ("45143922324", 1000)))[0] == 0


def test_run_skip_duplicates_pays_the_others_and_names_the_duplicates_left(sandbox, capsys, tmp_path):
    with_duplicates(capsys, sandbox, tmp_path)
    with pytest.raises(SystemExit) as refused:  # one answer or the other, never both
        main(["--sandbox", sandbox.url, "run", "2", "--yes", "--skip-duplicates", "--accept-duplicates"])
    assert refused.value.code == 2 and "not allowed with" in capsys.readouterr().err

    code, _, err = cli(capsys, sandbox, "run", "2", "--yes", "--skip-duplicates")
    assert code == 3, err  # rows were left
    assert paid(sandbox) == Counter({PAID_BEFORE: 1, "45143922322": 1, "45143922324": 1})
    assert "3 duplicate rows left unpaid (--skip-duplicates), ₦4,000.00" in err
    assert (f"row 2: meter {PAID_BEFORE} ₦1,000.00 — paid recently: ₦1,000.00 on " in err
            and "in batch 1 (row 2) (left unpaid)" in err)
    assert f"row 4: meter {TWICE} ₦1,500.00 — twice in this batch: same meter as row 5 (left unpaid)" in err
    assert f"row 5: meter {TWICE} ₦1,500.00 — twice in this batch: same meter as row 4 (left unpaid)" in err
    after = by_row(2)
    assert {n: r.state for n, r in after.items()} == {2: S.VERIFIED, 3: S.SUCCESS, 4: S.VERIFIED, 5: S.VERIFIED,
                                                     6: S.SUCCESS}
    for n in (2, 4, 5):  # never approved: no orderId; the batch view and the history say why
        assert after[n].order_id is None and after[n].provider_message.startswith("left out: ")
        assert after[n].provider_message in history_notes(after[n].id)
    assert "(skipped on " in after[4].provider_message and "same meter as row 5" in after[4].provider_message

    code, _, err = cli(capsys, sandbox, "run", "2", "--yes", "--skip-duplicates")  # cron, the next time
    assert code == 3 and "nothing to send but the duplicates left unpaid" in err
    assert sum(paid(sandbox).values()) == 3


def test_retry_skip_duplicates_leaves_the_duplicate_failed(sandbox, capsys, tmp_path):
    maintenance, fails_later = "55500000007", "55500000002"
    cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", (maintenance, 1000), (fails_later, 1000)))
    code, out, _ = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 1 and "2 FAILED" in out, out
    # the same meter and amount in flight in batch 2 (approved, not yet sent)
    cli(capsys, sandbox, "import", sheet(tmp_path, "b.csv", (maintenance, 1000)))
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        (row_id,) = rows.ids_in(store, 2, ("VALID",))
        rows.transition(store, row_id, ("VALID",), "VERIFIED")
        rows.approve(store, [row_id])
    finally:
        store.close()
    before = by_row(1)
    code, _, err = cli(capsys, sandbox, "retry", "1", "--failed", "--yes", "--skip-duplicates", "--wait-pending", "0")
    assert code == 1, err  # the duplicate is still FAILED
    assert f"row 2: meter {maintenance} ₦1,000.00 — still in flight elsewhere: ₦1,000.00 in batch 2 (row 2), " \
           "APPROVED (left unpaid)" in err
    assert "row 3: retried under a new orderId" in err
    after = by_row(1)
    assert after[2].state == S.FAILED and after[2].order_id == before[2].order_id  # not retried
    assert after[3].order_id != before[3].order_id
    assert paid(sandbox)[maintenance] == 0 and len(sandbox.ledger.snapshot()["rejected"]) == 1
    with pytest.raises(SystemExit) as refused:
        main(["--sandbox", sandbox.url, "retry", "1", "--failed", "--skip-duplicates", "--accept-duplicates"])
    assert refused.value.code == 2


def test_max_total_names_the_rows_left_out_and_they_say_so(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", ("45143922331", 1000), ("45143922332", 3000),
                                         ("45143922333", 1000), ("45143922334", 2000)))
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--max-total", "2500")
    assert code == 3, err
    assert ("2 rows left out to stay within --max-total ₦2,500.00: ₦5,000.00, sheet rows 3, 5 (they stay "
            "VERIFIED") in err
    assert paid(sandbox) == Counter({"45143922331": 1, "45143922333": 1})  # in sheet order, each that fits
    after = by_row(1)
    for n in (3, 5):
        assert after[n].state == S.VERIFIED and after[n].order_id is None
        assert after[n].provider_message.startswith("left out: over --max-total ₦2,500.00 on ")
        assert after[n].provider_message in history_notes(after[n].id)
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes")  # still payable: the next run pays them
    assert code == 0, err
    again = by_row(1)
    assert all(r.state == S.SUCCESS and not (r.provider_message or "").startswith("left out") for r in again.values())


def test_a_run_that_sends_nothing_still_notes_the_rows_it_leaves_out(sandbox, capsys, tmp_path):
    """Review of issue 14: every row over --max-total (or every row a skipped duplicate): the run
    sends nothing, and the rows say so all the same (before, only a run that sent wrote it)."""
    cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", ("45143922351", 1000), ("45143922352", 3000)))
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--max-total", "500")
    assert code == 3, err  # rows were left, none failed
    assert "2 rows left out to stay within --max-total ₦500.00: ₦4,000.00, sheet rows 2, 3 (they stay VERIFIED" in err
    assert ("run: nothing to send but the rows over --max-total ₦500.00; 2 rows marked left out (their status, "
            "export and history say why)") in err
    assert sandbox.ledger.vends() == []
    for row in by_row(1).values():
        assert row.state == S.VERIFIED and row.order_id is None
        assert row.provider_message.startswith("left out: over --max-total ₦500.00 on ")
        assert row.provider_message in history_notes(row.id)

    cli(capsys, sandbox, "import", sheet(tmp_path, "b.csv", (TWICE, 1500), (TWICE, 1500)))
    code, _, err = cli(capsys, sandbox, "run", "2", "--yes", "--skip-duplicates")
    assert code == 3, err
    assert "run: nothing to send but the duplicates left unpaid; 2 rows marked left out" in err
    assert sandbox.ledger.vends() == []
    for row in by_row(2).values():
        assert row.state == S.VERIFIED and row.provider_message.startswith("left out: twice in this batch")
        assert row.provider_message in history_notes(row.id)


def test_max_total_names_rows_with_an_order_id_by_their_state_and_sends_them_later_under_it(
        sandbox, capsys, tmp_path):
    """Review of issue 14: --max-total plans rows with an orderId from an earlier run first
    (APPROVED: approved, never sent; NOT_SENT: the request never left). Left out, they are not
    VERIFIED: they keep their state and orderId, are named so and noted, and a later run sends
    them under that same orderId."""
    cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", ("45143922361", 1000), ("45143922362", 3000),
                                         ("45143922363", 4000), ("45143922364", 1000)))
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        ids = {r.row_number: r.id for r in store.rows(1)}
        for n in (3, 4):  # as a run stopped before sending them would leave them
            rows.transition(store, ids[n], (S.VALID,), S.VERIFIED)
        rows.approve(store, [ids[3], ids[4]], every=True)
        rows.transition(store, ids[4], (S.APPROVED,), S.NOT_SENT, note="not sent: connect error (test)")
    finally:
        store.close()
    orders = {n: r.order_id for n, r in by_row(1).items()}
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--max-total", "2500")
    assert code == 3, err
    assert ("2 rows left out to stay within --max-total ₦2,500.00: ₦7,000.00, sheet rows 3, 4 (row 3 stays "
            "APPROVED with the orderId it has (never sent: a later run sends it under that same orderId); row 4 "
            "stays NOT_SENT with the orderId it has (never sent: a later run sends it under that same orderId); "
            "all marked left out)") in err
    assert "stay VERIFIED" not in err
    assert paid(sandbox) == Counter({"45143922361": 1, "45143922364": 1})
    after = by_row(1)
    assert (after[3].state, after[4].state) == (S.APPROVED, S.NOT_SENT)
    for n in (3, 4):
        assert after[n].order_id == orders[n]
        assert after[n].provider_message.startswith("left out: over --max-total ₦2,500.00 on ")
        assert after[n].provider_message in history_notes(after[n].id)

    code, _, err = cli(capsys, sandbox, "run", "1", "--yes")  # the next run sends them, under the same orderIds
    assert code == 0, err
    sent = {v["meter"]: v["orderId"] for v in sandbox.ledger.vends()}
    assert (sent["45143922362"], sent["45143922363"]) == (orders[3], orders[4])
    again = by_row(1)
    assert all(r.state == S.SUCCESS and not (r.provider_message or "").startswith("left out") for r in again.values())


def test_an_edit_clears_the_left_out_note(sandbox, capsys, tmp_path):
    """Review of issue 14: "left out of the run of …" was said of the row as it was; once the
    operator edits it (one row, or with others), it no longer holds. Its history keeps it."""
    from buypower_tui.core import bulk
    from buypower_tui.core.row_view import row_status
    from buypower_tui.core.rules import Limits

    cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", ("45143922371", 3000), ("45143922372", 3000),
                                         ("45143922373", 1000)))
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes", "--max-total", "1000")
    assert code == 3, err
    before = by_row(1)
    assert all(before[n].provider_message.startswith("left out: ") for n in (2, 3))
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        rows.edit_row(store, before[2].id, {"amount": "900"}, Limits())
        bulk.edit_rows(store, {before[3].id: {"phone": "08031234568"}}, Limits())
    finally:
        store.close()
    after = by_row(1)
    for n in (2, 3):
        assert after[n].state == S.VALID and after[n].provider_message is None
        assert before[n].provider_message in history_notes(after[n].id)  # said once, kept in the history
        grid_row = {c: getattr(after[n], c) for c in ("state", "meter", "warnings", "errors", "provider_message",
                                                     "duplicate_accepted")}
        assert row_status(grid_row, {}) == ("ok", "valid")
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes")  # looked up again and paid as edited
    assert code == 0, err
    assert Counter(v["amount"] for v in sandbox.ledger.vends()) == Counter({"1000.00": 1, "900.00": 1, "3000.00": 1})


def test_low_wallet_degrades_health_and_warns_before_a_run(sandbox, capsys, tmp_path, monkeypatch):
    sandbox.update_config(wallet=Decimal(9000))
    code, out, _ = cli(capsys, sandbox, "health")
    assert code == 1 and "status: DEGRADED" in out
    assert "wallet ₦9,000.00 below the low-wallet threshold ₦10,000.00" in out
    monkeypatch.setenv("BUYPOWER_LOW_WALLET_THRESHOLD", "5000")
    assert cli(capsys, sandbox, "health")[0] == 0
    monkeypatch.delenv("BUYPOWER_LOW_WALLET_THRESHOLD")
    sandbox.update_config(wallet=Decimal(12000))
    cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", ("45143922341", 3000)))
    code, _, err = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 0, err
    assert ("warning: after this run the wallet would hold ₦9,000.00, below the low-wallet threshold ₦10,000.00"
            in err)


# -- the TUI --------------------------------------------------------------------------------------------


def tui(sandbox) -> BuyPowerApp:
    app = BuyPowerApp(services("--sandbox", "--base-url", sandbox.url), recover=False)
    app.wait_pending_s = 0
    return app




@pytest.fixture
def duplicates_paid_before(sandbox, capsys, tmp_path):
    """with_duplicates, before the test's event loop starts (the CLI runs one of its own)."""
    with_duplicates(capsys, sandbox, tmp_path)


async def test_skip_in_the_confirm_dialog_pays_without_the_duplicates(sandbox, duplicates_paid_before):
    sandbox.update_config(wallet=Decimal(12000))  # 3,000 paid leaves 9,000: below the low-wallet threshold
    app = tui(sandbox)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await confirm_dialog(pilot, 2)
        assert len(dialog.plan.preflight.unaccepted) == 3 and dialog.plan.preflight.count == 2
        text = screen_text(app)
        assert "SKIP to pay without the 3 duplicates" in text and "ACCEPT to include the duplicates" in text
        assert f"row 4, meter {TWICE}: twice in this batch: same meter as row 5" in text
        assert f"row 2, meter {PAID_BEFORE}: paid recently: ₦1,000.00 on" in text
        assert "₦9,000.00, below the low-wallet threshold ₦10,000.00" in text
        await pilot.press(*"skip", "enter")  # capitals, as VEND
        await pilot.pause()
        assert isinstance(app.screen, ConfirmRunModal) and "SKIP to pay without" in str(
            app.screen.query_one("#vend-message").render())
        await pilot.press(*["backspace"] * 4, *"SKIP", "enter")
        await until(pilot, lambda: app.run_control is not None and not app.run_active())
    app.services.close()
    assert paid(sandbox) == Counter({PAID_BEFORE: 1, "45143922322": 1, "45143922324": 1})
    after = by_row(2)
    for n in (2, 4, 5):
        assert after[n].state == S.VERIFIED and after[n].order_id is None
        assert after[n].provider_message.startswith("left out: ")
    assert after[3].state == after[6].state == S.SUCCESS


async def test_pay_what_fits_when_the_wallet_is_short(sandbox, capsys, tmp_path):
    cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", ("45143922331", 1000), ("45143922332", 3000),
                                         ("45143922333", 1000), ("45143922334", 2000)))
    sandbox.update_config(wallet=Decimal(2500))
    app = tui(sandbox)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await confirm_dialog(pilot, 1)
        assert dialog.plan.preflight.shortfall == Decimal(4500)
        text = screen_text(app)
        assert "Pay what fits" in text and "2 rows, ₦2,000.00" in text
        assert "2 rows, ₦5,000.00: rows 3, 5" in text and "FIT to pay the 2 rows that fit" in text
        await pilot.press(*"VEND", "enter")  # the whole batch cannot be paid
        await pilot.pause()
        assert isinstance(app.screen, ConfirmRunModal) and sandbox.ledger.vends() == []
        await pilot.press(*["backspace"] * 4, *"FIT", "enter")
        await until(pilot, lambda: app.run_control is not None and not app.run_active())
    app.services.close()
    assert paid(sandbox) == Counter({"45143922331": 1, "45143922333": 1})
    after = by_row(1)
    assert after[2].state == after[4].state == S.SUCCESS
    for n in (3, 5):
        assert after[n].state == S.VERIFIED and after[n].order_id is None
        assert after[n].provider_message.startswith("left out: did not fit the wallet's ₦2,500.00 on ")


# -- snapshots ----------------------------------------------------------------------------------------


def demo_plan(app, balance: Decimal, *, threshold: Decimal | None = None) -> RunPlan:
    """A plan over the demo's rows 3-14, rows 24 and 25 (the demo's pair) waiting for a decision."""
    batch = app.services.demo.batch_id
    demo = {r.row_number: r for r in app.services.rows(batch)}
    seen = {r.id: (r.row_number, r.meter, r.disco, r.vend_type, r.amount_kobo, r.phone, r.created_at)
            for r in demo.values()}
    send = [demo[n].id for n in range(3, 15)]
    pair = [demo[24].id, demo[25].id]
    total = sum(Decimal(seen[i][4]) for i in send) / 100
    why = {pair[0]: "twice in this batch: same meter as row 25",
           pair[1]: "twice in this batch: same meter as row 24; paid recently: ₦1,200.00 on 2026-10-30 09:14 "
                    "+00:00 in batch 3 (row 8)"}
    p = Preflight(send=send, total=total, balance=balance, batch_duplicates=pair, recent_duplicates=pair[1:],
                  unaccepted=pair, seen=seen, why=why)
    return RunPlan(batch, RecoveryReport(), LookupReport(verified=12), balance, p, low_wallet_threshold=threshold)


@pytest.mark.parametrize(("wallet", "size"), [("skip", SIZE), ("fit", SIZE), ("fit", (80, 24))],
                         ids=["skip", "fit", "fit-80x24"])
def test_confirm_dialog_skip_and_pay_what_fits(snap_compare, tmp_path, wallet, size):
    app = demo_app(tmp_path, recover=False)
    balance = Decimal("120000") if wallet == "skip" else Decimal("20000")

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(ConfirmRunModal(demo_plan(app, balance, threshold=Decimal("100000")), "sandbox"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_a_repeat_with_a_new_amount_while_last_months_rows_are_pending_pays_none_of_them_again(monkeypatch, capsys,
                                                                                             tmp_path):
    """BuyPower has (or may have) taken the money of a PENDING row: another batch's row for the
    same meter is asked about whatever its amount, and the repeat warns before that."""
    with cli_sandbox(monkeypatch, seed=21, pending_rate=1.0, pending_requeries=50) as sandbox:
        meters = ("45143922361", "45143922362")
        cli(capsys, sandbox, "import", sheet(tmp_path, "a.csv", *((m, 1000) for m in meters)))
        assert cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")[0] == 3
        code, out, _ = cli(capsys, sandbox, "repeat", "1", "--amount", "+10%")
        assert code == 0 and "warning: 2 of these meters were paid in the last 7 days or are being paid: " in out
        assert "(batch 1, PENDING, not settled)" in out
        before = paid(sandbox)
        code, _, err = cli(capsys, sandbox, "run", "2", "--yes", "--skip-duplicates", "--wait-pending", "0")
        assert code == 3, err
        assert f"row 2: meter {meters[0]} ₦1,100.00 — still in flight elsewhere: ₦1,000.00 in batch 1 (row 2), " \
               "PENDING" in err
        assert paid(sandbox) == before, "nothing was sent for batch 2"
