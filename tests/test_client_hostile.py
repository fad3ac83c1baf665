"""A server that drips, never stops talking, or answers far too much (issue 10, points 11 and 12):
every request ends by its overall deadline, no answer is read past the size cap, a vend that
gets no whole answer is PENDING (sent once, requeried), and a read is an ApiError."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import pytest
import stamina
from pydantic import SecretStr

from buypower_tui.core import rows
from buypower_tui.core.client import MAX_BODY, BuyPowerClient, NotSent
from buypower_tui.core.importing import import_file
from buypower_tui.core.outcomes import STORED_RESPONSE_MAX, ApiError, Outcome
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.rules import Limits
from tests.hostile_server import DRIP, ENDLESS, SAFETY_LIMIT, HostileServer

TOKEN = "3172-0458-9916-2203-5547"
GUARD = 30  # seconds: only so that a client without a deadline fails the test instead of hanging it


@pytest.fixture(autouse=True)
def retries_without_waits():
    stamina.set_testing(True, attempts=2)
    yield
    stamina.set_testing(False)


def client_for(server: HostileServer, **kwargs) -> BuyPowerClient:
    kwargs.setdefault("connect_timeout", 0.2)
    kwargs.setdefault("read_timeout", 0.5)  # the server drips every 0.1 s: this never trips by itself
    return BuyPowerClient(server.url, SecretStr("k" * 64), rate_limit=0, not_found_window=0, **kwargs)


async def vend(client: BuyPowerClient, order_id: str | None = None):
    return await asyncio.wait_for(client.vend(order_id or str(uuid.uuid4()), "04271892301", "IKEJA", Decimal(1000),
                                              "08031234567"), GUARD)


def test_a_dripping_vend_is_pending_at_its_deadline_and_a_dripping_read_an_api_error():
    with HostileServer(vend=DRIP, reads=DRIP, interval=0.1) as server:
        async def go():
            async with client_for(server) as c:
                assert c.deadline < 5
                result = await vend(c)
                with pytest.raises(ApiError, match="DeadlineExceeded"):
                    await asyncio.wait_for(c.wallet_balance(), GUARD)
                return result
        result = asyncio.run(go())
    assert result.outcome is Outcome.PENDING and "DeadlineExceeded" in result.message
    assert server.hits.count("POST /v2/vend") == 1  # the vend went once; a read is retried within its caps
    assert server.hits.count("GET /v2/wallet/balance") == 2


def test_cut_ends_the_requests_in_flight_as_pending_and_nothing_leaves_after_it():
    with HostileServer(vend=DRIP, reads=DRIP, interval=0.1) as server:
        async def go():
            async with client_for(server, read_timeout=60) as c:  # the deadline is far away
                tasks = [asyncio.create_task(vend(c)) for _ in range(2)]
                tasks.append(asyncio.create_task(c.requery(str(uuid.uuid4()))))
                while len(server.hits) < 3:
                    await asyncio.sleep(0.05)
                c.cut()
                results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
                with pytest.raises(NotSent):
                    await c.vend(str(uuid.uuid4()), "04271892301", "IKEJA", Decimal(1000), "08031234567")
                with pytest.raises(ApiError):
                    await c.wallet_balance()
                return results
        results = asyncio.run(go())
    assert [r.outcome for r in results] == [Outcome.PENDING] * 3  # never NOT_SENT: they may have arrived
    assert all("RequestCut" in r.message for r in results)
    assert len(server.hits) == 3  # nothing was sent after the cut


def test_an_endless_answer_is_not_read_past_the_cap():
    with HostileServer(vend=ENDLESS, reads=ENDLESS) as server:
        async def go():
            async with client_for(server, read_timeout=10) as c:
                result = await vend(c)
                with pytest.raises(ApiError, match="BodyTooLarge"):
                    await asyncio.wait_for(c.wallet_balance(), GUARD)
                return result
        result = asyncio.run(go())
    assert result.outcome is Outcome.PENDING and "BodyTooLarge" in result.message
    assert server.sent < SAFETY_LIMIT  # the client hung up, it did not read on


def _success(**data) -> bytes:
    data = {"token": TOKEN, "units": 4.4, "receiptNo": "38851221", "totalAmountPaid": 1000,
            "parcels": [{"type": "TOKEN", "content": TOKEN.replace("-", "")}], **data}
    return json.dumps({"status": True, "message": "Successful transaction", "responseCode": 100,
                       "data": data}).encode()


def test_a_huge_but_valid_success_is_stored_short_and_a_too_big_one_is_pending(store, tmp_path):
    sheet = tmp_path / "one.csv"
    sheet.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n")
    batch = import_file(sheet, store, Limits(), mode="sandbox").batch_id
    (row_id,) = rows.ids_in(store, batch, ("VALID",))
    rows.transition(store, row_id, ("VALID",), "VERIFIED")
    rows.approve(store, [row_id])
    row = rows.mark_sending(store, row_id)

    huge = _success(name="N" * 300_000, padding="x" * 600_000)
    assert STORED_RESPONSE_MAX < len(huge) < MAX_BODY
    with HostileServer(vend=huge) as server:
        async def go():
            async with client_for(server) as c:
                return await vend(c, row.order_id)
        result = asyncio.run(go())
    assert result.outcome is Outcome.SUCCESS and result.token == TOKEN.replace("-", "")
    stored = rows.record_result(store, row_id, result, requery=False, policy=RequeryPolicy(1, 1, 60))
    assert stored.state == "SUCCESS" and stored.token == TOKEN.replace("-", "") and stored.receipt_no == "38851221"
    kept = rows.get(store, row_id).response
    assert len(json.dumps(kept)) <= STORED_RESPONSE_MAX and kept["_truncated"] == {"bytes": len(huge)}
    assert kept["data"]["token"] == TOKEN and "padding" not in kept["data"] and len(kept["data"]["name"]) <= 200

    with HostileServer(vend=_success(padding="x" * (2 * MAX_BODY))) as server:
        async def again():
            async with client_for(server) as c:
                return await vend(c)
        result = asyncio.run(again())
    assert result.outcome is Outcome.PENDING and "BodyTooLarge" in result.message
