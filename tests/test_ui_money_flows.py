"""Where money moves in the TUI: confirm, run, requery, retry, tokens, export, quit mid-run.

Against the demo's sandbox; the ledger at /__sandbox/ledger is the proof of what was paid."""

from __future__ import annotations

import csv

from sqlmodel import select

from buypower_tui.core import rows
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.ui.app import BuyPowerApp
from buypower_tui.ui.modals.confirm_run import ConfirmRunModal
from buypower_tui.ui.modals.recovery import RecoveryModal
from buypower_tui.ui.screens.health import HealthScreen
from buypower_tui.ui.screens.results import ResultsScreen
from buypower_tui.ui.screens.review import ReviewScreen
from buypower_tui.ui.screens.run import RunScreen
from tests.engine_helpers import assert_ledger_matches_store
from tests.ui_support import SIZE, demo_app, services, steady_screen, until  # noqa: F401 - autouse fixture

S = RowState



async def confirm(pilot, app, word: str = "VEND") -> None:
    await until(pilot, lambda: isinstance(app.screen, ConfirmRunModal))
    await pilot.press(*word, "enter")
    await pilot.pause()


def states(app) -> dict[int, str]:
    with app.services.store.session() as s:
        return dict(s.exec(select(Recipient.row_number, Recipient.state)).all())


def ledger(app):
    return app.services.demo.sandbox.ledger.snapshot()


async def test_demo_to_exported_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("BUYPOWER_RATE_LIMIT", "0")  # the flow, not the pace: lookups and vends unthrottled
    app = demo_app(tmp_path)
    app.wait_pending_s = 0  # end the run with rows still pending: the review view settles them
    out = tmp_path / "tokens.csv"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, ConfirmRunModal))
        await pilot.press("enter")  # a stray Enter
        await pilot.pause()
        assert isinstance(app.screen, ConfirmRunModal) and S.APPROVED not in states(app).values()
        assert app.services.demo.sandbox.ledger.vends() == []  # nothing was paid
        await confirm(pilot, app, "ACCEPT")  # the duplicate pair is paid too: checked again
        await confirm(pilot, app, "VEND")
        assert isinstance(app.screen, RunScreen)
        await until(pilot, lambda: not app.run_active())
        after = states(app)
        assert after[18] == S.FAILED  # the meter that needs maintenance
        assert S.PENDING in after.values()
        assert S.SUCCESS in after.values() and S.SENDING not in after.values()
        assert isinstance(app.screen, RunScreen)  # a wallet difference the pending rows explain: a warning
        await pilot.pause(0.2)
        assert "still pending" in str(app.screen.query_one("#run-summary").render())  # in the view, not a toast

        await pilot.press("r")  # failed and pending
        await pilot.pause()
        assert isinstance(app.screen, ReviewScreen)
        pending = [n for n, s in after.items() if s == S.PENDING]
        for _ in range(4):  # the sandbox answers "pending" twice, with a 2 s cool-down between requeries
            await pilot.pause(2.2)
            await pilot.press("Q")
            await until(pilot, lambda: not app.busy("requery"))
            if all(states(app)[n] != S.PENDING for n in pending):
                break
        assert all(states(app)[n] in (S.SUCCESS, S.FAILED) for n in pending)

        failed_id = next(i for i in app.screen.table.ids if app.screen.row(i)["row_number"] == 18)
        old_order = rows.get(app.services.store, failed_id).order_id
        app.screen.table.move_cursor(row=app.screen.table.get_row_index(failed_id))
        await pilot.press("t", "y")  # retry: the confirmation says why it is safe, then the check
        await confirm(pilot, app, "VEND")
        await until(pilot, lambda: not app.run_active())
        retried = rows.get(app.services.store, failed_id)
        assert retried.order_id != old_order and retried.state == S.FAILED  # maintenance, still
        assert any((e.details or {}).get("previous_order_id") == old_order
                   for e in rows.history(app.services.store, failed_id))

        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)
        paid = next(i for i in app.screen.table.ids if app.screen.row(i)["token"])
        app.screen.table.move_cursor(row=app.screen.table.get_row_index(paid))
        await pilot.press("c")
        token = app.screen.row(paid)["token"]
        assert app.clipboard == "-".join(token[i:i + 4] for i in range(0, 20, 4))
        await pilot.press("x", "ctrl+a", "ctrl+k", *str(out), "enter")
        await until(pilot, lambda: any(n.title == "Exported" for n in app._notifications))  # written in a worker
    exported = list(csv.DictReader(out.open()))
    assert len(exported) == 50 and sum(1 for r in exported if r["token"]) >= 30
    assert_ledger_matches_store(ledger(app), app.services.store, app.services.demo.batch_id)
    app.services.close()


async def test_the_run_goes_on_while_the_health_dashboard_is_open(tmp_path):
    app = demo_app(tmp_path)
    app.wait_pending_s = 0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await confirm(pilot, app, "VEND")
        await until(pilot, lambda: app.run_control.progress is not None and app.run_control.progress.sent >= 3)
        await pilot.pause(0.4)
        view = app.screen
        assert app.run_active() and view.follow  # untouched, the table follows the newest row
        newest = max(view.table.ids, key=lambda i: rows.get(app.services.store, i).updated_at)
        assert view.table.get_row_index(newest) >= view.table.cursor_row - 4  # at or near the newest
        assert "paying batch" in app.activity()
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen) and app.run_active()
        await until(pilot, lambda: app.screen.health is not None)
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        await until(pilot, lambda: not app.run_active())
        assert S.APPROVED not in states(app).values() and S.SENDING not in states(app).values()
    app.services.close()


async def test_quitting_mid_run_stops_after_in_flight_and_the_next_start_recovers(tmp_path):
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await confirm(pilot, app, "VEND")
        await until(pilot, lambda: app.run_control.progress is not None  # mid-run, with rows pending
                    and app.run_control.progress.counts.get(S.PENDING, 0) >= 1)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: app.run_control.finished.is_set(), timeout=30)
    with app.services.store.session() as s:
        left = s.exec(select(Recipient).where(Recipient.state == S.SENDING)).all()
        orphans = [r for r in s.exec(select(Recipient)).all() if r.state != S.VERIFIED and
                   r.state in rows.WITH_ORDER and r.order_id is None]
    assert left == [] and orphans == []
    pending = [n for n, s in states(app).items() if s == S.PENDING]

    assert pending, "the demo's pending fixtures should still be pending right after the stop"
    again = BuyPowerApp(app.services)  # the next start, on the same store and sandbox
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(again.screen, RecoveryModal)  # before the first screen takes a key
        await until(pilot, lambda: not again.screen.query_one("#close").disabled)
        text = str(again.screen.query_one("#recovery-text").render())
        assert f"requeried {len(pending)} rows in flight" in text
    app.services.close()


async def test_stop_after_in_flight_says_what_was_left_unsent_and_v_sends_it(tmp_path):
    app = demo_app(tmp_path)
    app.wait_pending_s = 0
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await confirm(pilot, app, "VEND")
        await until(pilot, lambda: app.run_control.progress is not None and app.run_control.progress.sent >= 2)
        await pilot.press("s")
        await until(pilot, lambda: not app.run_active())
        await pilot.pause(0.5)
        left = [n for n, s in states(app).items() if s == S.APPROVED]
        assert left and S.SENDING not in states(app).values()
        assert f"{len(left)} rows were not sent" in str(app.screen.query_one("#run-summary").render())
        assert len(app.services.demo.sandbox.ledger.vends()) == len(states(app)) - len(left) - sum(
            1 for s in states(app).values() if s in (S.INVALID, S.LOOKUP_FAILED, S.VALID, S.VERIFIED))
        await pilot.press("escape", "v")  # the next run sends them, under the orderIds they have
        await confirm(pilot, app, "VEND")
        await until(pilot, lambda: not app.run_active())
        assert S.APPROVED not in states(app).values()
    vends = app.services.demo.sandbox.ledger.vends()
    with app.services.store.session() as s:
        orders = {r.order_id for r in s.exec(select(Recipient)).all()}
    assert all(v["posts"] == 1 for v in vends)  # nothing was sent twice
    assert {v["orderId"] for v in vends} <= orders  # every order that went out is a row's own
    app.services.close()


async def test_the_health_dashboard_asks_buypower_only_while_it_is_shown(tmp_path, monkeypatch):
    from buypower_tui.ui.screens import health

    monkeypatch.setattr(health, "REFRESH_S", 0.2)
    app = demo_app(tmp_path)
    asked = lambda: sum(app.services.demo.sandbox.ledger.requests().values())  # noqa: E731
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await until(pilot, lambda: app.screen.health is not None)
        before = asked()
        await pilot.pause(0.8)
        assert asked() > before  # refreshed on its timer
        await pilot.press("f3")  # back to the batch
        await pilot.pause(0.5)
        left = asked()
        await pilot.pause(1.0)
        assert asked() == left  # nothing asked while nobody looks
        await pilot.press("f3")
        await pilot.pause(0.8)
        assert asked() > left  # and it asks again when shown
    app.services.close()
