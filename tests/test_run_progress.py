"""What a run reports while it goes: rows counted once, and a wait for pending rows that ends
when it says (issue 14 §7: `sent 309/309` for a 297-row batch; "up to 2 minutes" took 5)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import stamina
from pydantic import SecretStr

from buypower_tui.core import rows
from buypower_tui.core.breaker import CircuitBreaker
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.models import RowState
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.vending import Runner, RunOptions
from tests.engine_helpers import assert_ledger_matches_store, write_batch
from tests.test_engine import client, prepare

S = RowState
QUICK = RequeryPolicy(first_wait=0.05, max_wait=0.2, budget_s=60)


def test_rows_posted_again_are_counted_once_and_shown_apart(store, tmp_path):
    """A 5xx before BuyPower vended: the order is unknown, so once the requery's window has
    passed the row is NOT_SENT and POSTed again under its orderId. `sent X/Y` counts rows; the
    extra POSTs are `resent`."""
    stamina.set_testing(True, attempts=1)
    try:
        with SandboxServer(SandboxConfig(seed=3, requery_cooldown_s=0, delay=(0,))) as sandbox:
            async def go():
                async with client(sandbox, breaker=CircuitBreaker(threshold=10_000)) as c:
                    batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 30))
                    sandbox.update_config(fail_rate=0.6)
                    seen = []
                    runner = Runner(store, c, batch, RunOptions(concurrency=4, wait_pending=30, requery=QUICK),
                                    on_progress=seen.append)
                    result = await runner.run()
                    return batch, seen, result
            batch, seen, result = asyncio.run(go())
            n = len(rows.ids_in(store, batch, (S.SUCCESS, S.FAILED, S.PENDING, S.NOT_SENT, S.NEEDS_REVIEW)))
            assert n == 30
            posts = sandbox.ledger.requests()["vend"]
            assert posts > n  # the fault made rows go out again: what once read `sent 309/309`
            assert seen and all(p.sent <= p.to_send <= n for p in seen), [(p.sent, p.to_send) for p in seen]
            final = result.progress
            assert (final.sent, final.to_send) == (n, n)
            assert final.resent > 0 and final.sent + final.resent <= posts
            assert_ledger_matches_store(sandbox.ledger.snapshot(), store, batch)
    finally:
        stamina.set_testing(False)


def _never_received(request: httpx.Request) -> httpx.Response:
    """A BuyPower that answers every vend with a 503 and never knows the order: each requery
    (once its window has passed) makes the row NOT_SENT, and it is POSTed again, for ever."""
    if request.url.path.endswith("/wallet/balance"):
        return httpx.Response(200, json={"balance": 1_000_000})
    if request.url.path.endswith("/vend"):
        return httpx.Response(503, json={"status": False, "error": True, "message": "Service Unavailable"})
    if "/transaction/" in request.url.path:
        order = request.url.path.rsplit("/", 1)[-1]
        said = f"No transaction found with reference: {order}"
        body = {"result": {"status": False, "responseCode": 20, "message": said}}
        return httpx.Response(404, content=json.dumps(body).encode())
    return httpx.Response(200, json={})


def test_the_wait_for_pending_rows_is_not_started_again_by_rows_sent_again(store, tmp_path):
    """The wait began again with every row sent again, so a 2-minute wait took 5 (or never
    ended). Now it starts once, when every row has been sent, and ends on time."""
    stamina.set_testing(True, attempts=1)
    wait = 1.5
    try:
        with SandboxServer(SandboxConfig(seed=4, requery_cooldown_s=0)) as sandbox:
            async def go():
                async with client(sandbox) as c:
                    batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 6))
                async with BuyPowerClient("http://127.0.0.1:9", SecretStr("k" * 64), rate_limit=0,
                                          not_found_window=0.2, breaker=CircuitBreaker(threshold=10_000),
                                          transport=httpx.MockTransport(_never_received)) as fake:
                    seen = []
                    runner = Runner(store, fake, batch, RunOptions(concurrency=2, wait_pending=wait, requery=QUICK),
                                    on_progress=lambda p: seen.append((time.monotonic(), p)))
                    async with asyncio.timeout(wait + 20):  # the old wait never ended here
                        result = await runner.run()
                    return batch, seen, result, time.monotonic()
            batch, seen, result, ended = asyncio.run(go())
            started = [at for at, p in seen if p.wait_ends_at is not None]
            assert started, "the run never said it was waiting for pending rows"
            assert ended - started[0] < wait + 2.0  # a POST in flight and the balance read, at most
            ends = {p.wait_ends_at for _, p in seen if p.wait_ends_at is not None}
            assert len(ends) == 1  # one wait, never started again
            final = result.progress
            assert final.resent > 0 and final.sent <= final.to_send == 6
            assert final.wait_ends_at is None and final.pending == ()
            # nothing was lost: every row still holds its one orderId, PENDING or NOT_SENT
            assert set(store.stats(batch).by_state) <= {S.PENDING, S.NOT_SENT}
    finally:
        stamina.set_testing(False)


def test_the_wait_names_each_pending_row_and_its_next_requery(store, tmp_path):
    """During the wait every progress names the pending rows (sheet row, meter) and when each
    is asked about next; the wait ends sooner when no pending row is due before its end."""
    with SandboxServer(SandboxConfig(seed=6, requery_cooldown_s=0, delay=(1,), pending_requeries=1000)) as sandbox:
        async def go():
            async with client(sandbox) as c:
                batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 4))
                sandbox.update_config(pending_rate=1.0)
                seen = []
                runner = Runner(store, c, batch, RunOptions(concurrency=4, wait_pending=2.5,
                                                            requery=RequeryPolicy(1.0, 1.0, 60)),
                                on_progress=seen.append)
                started = time.monotonic()
                await runner.run()
                return batch, seen, time.monotonic() - started
        batch, seen, took = asyncio.run(go())
        waiting = [p for p in seen if p.wait_ends_at is not None]
        assert waiting and all(len(p.pending) == 4 for p in waiting)
        meters = {r.row_number: r.meter for r in store.rows(batch)}
        for p in waiting:
            assert all(meters[r.row_number] == r.meter and r.next_requery_at is not None for r in p.pending)
            assert [r.next_requery_at for r in p.pending] == sorted(r.next_requery_at for r in p.pending)
        assert took < 2.5 + 3.0
        assert store.stats(batch).by_state == {S.PENDING: 4}  # left for the failed/pending view


async def _requeries_hang(request: httpx.Request) -> httpx.Response:
    """Vends are accepted as pending (202); a requery gets no answer for a minute."""
    if request.url.path.endswith("/wallet/balance"):
        return httpx.Response(200, json={"balance": 1_000_000})
    if request.url.path.endswith("/vend"):
        return httpx.Response(202, json={"status": True, "message": "Transaction is still processing", "delay": [0]})
    if "/transaction/" in request.url.path:
        await asyncio.sleep(60)
    return httpx.Response(200, json={})


def test_a_stop_during_the_wait_gives_up_a_requery_waiting_for_buypower_at_once(store, tmp_path):
    """`s` (or Ctrl+C) ends the wait at once: a requery is a read, given up; its row stays PENDING."""
    stamina.set_testing(True, attempts=1)
    try:
        with SandboxServer(SandboxConfig(seed=4, requery_cooldown_s=0)) as sandbox:
            async def go():
                async with client(sandbox) as c:
                    batch = await prepare(store, c, write_batch(tmp_path / "b.csv", 3))
                async with BuyPowerClient("http://127.0.0.1:9", SecretStr("k" * 64), rate_limit=0, read_timeout=90,
                                          breaker=CircuitBreaker(threshold=10_000),
                                          transport=httpx.MockTransport(_requeries_hang)) as fake:
                    runner = Runner(store, fake, batch, RunOptions(concurrency=2, wait_pending=60, requery=QUICK),
                                    on_progress=lambda p: None)
                    task = asyncio.ensure_future(runner.run())
                    async with asyncio.timeout(10):
                        while runner._reading is None:  # a requery is waiting for BuyPower
                            await asyncio.sleep(0.05)
                    stopped = time.monotonic()
                    runner.stop()
                    async with asyncio.timeout(10):  # before: the requery's minute, then the run's end
                        await task
                    return batch, time.monotonic() - stopped
            batch, took = asyncio.run(go())
            assert took < 3, took
            assert set(store.stats(batch).by_state) == {S.PENDING}
    finally:
        stamina.set_testing(False)
