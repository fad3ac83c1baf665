"""The sandbox plays what production answers showed (buypower-api.md §8, §13): key-change and
bonus tokens, debt, a 13-digit meter, untidy names, vendTime zones, a plain-text 429."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.outcomes import Outcome
from buypower_tui.core.sandbox import FIXTURE_METERS, SandboxConfig, SandboxServer
from buypower_tui.sandbox_cli import meters_table

KEY = "7a1c" * 16
KCT, BONUS, DEBT, PLAIN_429, KCT_AND_BONUS = "55500000011", "55500000012", "55500000013", "55500000014", "55500000015"
IBADAN_13 = "0159006592509"


@pytest.fixture
def sandbox():
    with SandboxServer(SandboxConfig(key=KEY, seed=11, requery_cooldown_s=0, pending_requeries=1)) as server:
        yield server


@pytest.fixture
def api(sandbox):
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=5) as client:
        yield client


def vend(api, order_id: str, meter: str, amount: object = 1000, disco: str = "ABUJA") -> httpx.Response:
    return api.post("/vend", json={"orderId": order_id, "meter": meter, "disco": disco, "vendType": "PREPAID",
                                   "amount": amount, "phone": "08031234567", "paymentType": "B2B"})


def requery_data(api, order_id: str) -> dict:
    r = api.get(f"/transaction/{order_id}")
    assert r.status_code == 200, r.text
    return r.json()["result"]["data"]


def grouped(digits: str) -> str:
    return "-".join(digits[i:i + 4] for i in range(0, 20, 4))


@pytest.mark.parametrize(("meter", "kinds"), [(KCT, ["TOKEN", "KCT1", "KCT2"]), (BONUS, ["TOKEN", "BONUS"]),
                                              (KCT_AND_BONUS, ["TOKEN", "BONUS", "KCT1", "KCT2"])])
def test_extra_tokens_come_ungrouped_from_vend_and_grouped_from_requery(api, meter, kinds):
    data = vend(api, f"o-{meter}", meter).json()["data"]
    parcels = data["parcels"]
    assert [p["type"] for p in parcels] == kinds  # the credit token first, as BuyPower lists it
    assert parcels[0]["content"] == data["token"].replace("-", "")
    assert all(len(p["content"]) == 20 and p["content"].isdigit() for p in parcels)
    assert len({p["content"] for p in parcels}) == len(parcels)
    again = requery_data(api, f"o-{meter}")["parcels"]
    assert again == [{"type": p["type"], "content": grouped(p["content"])} for p in parcels]


def test_vend_time_is_wat_on_vend_and_utc_on_requery_for_the_same_order(api):
    vend_time = vend(api, "zones-1", KCT).json()["data"]["vendTime"]
    requery_time = requery_data(api, "zones-1")["vendTime"]
    as_read = [datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t in (vend_time, requery_time)]  # neither has a zone
    assert as_read[0] - as_read[1] == timedelta(hours=1)


def test_a_prepaid_meter_with_debt_pays_some_of_it_and_the_split_holds_to_the_kobo(api):
    check = {"meter": DEBT, "disco": "ABUJA", "vendType": "PREPAID"}
    before = api.get("/check/meter", params=check).json()
    assert (before["outstanding"], before["debtRepayment"]) == (1250.5, 0.25)
    for order_id, meter in (("debt-1", DEBT), ("plain-1", "12345678910")):
        vend(api, order_id, meter, 2000)
    indebted, plain = requery_data(api, "debt-1"), requery_data(api, "plain-1")
    generated, tax, total = (Decimal(indebted[k]) for k in ("amountGenerated", "tax", "totalAmountPaid"))
    assert generated + tax == total == 2000  # §13: to the kobo, debt or not
    assert abs(tax - generated * Decimal("0.075")) <= Decimal("0.01")  # §8: 7.5 % of amountGenerated
    assert Decimal(indebted["debtAmount"]) == Decimal("465.12")  # a quarter of the 1,860.47 net of VAT
    assert Decimal(indebted["debtRemaining"]) == Decimal("1250.50") - Decimal("465.12")
    assert Decimal(indebted["units"]) < Decimal(plain["units"])  # why this meter got fewer kWh
    assert (plain["debtAmount"], plain["debtRemaining"]) == ("0.00", "0.00")
    assert api.get("/check/meter", params=check).json()["outstanding"] == 785.38  # paid down


def test_the_13_digit_ibadan_meter_is_served_and_its_untidy_name_reaches_the_client_tidy(sandbox, api):
    raw = api.get("/check/meter", params={"meter": IBADAN_13, "disco": "IBADAN", "vendType": "PREPAID"}).json()
    assert raw["meterNo"] == IBADAN_13 and raw["name"].endswith("  ") and "  " in raw["address"]
    assert vend(api, "long-1", IBADAN_13, disco="IBADAN").status_code == 200

    async def ask():
        async with BuyPowerClient(sandbox.url, SecretStr(KEY), rate_limit=0) as client:
            info = await client.check_meter(IBADAN_13, "IBADAN")
            paid = await client.vend("long-2", IBADAN_13, "IBADAN", Decimal(1000), "08031234567")
            return info, paid

    info, paid = asyncio.run(ask())
    assert info.found and (info.name, info.address) == ("ADEWALE KOLAWOLE OYELARAN", "14 RING ROAD, IBADAN")
    assert paid.outcome is Outcome.SUCCESS and paid.customer_name == "ADEWALE KOLAWOLE OYELARAN"


def test_a_first_requery_can_be_a_plain_text_429_with_retry_after(sandbox, api):
    assert vend(api, "slow-1", PLAIN_429).status_code == 202
    r = api.get("/transaction/slow-1")
    assert (r.status_code, r.text, r.headers["retry-after"]) == (429, "Too Many Requests", "1")
    assert r.headers["content-type"].startswith("text/plain")

    async def ask():
        async with BuyPowerClient(sandbox.url, SecretStr(KEY), rate_limit=0) as client:
            return [await client.requery("slow-2") for _ in range(3)]

    vend(api, "slow-2", PLAIN_429)
    throttled, pending, paid = asyncio.run(ask())
    assert throttled.outcome is Outcome.PENDING and throttled.http_status == 429 and throttled.retry_after == 1
    assert pending.outcome is Outcome.PENDING and paid.outcome is Outcome.SUCCESS and paid.token


def test_a_ledger_file_keeps_the_extra_tokens_and_the_429_already_given(tmp_path):
    config = SandboxConfig(key=KEY, seed=3, requery_cooldown_s=0, ledger=tmp_path / "ledger.db")
    with SandboxServer(config) as first, httpx.Client(base_url=first.url, timeout=5,
                                                      headers={"Authorization": f"Bearer {KEY}"}) as api:
        parcels = vend(api, "kept-kct", KCT_AND_BONUS).json()["data"]["parcels"]
        vend(api, "kept-429", PLAIN_429)
        assert api.get("/transaction/kept-429").status_code == 429
    with SandboxServer(config) as again, httpx.Client(base_url=again.url, timeout=5,
                                                      headers={"Authorization": f"Bearer {KEY}"}) as api:
        assert [p["content"].replace("-", "") for p in requery_data(api, "kept-kct")["parcels"]] == \
            [p["content"] for p in parcels]
        assert api.get("/transaction/kept-429").status_code != 429  # given once, remembered


def test_list_meters_names_every_new_fixture():
    table = meters_table()
    for meter in (KCT, BONUS, DEBT, PLAIN_429, KCT_AND_BONUS, IBADAN_13):
        assert meter in table and FIXTURE_METERS[meter].note.split(":")[0][:20] in table
    assert "key-change" in table and "13-digit" in table
