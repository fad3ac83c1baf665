"""The run view at the end of a run and during the wait for pending rows (issue 14 §7):
no toasts over the token column, and a wait that shows each pending row counting down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from buypower_tui.core.breaker import BreakerSnapshot, BreakerState
from buypower_tui.core.lookup import LookupReport
from buypower_tui.core.models import Recipient
from buypower_tui.core.plan import RunPlan
from buypower_tui.core.preflight import Preflight
from buypower_tui.core.recovery import RecoveryReport
from buypower_tui.core.run_progress import PendingRow, Progress
from buypower_tui.core.values import RowState
from buypower_tui.services.running import RunControl
from buypower_tui.ui import jobs
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
from buypower_tui.ui.screens import run
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.screens.run import RunScreen, span, summary
from tests.ui_support import SIZE, demo_app, screen_text, settle, steady_screen, until  # noqa: F401

S = RowState


@pytest.fixture
def no_rate_limit(monkeypatch):
    """For flows about what the run says, not its pace: the demo's lookups and vends
    unthrottled (a run of its 48 rows takes 2 s instead of 17)."""
    monkeypatch.setenv("BUYPOWER_RATE_LIMIT", "0")


async def vend(pilot, app) -> None:
    await pilot.press("v")
    await until(pilot, lambda: isinstance(app.screen, ConfirmRunModal))
    await pilot.press(*"VEND", "enter")
    await until(pilot, lambda: isinstance(app.screen, RunScreen))


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def test_sent_counts_rows_and_says_rows_sent_again_apart():
    p = Progress(counts={S.SUCCESS: 5}, to_send=5, sent=5, vends_per_s=1.0, eta_s=None,
                 breaker=BreakerSnapshot(BreakerState.CLOSED, 0, None), waiting=None, last_error=None,
                 paused=False, finished=True, resent=3)
    assert str(summary(p, {S.SUCCESS: 5}, False)).startswith("sent 5/5 · 3 sent again │ 5 paid")
    assert span(61.2) == "1:02" and span(0) == "0:00" and span(-3) == "0:00" and span(3723) == "1:02:03"


async def test_the_end_of_a_run_is_one_short_toast_and_stays_in_the_run_view(tmp_path):
    app = demo_app(tmp_path)
    app.wait_pending_s = 0  # the run ends with rows pending: the wallet check has something to say
    async with app.run_test(size=SIZE) as pilot:
        await vend(pilot, app)
        await pilot.press("t")  # the tokens, while the run goes on: where the toasts used to sit
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)
        before = {n.identity for n in app._notifications}
        await until(pilot, lambda: not app.run_active())
        await pilot.pause(0.2)
        new = [n for n in app._notifications if n.identity not in before]
        assert len(new) == 1, [n.message for n in new]  # counts, and where the rest is
        assert new[0].timeout <= jobs.END_TOAST_S and "F4" in new[0].message
        await pilot.pause(jobs.END_TOAST_S + 0.5)
        assert list(app._notifications) == []  # gone within a few seconds: the token column is clear
        await pilot.press("f4")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        shown = text_of(app, "#run-summary")
        assert "Finished." in shown and "Wallet check:" in shown and "still pending" in shown
    app.services.close()


async def test_no_toast_at_all_when_the_run_view_is_on_screen(tmp_path, no_rate_limit):
    app = demo_app(tmp_path)
    app.wait_pending_s = 0
    async with app.run_test(size=SIZE) as pilot:
        await vend(pilot, app)
        before = {n.identity for n in app._notifications}
        await until(pilot, lambda: not app.run_active())
        await pilot.pause(0.2)
        assert [n.message for n in app._notifications if n.identity not in before] == []
        assert "Finished." in text_of(app, "#run-summary")
    app.services.close()


async def test_the_wait_for_pending_rows_shows_each_row_counting_down(tmp_path, no_rate_limit):
    app = demo_app(tmp_path)
    app.wait_pending_s = 60
    app.services.demo.sandbox.update_config(pending_rate=1.0, pending_requeries=1000)  # they stay pending
    async with app.run_test(size=SIZE) as pilot:
        await vend(pilot, app)
        await until(pilot, lambda: app.screen.query_one("#run-wait").display)
        first = text_of(app, "#run-wait")
        p = app.run_control.progress
        assert p.wait_ends_at is not None and p.pending
        row = p.pending[0]
        assert f"row {row.row_number}" in first and f"meter {row.meter}" in first and "next requery" in first
        assert "left" in first and "s ends it now" in first
        await pilot.pause(1.2)  # no progress needed: the view counts down on its own
        second = text_of(app, "#run-wait")
        assert second != first
        await pilot.press("s")  # ends the wait: the rows stay PENDING
        await until(pilot, lambda: not app.run_active(), timeout=30)
        await pilot.pause(1.2)
        assert not app.screen.query_one("#run-wait").display and app.screen._countdown is None  # no clock left
        assert app.services.stats(app.services.demo.batch_id).by_state.get(S.PENDING, 0) >= len(p.pending) > 0
    app.services.close()


def test_run_view_waiting_for_pending_rows(snap_compare, tmp_path, monkeypatch):
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    monkeypatch.setattr(run, "now", lambda: at)
    monkeypatch.setattr(BuyPowerApp, "run_active", lambda self, batch_id=None: True)  # a picture of a run
    app = demo_app(tmp_path, recover=False)
    batch = app.services.demo.batch_id
    due = {14: 2, 15: 14, 21: 75}  # seconds after `at`; row 21's next requery falls after the wait
    states = {**{n: S.SUCCESS for n in range(2, 14)}, 14: S.PENDING, 15: S.PENDING, 18: S.FAILED, 21: S.PENDING}
    pending = []
    with app.services.store.session() as s:
        for row in s.exec(select(Recipient).where(Recipient.batch_id == batch).order_by(Recipient.row_number)):
            if row.row_number not in states:
                continue
            n = row.row_number
            row.state, row.order_id, row.updated_at = states[n], f"order-{n:04d}", at - timedelta(seconds=60 - n)
            if row.state == S.SUCCESS:
                row.token, row.units, row.receipt_no = f"{(n * 7919 + 10**19):020d}", f"{n * 2.5:.2f}", f"R{n:07d}"
            if row.state == S.PENDING:
                row.next_requery_at = at + timedelta(seconds=due[n])
                row.provider_message = "Transaction is still in progress. Please requery in 2 seconds"
                pending.append(PendingRow(n, row.meter, row.next_requery_at))
            s.add(row)
        s.commit()
    control = RunControl(app.services, RunPlan(batch, RecoveryReport(), LookupReport(), Decimal("1000000"),
                                               Preflight()), lambda p: None)
    control.progress = Progress(counts={S.SUCCESS: 12, S.PENDING: 3, S.FAILED: 1}, to_send=16, sent=16,
                                vends_per_s=4.2, eta_s=None, breaker=BreakerSnapshot(BreakerState.CLOSED, 0, None),
                                waiting=None, last_error=None, paused=False, finished=False, resent=2,
                                wait_ends_at=at + timedelta(seconds=62), pending=tuple(pending))
    app.run_control = control

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        app.push_screen(RunScreen(batch))
        await pilot.pause(0.5)
        shown = screen_text(app)
        assert "sent 16/16 · 2 sent again" in shown and "1:02 left (the wait ends at 09:31:02 +00:00" in shown
        assert "in 0:02" in shown and "in 0:14" in shown and "after the wait" in shown

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_a_long_run_status_never_pushes_the_mode_badge_off_the_top_bar(tmp_path):
    app = demo_app(tmp_path, recover=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, 0.4, quiet=True)
        app.activity_text = "paying batch 123: 3999/4000 sent, requerying 5000 pending until 16:51:10 +00:00"
        await pilot.pause(0.3)
        top = screen_text(app).splitlines()[0].rstrip()
        assert top.endswith("SANDBOX DEMO") and "⟳ paying batch 123: 3999/4000 sent" in top and "…" in top, top
