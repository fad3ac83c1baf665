"""The client against the sandbox over real loopback HTTP: one test per row of the spec's
status table (buypower-api.md §5) and requery table (§4.5), asserting the outcome and the
provider's message that is kept."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import stamina
from pydantic import SecretStr

from buypower_tui.core.breaker import BreakerOpen, BreakerState, CircuitBreaker
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.lookup_cache import MeterCache
from buypower_tui.core.outcomes import ApiError, ConfigurationError, Outcome
from buypower_tui.core.sandbox import FIXTURE_METERS, SandboxConfig, SandboxServer

OK_METER, OK_DISCO = "04271892301", "IKEJA"
PENDING_OK, PENDING_FAIL, VENDED_500, VENDED_502 = "55500000001", "55500000002", "55500000003", "55500000004"
DROP, HANG, MAINTENANCE, POSTPAID, BELOW_MIN, NO_TOKEN = (
    "55500000005", "55500000006", "55500000007", "5550000008", "55500000009", "55500000010")
PHONE = "08031234567"


@pytest.fixture(autouse=True)
def no_retry_waits():
    stamina.set_testing(True, attempts=3)  # retries happen, without sleeping
    yield
    stamina.set_testing(False)


@pytest.fixture
def sandbox():
    with SandboxServer(SandboxConfig(seed=7, requery_cooldown_s=0, hold_s=2.0)) as server:
        yield server


def client_for(server: SandboxServer, **kwargs) -> BuyPowerClient:
    kwargs.setdefault("rate_limit", 0)
    kwargs.setdefault("not_found_window", 0)
    return BuyPowerClient(server.url, SecretStr(server.key), **kwargs)


def run(coro):
    return asyncio.run(coro)


async def vend(client: BuyPowerClient, meter=OK_METER, disco=None, amount="1000", order_id=None, **kw):
    """A vend; the disco is the fixture meter's own unless given (generated meters: ABUJA)."""
    disco = disco or (FIXTURE_METERS[meter].disco if meter in FIXTURE_METERS else "ABUJA")
    return await client.vend(order_id or str(uuid.uuid4()), meter, disco, Decimal(amount), PHONE, **kw)


# -- POST /vend: §5 -------------------------------------------------------------------------------

def test_200_success_keeps_token_units_receipt_and_amounts(sandbox):
    async def go():
        async with client_for(sandbox) as c:
            return await vend(c, OK_METER, OK_DISCO)
    r = run(go())
    assert r.outcome is Outcome.SUCCESS and r.http_status == 200 and r.message == "Successful transaction"
    (row,) = sandbox.ledger.vends()
    assert r.token == row["token"] and len(r.token) == 20 and r.token_display.count("-") == 4
    assert r.parcels[0].type == "TOKEN" and r.parcels[0].content == r.token
    assert r.units and r.receipt_no and r.vend_ref
    assert r.total_paid == Decimal(1000) and r.tax + r.amount_generated == Decimal(1000)
    assert r.debt_amount == 0 and r.customer_name


def test_202_is_pending_with_the_delay_hint(sandbox):
    r = run(_one(sandbox, PENDING_OK))
    assert r.outcome is Outcome.PENDING and r.http_status == 202
    assert r.message.startswith("Transaction is still in progress") and r.delays == (2, 2, 2)


def test_400_below_minimum_is_failed(sandbox):
    r = run(_one(sandbox, BELOW_MIN, amount="500"))
    assert r.outcome is Outcome.FAILED and r.http_status == 400
    assert r.message == "You are paying below the minimum vend amount"


def test_409_repeated_order_is_pending_and_never_vends_twice(sandbox):
    order = str(uuid.uuid4())

    async def go():
        async with client_for(sandbox) as c:
            return await vend(c, order_id=order), await vend(c, order_id=order)
    first, second = run(go())
    assert first.outcome is Outcome.SUCCESS
    assert second.outcome is Outcome.PENDING and second.http_status == 409
    assert second.message == "Request already received"
    assert sandbox.ledger.posts(order) == 2 and len(sandbox.ledger.vends()) == 1


def test_422_insufficient_wallet_is_failed(sandbox):
    sandbox.update_config(wallet=Decimal(500))
    r = run(_one(sandbox, OK_METER, disco=OK_DISCO, amount="1000"))
    assert r.outcome is Outcome.FAILED and r.http_status == 422 and r.message == "insufficient wallet balance."


@pytest.mark.parametrize("meter,status", [(VENDED_500, 500), (VENDED_502, 502)])
def test_5xx_after_vending_is_pending_and_the_requery_finds_the_token(sandbox, meter, status):
    async def go():
        async with client_for(sandbox) as c:
            order = str(uuid.uuid4())
            return await vend(c, meter, order_id=order), await c.requery(order)
    first, second = run(go())
    assert first.outcome is Outcome.PENDING and first.http_status == status
    assert first.message in ("An unexpected error occurred. Please requery to get status.",
                             "We received an unexpected response from your service provider")
    assert second.outcome is Outcome.SUCCESS and second.token == sandbox.ledger.vends()[0]["token"]


def test_501_maintenance_is_failed(sandbox):
    r = run(_one(sandbox, MAINTENANCE))
    assert r.outcome is Outcome.FAILED and r.http_status == 501
    assert r.message.startswith("This account requires maintenance")


def test_503_disco_down_is_pending_not_failed(sandbox):
    sandbox.update_config(down=frozenset({"ABUJA"}))
    r = run(_one(sandbox, "12345678910"))
    assert r.outcome is Outcome.PENDING and r.http_status == 503
    assert r.message.startswith("Service unavailable")


def test_401_bad_key_is_a_configuration_error_and_the_key_stays_out_of_logs(sandbox, tmp_path):
    from buypower_tui.logs import setup_logging

    bad = "f" * 64
    log_file = tmp_path / "client.log"
    setup_logging(log_file, "DEBUG", (bad,))

    async def go():
        async with BuyPowerClient(sandbox.url, SecretStr(bad), rate_limit=0) as c:
            with pytest.raises(ConfigurationError, match="API key was refused") as info:
                await vend(c)
            logging.getLogger("buypower_tui.test").error("vend failed: %r %s", info.value, c)
            return info.value, c
    error, client = run(go())
    assert bad not in repr(error) and bad not in repr(client) and bad not in str(error)
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text()
    assert "vend failed" in text and "/vend -> 401" in text and bad not in text


def test_200_without_token_is_pending_then_the_requery_has_it(sandbox):
    async def go():
        async with client_for(sandbox) as c:
            order = str(uuid.uuid4())
            return await vend(c, NO_TOKEN, order_id=order), await c.requery(order)
    first, second = run(go())
    assert first.outcome is Outcome.PENDING and first.http_status == 200 and first.token is None
    assert second.outcome is Outcome.SUCCESS and second.token


def test_postpaid_success_has_no_token_but_debt_fields(sandbox):
    r = run(_one(sandbox, POSTPAID, amount="5000", vend_type="POSTPAID"))
    assert r.outcome is Outcome.SUCCESS and r.token is None
    assert r.debt_amount and r.debt_amount > 0 and r.debt_remaining is not None


def test_a_dropped_connection_is_pending_and_the_vend_happened(sandbox):
    r = run(_one(sandbox, DROP))
    assert r.outcome is Outcome.PENDING and r.http_status is None and "RemoteProtocolError" in r.message
    assert sandbox.ledger.vends()[0]["status"] == "SUCCESS"


def test_a_read_timeout_is_pending(sandbox):
    r = run(_one(sandbox, HANG, read_timeout=0.5))
    assert r.outcome is Outcome.PENDING and "ReadTimeout" in r.message


def test_a_connection_refused_is_not_sent(sandbox):
    url, key = sandbox.url, sandbox.key
    sandbox.stop()

    async def go():
        async with BuyPowerClient(url, SecretStr(key), rate_limit=0) as c:
            return await vend(c)
    r = run(go())
    assert r.outcome is Outcome.NOT_SENT and "never reached BuyPower" in r.message


async def _one(server, meter, disco=None, amount="1000", vend_type="PREPAID", **client_kwargs):
    async with client_for(server, **client_kwargs) as c:
        return await vend(c, meter, disco, amount, vend_type=vend_type)


# -- GET /transaction/{orderId}: §4.5 ------------------------------------------------------------------

def requery_after(server, meter, times, **kwargs):
    async def go():
        async with client_for(server, **kwargs) as c:
            order = str(uuid.uuid4())
            await vend(c, meter, order_id=order)
            sent = datetime.now(UTC)
            return [await c.requery(order, sent_at=sent) for _ in range(times)]
    return run(go())


def test_requery_400_rc201_still_processing_is_pending_then_success(sandbox):
    answers = requery_after(sandbox, PENDING_OK, 3)
    assert [a.outcome for a in answers] == [Outcome.PENDING, Outcome.PENDING, Outcome.SUCCESS]
    assert answers[0].http_status == 400 and answers[0].provider_code == "201"
    assert answers[0].message.startswith("Transaction is still processing") and answers[0].retry_after == 120
    assert answers[2].token


def test_requery_400_rc202_failed_then_refund_already_processed(sandbox):
    answers = requery_after(sandbox, PENDING_FAIL, 4)
    assert [a.outcome for a in answers] == [Outcome.PENDING, Outcome.PENDING, Outcome.FAILED, Outcome.FAILED]
    assert (answers[2].provider_code, answers[2].message) == ("202", "Transaction failed.")
    assert "Refund already processed" in answers[3].message
    assert sandbox.ledger.wallet == Decimal(1_000_000)  # refunded


def test_requery_400_rc203_not_initiated_is_not_sent_after_the_window(sandbox):
    (answer,) = requery_after(sandbox, MAINTENANCE, 1)
    assert answer.outcome is Outcome.NOT_SENT and answer.provider_code == "203"
    assert answer.message == "Transaction not initiated."


def test_requery_404_not_found_depends_on_the_window(sandbox):
    async def go():
        async with client_for(sandbox, not_found_window=120) as c:
            order = "never-sent-" + uuid.uuid4().hex
            now = datetime.now(UTC)
            return (await c.requery(order, sent_at=now),
                    await c.requery(order, sent_at=now - timedelta(seconds=121)))
    early, late = run(go())
    assert early.outcome is Outcome.PENDING and early.http_status == 404 and early.provider_code == "20"
    assert late.outcome is Outcome.NOT_SENT and late.message.startswith("No transaction found with reference")


def test_requery_429_too_early_is_pending_with_retry_after(sandbox):
    sandbox.update_config(requery_cooldown_s=30)
    (answer,) = requery_after(sandbox, OK_METER, 1)
    assert answer.outcome is Outcome.PENDING and answer.http_status == 429 and answer.retry_after > 0


def test_requery_success_keeps_string_amounts_as_decimals(sandbox):
    (answer,) = requery_after(sandbox, OK_METER, 1)
    assert answer.outcome is Outcome.SUCCESS and isinstance(answer.units, Decimal)
    assert answer.amount_generated + answer.tax == Decimal(1000)


# -- reads ---------------------------------------------------------------------------------------------

def test_check_meter_balance_and_disco_status(sandbox):
    async def go():
        async with client_for(sandbox) as c:
            return (await c.check_meter(OK_METER, "ikeja"), await c.check_meter("12345670000", "EKO"),
                    await c.wallet_balance(), await c.disco_status())
    found, missing, balance, discos = run(go())
    assert found.found and found.name and found.min_vend == 500 and found.max_vend == 10_000_000
    assert not missing.found and missing.message.startswith("Unable to validate meter")
    assert balance == Decimal(1_000_000) and discos["IKEJA"] is True


def test_reads_are_retried_and_then_give_up(sandbox):
    sandbox.update_config(down=frozenset({"EKO"}))

    async def go():
        async with client_for(sandbox) as c:
            with pytest.raises(ApiError, match="HTTP 503"):
                await c.check_meter("62010000001", "EKO")
    run(go())
    assert sandbox.ledger.requests()["check_meter"] == 3


def test_meter_lookups_are_cached_in_memory_and_in_the_store(sandbox, store):
    async def go(cache):
        async with client_for(sandbox, cache=cache) as c:
            return [await c.check_meter(OK_METER, OK_DISCO) for _ in range(3)]
    first = run(go(MeterCache(600, store)))
    assert sandbox.ledger.requests()["check_meter"] == 1
    again = run(go(MeterCache(600, store)))  # a new process: only the store remembers
    assert sandbox.ledger.requests()["check_meter"] == 1 and again[0] == first[0]
    run(go(MeterCache(0, store)))  # a TTL of 0: nothing is reused, each of the 3 checks asks
    assert sandbox.ledger.requests()["check_meter"] == 4


# -- exactly once, breaker ----------------------------------------------------------------------------

@pytest.mark.parametrize("meter", [VENDED_500, VENDED_502, DROP, HANG])
def test_post_vend_reaches_the_server_exactly_once_per_call(sandbox, meter):
    order = str(uuid.uuid4())

    async def go():
        async with client_for(sandbox, read_timeout=0.5) as c:
            return await vend(c, meter, order_id=order)
    assert run(go()).outcome is Outcome.PENDING
    assert sandbox.ledger.posts(order) == 1


def test_post_vend_once_also_under_503_before_vending(sandbox):
    sandbox.update_config(fail_rate=1.0)
    orders = [str(uuid.uuid4()) for _ in range(6)]

    async def go():
        async with client_for(sandbox, breaker=CircuitBreaker(threshold=100)) as c:
            return [await vend(c, "12345678911", order_id=o) for o in orders]
    results = run(go())
    assert {r.http_status for r in results} <= {500, 502, 503}
    assert all(r.outcome is Outcome.PENDING for r in results)
    assert all(sandbox.ledger.posts(o) == 1 for o in orders)


def test_breaker_opens_fails_fast_and_probes_with_reads_only(sandbox):
    clock = [1_000_000.0]
    breaker = CircuitBreaker(threshold=5, cooldown=60, probes=3, clock=lambda: clock[0])
    sandbox.update_config(fail_rate=1.0)

    async def go():
        async with client_for(sandbox, breaker=breaker) as c:
            for _ in range(5):
                await vend(c, "12345678911")
            assert breaker.state is BreakerState.OPEN
            posts_before = sandbox.ledger.requests()["vend"]
            with pytest.raises(BreakerOpen, match="BuyPower unavailable, retrying at"):
                await vend(c)
            clock[0] += 60
            sandbox.update_config(fail_rate=0.0)
            with pytest.raises(BreakerOpen):
                await vend(c)  # half-open: a vend is never the probe
            with pytest.raises(BreakerOpen):
                await c.requery("any")  # nor a requery
            assert sandbox.ledger.requests()["vend"] == posts_before  # nothing was sent
            assert await c.probe() is True  # a read probe closes it
            assert breaker.state is BreakerState.CLOSED
            return await vend(c)
    assert run(go()).outcome is Outcome.SUCCESS


class _Tampering(httpx.AsyncHTTPTransport):
    """A real transport whose responses lose their signature on the way (a proxy, say)."""

    async def handle_async_request(self, request):
        response = await super().handle_async_request(request)
        response.headers["x-buypower-signature"] = "0" * 128
        return response


class _Counting(httpx.AsyncHTTPTransport):
    def __init__(self):
        super().__init__()
        self.in_flight = self.peak = 0

    async def handle_async_request(self, request):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            response = await super().handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1


def test_signature_is_verified_when_asked(sandbox):
    async def go(transport=None):
        async with client_for(sandbox, verify_signature=True, transport=transport) as c:
            return await vend(c)
    assert run(go()).outcome is Outcome.SUCCESS  # the sandbox signs sha512(body + key)
    tampered = run(go(_Tampering()))
    assert tampered.outcome is Outcome.PENDING and "signature does not match" in tampered.message
    assert len(sandbox.ledger.vends()) == 2  # it was vended: PENDING, to be requeried, is the safe reading


def test_one_concurrency_cap_is_shared_by_every_call(sandbox):
    sandbox.update_config(latency_ms=30)
    transport = _Counting()

    async def go():
        async with client_for(sandbox, concurrency=3, transport=transport) as c:
            calls = [c.wallet_balance() for _ in range(4)] + [vend(c) for _ in range(4)]
            calls += [c.check_meter(f"1234567{i:04d}", "ABUJA") for i in range(1, 5)]
            await asyncio.gather(*calls)
    run(go())
    assert transport.peak == 3


def test_calls_queued_when_the_breaker_opens_are_not_sent(sandbox):
    async def go():
        async with client_for(sandbox, concurrency=2) as c:
            return await asyncio.gather(*(vend(c, VENDED_500) for _ in range(40)), return_exceptions=True)
    results = run(go())
    refused = [r for r in results if isinstance(r, BreakerOpen)]
    assert sandbox.ledger.requests()["vend"] <= 6  # 5 to open it, and at most one already on the wire
    assert len(refused) >= 34


def test_a_bad_key_on_any_read_is_a_configuration_error(sandbox):
    async def go():
        async with BuyPowerClient(sandbox.url, SecretStr("0" * 64), rate_limit=0) as c:
            for call in (c.wallet_balance(), c.disco_status(), c.check_meter(OK_METER, OK_DISCO)):
                with pytest.raises(ConfigurationError):
                    await call
    run(go())


class _BrokenGzip(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request):
        response = await super().handle_async_request(request)
        await response.aread()
        return httpx.Response(response.status_code, headers={"content-encoding": "gzip"},
                              content=b"not gzip at all", request=request)


def test_an_undecodable_answer_is_pending_not_an_exception(sandbox):
    async def go():
        async with client_for(sandbox, transport=_BrokenGzip()) as c:
            order = str(uuid.uuid4())
            return await vend(c, order_id=order), await c.requery(order, sent_at=datetime.now(UTC)), order
    first, second, order = run(go())
    assert first.outcome is Outcome.PENDING and "DecodingError" in first.message
    assert second.outcome is Outcome.PENDING and sandbox.ledger.posts(order) == 1


def test_a_rate_below_one_per_second_still_sends(sandbox):
    async def go():
        async with client_for(sandbox, rate_limit=0.5) as c:
            return await c.wallet_balance()
    assert run(go()) == Decimal(1_000_000)


def test_a_requery_without_a_send_time_never_says_not_sent(sandbox):
    async def go():
        async with client_for(sandbox, not_found_window=0) as c:
            return await c.requery("never-sent-" + uuid.uuid4().hex)
    r = run(go())
    assert r.http_status == 404 and r.outcome is Outcome.PENDING


def test_maintenance_answers_do_not_open_the_breaker(sandbox):
    async def go():
        async with client_for(sandbox) as c:
            return [await vend(c, MAINTENANCE) for _ in range(6)], c.breaker.state
    results, state = run(go())
    assert all(r.outcome is Outcome.FAILED for r in results) and state is BreakerState.CLOSED
