"""The engine in-process against the sandbox: fault mixes, the breaker, recovery."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import stamina
from pydantic import SecretStr

from buypower_tui.core import manual, rows
from buypower_tui.core.breaker import CircuitBreaker
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.importing import import_file
from buypower_tui.core.lookup import lookup_batch
from buypower_tui.core.models import RowState
from buypower_tui.core.preflight import preflight
from buypower_tui.core.recovery import recover
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.rules import Limits
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.core.vending import Runner, RunOptions
from tests.engine_helpers import assert_ledger_matches_store, unsettled, write_batch

S = RowState
FAST = RunOptions(concurrency=8, requery=RequeryPolicy(first_wait=0.05, max_wait=0.2, budget_s=60), wait_pending=20)


def client(sandbox, **kw) -> BuyPowerClient:
    kw.setdefault("not_found_window", 0.3)
    kw.setdefault("concurrency", 8)
    return BuyPowerClient(sandbox.url, SecretStr(sandbox.key), rate_limit=0, **kw)


async def prepare(store, c, path) -> int:
    report = import_file(path, store, Limits(amount_min=Decimal(100)), mode="sandbox")
    await lookup_batch(store, c, report.batch_id)
    p = preflight(store, report.batch_id, await c.wallet_balance(), 7)
    rows.approve(store, p.send)
    return report.batch_id


@pytest.fixture
def any_store(db_url):
    s = Store.open(db_url)
    yield s
    s.close()


def test_fault_mix_1000_rows_all_final_and_the_ledger_agrees(any_store, tmp_path):
    """On SQLite and on PostgreSQL."""
    store = any_store
    stamina.set_testing(True, attempts=2)
    cfg = SandboxConfig(seed=11, requery_cooldown_s=0, fail_rate=0.05, pending_rate=0.05, drop_rate=0.02,
                        timeout_rate=0.02, hold_s=0.5, delay=(0,), pending_requeries=1, wallet=Decimal(10**8))
    try:
        with SandboxServer(cfg) as sandbox:
            async def go():
                async with client(sandbox, read_timeout=0.3) as c:
                    batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 1000))
                    result = await Runner(store, c, batch, FAST).run()
                    return batch, result
            batch, result = asyncio.run(go())
            assert unsettled(store, batch) == [], store.stats(batch).by_state
            by_state = store.stats(batch).by_state
            assert set(by_state) <= {S.SUCCESS, S.FAILED} and by_state[S.SUCCESS] > 900
            assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)
            answers = {v["answer"] for v in sandbox.ledger.vends()}
            assert {"202", "drop", "hold"} <= answers and answers & {"500", "502", "503"}
            assert result.reconciliation is None  # wallet delta == sum of successes
    finally:
        stamina.set_testing(False)


def test_breaker_stops_sending_while_open_and_the_run_finishes_after(store, tmp_path):
    stamina.set_testing(True, attempts=1)
    try:
        with SandboxServer(SandboxConfig(seed=5, requery_cooldown_s=0)) as sandbox:
            async def go():
                breaker = CircuitBreaker(threshold=5, cooldown=1.0, probes=3)
                async with client(sandbox, breaker=breaker, concurrency=1) as c:  # as the runner's
                    batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 40))
                    sandbox.update_config(fail_rate=1.0)
                    runner = Runner(store, c, batch, RunOptions(concurrency=1, wait_pending=20,
                                                                requery=RequeryPolicy(0.05, 0.2, 60)))
                    seen = []

                    def watch(p):
                        if p.waiting and "circuit open" in p.waiting and not seen:
                            seen.append(sandbox.ledger.requests()["vend"])
                            asyncio.get_running_loop().call_later(0.3, lambda: sandbox.update_config(fail_rate=0.0))
                    runner.on_progress = watch
                    await runner.run()
                    return batch, seen
            batch, seen = asyncio.run(go())
            assert seen == [5]  # five failed vends opened it; none was sent while it was open
            assert unsettled(store, batch) == []
            assert store.stats(batch).by_state.get(S.SUCCESS) == 40
            assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)
    finally:
        stamina.set_testing(False)


def test_recovery_settles_rows_left_sending_and_repairs_orphans(store, tmp_path):
    with SandboxServer(SandboxConfig(seed=9, requery_cooldown_s=0)) as sandbox:
        async def go():
            async with client(sandbox, not_found_window=0) as c:
                batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 6))
                ids = rows.ids_in(store, batch, (S.APPROVED,))
                for row_id in ids[:3]:  # crashed after the POST, before the answer was stored
                    row = rows.mark_sending(store, row_id)
                    await c.vend(row.order_id, row.meter, row.disco, row.amount, row.phone)
                for row_id in ids[3:5]:  # crashed after SENDING was committed, before the POST
                    rows.mark_sending(store, row_id)
                rows.transition(store, ids[5], (S.APPROVED,), S.SENDING, order_id=None)  # an orphan
                report = await recover(store, c, policy=RequeryPolicy(0.05, 0.2, 60))
                return batch, ids, report
        batch, ids, report = asyncio.run(go())
        assert report.requeried == {S.SUCCESS: 3, S.NOT_SENT: 2}
        assert report.repaired and "SENDING without orderId" in report.repaired[0]
        assert rows.get(store, ids[5]).state == S.VERIFIED
        assert [rows.get(store, i).state for i in ids[:3]] == [S.SUCCESS] * 3
        assert all(rows.get(store, i).token for i in ids[:3])
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)


def test_editing_a_row_with_an_order_is_refused(store, tmp_path):
    import pytest

    report = import_file(write_batch(tmp_path / "b.csv", 2), store, Limits())
    first, second = rows.ids_in(store, report.batch_id, (S.VALID,))
    edited = rows.edit_row(store, first, {"amount": "50"}, Limits())
    assert edited.state == S.INVALID and edited.errors[0]["field"] == "amount"
    rows.transition(store, second, (S.VALID,), S.VERIFIED)
    rows.approve(store, [second])
    with pytest.raises(rows.StateConflict, match="orderId"):
        rows.edit_row(store, second, {"amount": "700"}, Limits())


def test_a_failed_row_retried_by_hand_gets_a_new_order(store, tmp_path):
    with SandboxServer(SandboxConfig(seed=3)) as sandbox:
        async def go():
            async with client(sandbox) as c:
                path = tmp_path / "m.csv"
                path.write_text("meter,disco,amount,phone\n55500000007,ABUJA,1000,08031234567\n")
                batch = await prepare(store, c, path)
                await Runner(store, c, batch, FAST).run()
                (row_id,) = rows.ids_in(store, batch, (S.FAILED,))
                old = rows.get(store, row_id).order_id
                again = manual.retry_failed(store, row_id)
                return old, again
        old, again = asyncio.run(go())
        assert again.state == S.APPROVED and again.order_id != old


def test_the_operator_settles_a_row_that_needs_review_with_a_note(store, tmp_path):
    import pytest

    report = import_file(write_batch(tmp_path / "b.csv", 1), store, Limits())
    (row_id,) = rows.ids_in(store, report.batch_id, (S.VALID,))
    rows.transition(store, row_id, (S.VALID,), S.NEEDS_REVIEW)
    with pytest.raises(ValueError):
        manual.resolve_review(store, row_id, "checked", S.PENDING)
    settled = manual.resolve_review(store, row_id, "BuyPower support confirmed the refund", S.FAILED)
    assert settled.state == S.FAILED
    with store.session() as s:
        from sqlmodel import select

        from buypower_tui.core.models import Event
        notes = [e.note for e in s.exec(select(Event).where(Event.recipient_id == row_id))]
    assert notes[-1].startswith("marked failed by the operator: BuyPower support confirmed the refund")


def test_stop_sends_nothing_that_was_still_queued_behind_the_request_cap(store, tmp_path):
    """Workers mark rows SENDING before the client's cap lets them out; a stop withdraws those
    that have not left yet (they go back to APPROVED), so only requests already out are paid."""
    with SandboxServer(SandboxConfig(seed=3, requery_cooldown_s=0, delay=(0,), latency_ms=100)) as sandbox:
        async def go():
            async with client(sandbox, concurrency=1) as c:  # one request at a time, three workers
                batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 20))
                runner = Runner(store, c, batch, RunOptions(concurrency=1, wait_pending=0,
                                                            requery=RequeryPolicy(0.05, 0.2, 60)))

                at_stop = []

                def watch(p):
                    if p.sent >= 2 and not at_stop:
                        # what BuyPower had when stop came (an answer may not be recorded yet under load)
                        at_stop.append(len(sandbox.ledger.vends()))
                        runner.stop()
                runner.on_progress = watch
                await runner.run()
                return batch, at_stop[0]
        batch, sent_at_stop = asyncio.run(go())
        by_state = store.stats(batch).by_state
        posted = len(sandbox.ledger.vends())
        assert by_state.get(S.SENDING, 0) == 0
        assert posted == 20 - by_state.get(S.APPROVED, 0)  # every row not sent is still approved
        assert posted <= sent_at_stop + 1  # at most the one request already out when stop came
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)


def test_a_requery_pass_stops_when_the_app_is_closing(store, tmp_path):
    """A hang-up must not wait a request's whole deadline for every row left to requery."""
    from buypower_tui.core.recovery import RecoveryReport, requery_now

    with SandboxServer(SandboxConfig(seed=9, requery_cooldown_s=0)) as sandbox:
        async def go():
            async with client(sandbox) as c:
                batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 3))
                ids = rows.ids_in(store, batch, (S.APPROVED,))
                for row_id in ids:
                    rows.mark_sending(store, row_id)
                report = RecoveryReport()
                asked = iter([False, True])  # the app closes after the first row
                await requery_now(store, c, ids, report, policy=RequeryPolicy(1, 2, 60),
                                  stop=lambda: next(asked))
                return report
        report = asyncio.run(go())
        assert sandbox.ledger.requests().get("requery") == 1
        assert report.not_reached == ["2 rows not requeried: stopped (the app is closing)"]
