"""Snapshots of the screens where money moves, with a fixed set of row states (no live run:
the states, tokens and progress are written as a run would leave them)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from buypower_tui.core.breaker import BreakerSnapshot, BreakerState
from buypower_tui.core.health import Health
from buypower_tui.core.lookup import LookupReport
from buypower_tui.core.models import Recipient, RowState, utcnow
from buypower_tui.core.plan import RunPlan
from buypower_tui.core.preflight import Preflight
from buypower_tui.core.recovery import RecoveryReport
from buypower_tui.core.run_progress import Progress
from buypower_tui.services import RunControl, Services
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.screens.review import ReviewScreen
from buypower_tui.ui.screens.run import RunScreen
from tests.ui_support import FIXED_TIME, SIZE, demo_app, services, settle, steady_screen  # noqa: F401 - autouse fixture

S = RowState
STATES = {**{n: S.SUCCESS for n in range(2, 14)}, 14: S.PENDING, 15: S.SENDING, 16: S.APPROVED, 17: S.APPROVED,
          18: S.FAILED, 19: S.NEEDS_REVIEW, 21: S.PENDING}
MESSAGES = {S.PENDING: "Transaction is still in progress. Please requery in 2 seconds",
            S.FAILED: "This account requires maintenance. Customer is advised to visit their service provider.",
            S.NEEDS_REVIEW: "still pending after 10 requeries", S.SUCCESS: "Successful transaction"}


def as_a_run_left_it(app) -> None:
    with app.services.store.session() as s:
        for row in s.exec(select(Recipient).where(Recipient.batch_id == app.services.demo.batch_id)):
            n = row.row_number
            if n not in STATES:
                continue
            row.state, row.order_id = STATES[n], f"order-{n:04d}"
            row.provider_message = MESSAGES.get(row.state)
            row.updated_at = FIXED_TIME + timedelta(seconds=n)
            if row.state == S.SUCCESS:
                row.token, row.units, row.receipt_no = f"{(n * 7919 + 10**19):020d}", f"{n * 2.5:.2f}", f"R{n:07d}"
            if row.state == S.PENDING:
                row.next_requery_at = utcnow() + timedelta(minutes=10, seconds=20)
            s.add(row)
        s.commit()


T, K1, K2, B = "31720458991622035547", "51208874120366550912", "88410097332144702288", "11112222333344445555"
# Rows 36-39 of the demo as production would answer them (the sandbox's split for each meter):
# (token, parcels as BuyPower listed them, units, amountGenerated, tax, debtAmount, debtRemaining)
PRODUCTION = {
    36: (T, [("TOKEN", T), ("KCT1", K1), ("KCT2", K2)], "13.32", "2790.70", "209.30", "0", "0"),  # key change
    37: (T[::-1], [("TOKEN", T[::-1]), ("BONUS", B)], "8.88", "1860.47", "139.53", "0", "0"),  # bonus
    38: (K1[::-1], [("TOKEN", K1[::-1])], "17.76", "3720.93", "279.07", "0", "0"),  # 13-digit IBADAN meter
    39: (K2[::-1], [("TOKEN", K2[::-1])], "6.66", "1860.47", "139.53", "465.12", "785.38"),  # prepaid with debt
}


def as_production_paid_them(app) -> None:
    """Rows 36-39 paid, with what the money bought and our own paid_at (fixed)."""
    with app.services.store.session() as s:
        for row in s.exec(select(Recipient).where(Recipient.batch_id == app.services.demo.batch_id)):
            if row.row_number not in PRODUCTION:
                continue
            token, parcels, *money = PRODUCTION[row.row_number]
            row.state, row.order_id, row.token = S.SUCCESS, f"order-{row.row_number:04d}", token
            row.parcels = [{"type": kind, "content": content} for kind, content in parcels]
            row.units, row.amount_generated, row.tax, row.debt_amount, row.debt_remaining = map(Decimal, money)
            row.receipt_no, row.vend_time = f"00000360042{row.row_number:02d}", "2026-11-02 10:31:05"
            row.paid_at = row.updated_at = FIXED_TIME + timedelta(seconds=row.row_number)
            row.customer_name = {36: "NGOZI AMAKA IBEKWE", 37: "MUSA YUSUF DANJUMA", 38: "ADEWALE KOLAWOLE OYELARAN",
                                 39: "FATIMA ZAINAB BELLO"}[row.row_number]  # as BuyPower names them
            row.provider_message = MESSAGES[S.SUCCESS]
            s.add(row)
        s.commit()


@pytest.mark.parametrize("row", [36, 39], ids=["key-change-tokens", "debt"])
def test_results_with_key_change_tokens_and_debt(snap_compare, tmp_path, row):
    app = demo_app(tmp_path, recover=False)  # a picture of rows paid, not a crash to recover
    as_a_run_left_it(app)
    as_production_paid_them(app)

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(ResultsScreen(app.services.demo.batch_id))
        await pilot.pause(0.3)
        await pilot.press(*["down"] * (row - 2))  # the detail above the table is this row's
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_confirm_payment(snap_compare, tmp_path):
    app = demo_app(tmp_path)
    plan = RunPlan(app.services.demo.batch_id, RecoveryReport(), LookupReport(verified=41, not_found=1,
                                                                              out_of_range=1),
                   Decimal("1000000"), Preflight(send=list(range(3, 42)), total=Decimal("111550.50"),
                                                 balance=Decimal("1000000"), batch_duplicates=[1, 2],
                                                 unaccepted=[1, 2]))

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(ConfirmRunModal(plan, "sandbox"))
        await pilot.pause()
        await pilot.press("enter")  # a stray Enter: the dialog says what it needs
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_run_view_mid_way(snap_compare, tmp_path):
    app = demo_app(tmp_path, recover=False)  # the states below are a picture, not a crash to recover
    as_a_run_left_it(app)
    batch = app.services.demo.batch_id
    control = RunControl(app.services, RunPlan(batch, RecoveryReport(), None, Decimal("1000000"), Preflight()),
                         lambda p: None)
    control.progress = Progress(counts={S.SUCCESS: 12, S.PENDING: 2, S.SENDING: 1, S.APPROVED: 2, S.FAILED: 1,
                                        S.NEEDS_REVIEW: 1},
                                to_send=19, sent=16, vends_per_s=4.2, eta_s=0.7,
                                breaker=BreakerSnapshot(BreakerState.CLOSED, 0, None), waiting=None,
                                last_error=None, paused=False, finished=False)
    app.run_control = control
    app.run_errors.extend(["row 14: PENDING — Transaction is still in progress. Please requery in 2 seconds",
                           "row 18: FAILED — This account requires maintenance."])

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(RunScreen(batch))
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("screen", [ReviewScreen, ResultsScreen])
def test_after_the_run(snap_compare, tmp_path, screen):
    app = demo_app(tmp_path, recover=False)  # the states below are a picture, not a crash to recover
    as_a_run_left_it(app)

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(screen(app.services.demo.batch_id))
        await pilot.pause(0.3)
        await pilot.press("down", "down")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_health_dashboard(snap_compare, tmp_path, monkeypatch):
    fixed = Health(status="degraded", problems=["1 rows need review"], store_ok=True, key_source="keyring",
                   api_reachable=True, api_latency_ms=48.0, breaker="closed",
                   discos_up=["ABUJA", "EKO", "IKEJA", "KANO"], discos_down=["JOS"], wallet=Decimal("887549.50"),
                   pending=2, needs_review=1, success_rate_24h=0.97, vends_24h=35,
                   vends_by_hour=[0] * 20 + [4, 9, 12, 10], free_disk_mb=83305.0, memory_mb=117.0)
    monkeypatch.setattr(Services, "health", lambda self: fixed)  # the machine's own numbers vary
    app = demo_app(tmp_path)

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        await pilot.press("f3")
        await settle(pilot, 0.4, quiet=True)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x36", "80x24"])
def test_save_dialog(snap_compare, tmp_path, monkeypatch, size):
    exports = tmp_path / "exports"
    for folder in ("april", "march"):
        (exports / folder).mkdir(parents=True)
    monkeypatch.chdir(exports)
    app = demo_app(tmp_path, recover=False)
    as_a_run_left_it(app)

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(ResultsScreen(app.services.demo.batch_id))
        await pilot.pause(0.3)
        await pilot.press("x")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_confirm_payment_in_live_mode_shows_red_and_the_server(snap_compare):
    app = BuyPowerApp(services("--live", "--base-url", "https://api.buypower.ng/v2"), recover=False)
    plan = RunPlan(1, RecoveryReport(), None, Decimal("50000"),
                   Preflight(send=list(range(12)), total=Decimal("61250"), balance=Decimal("50000")))

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(ConfirmRunModal(plan, "live"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_start_up_recovery_settles_what_a_crash_left(snap_compare, tmp_path):
    app = demo_app(tmp_path, open_batch=False)
    with app.services.store.session() as s:  # a crash left this row SENDING; BuyPower never saw it
        row = s.exec(select(Recipient).where(Recipient.row_number == 2)).one()
        row.state, row.order_id, row.post_count = S.SENDING, "order-lost-in-a-crash", 1
        row.sent_at = utcnow() - timedelta(hours=1)  # long past the not-found window
        s.add(row)
        s.commit()

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
