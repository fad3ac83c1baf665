"""The sandbox BuyPower over real loopback HTTP (httpx, not the client class): shapes, codes,
money, fixture behaviours, faults, the ledger, and the `sandbox` command."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from buypower_tui.core.sandbox import FIXTURE_METERS, SandboxConfig, SandboxServer, signature
from buypower_tui.sandbox_cli import add_sandbox_parser

KEY = "5f2b" * 16
ABUJA = "12345678910"
PENDING_OK, PENDING_FAIL, VENDED_500, VENDED_502 = "55500000001", "55500000002", "55500000003", "55500000004"
DROP, HANG, MAINTENANCE, POSTPAID, BELOW_MIN, NO_TOKEN = (
    "55500000005", "55500000006", "55500000007", "5550000008", "55500000009", "55500000010")
PENDING_TEXT = "Transaction is still processing. Kindly retry in 2 minutes."


@pytest.fixture
def sandbox():
    config = SandboxConfig(key=KEY, seed=7, requery_cooldown_s=0, delay=(1, 1, 1), hold_s=0.5)
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def api(sandbox):
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=5) as client:
        yield client


def order(order_id: str, meter: str = ABUJA, amount: object = 1000, **over: object) -> dict:
    body = {"orderId": order_id, "meter": meter, "disco": "ABUJA", "vendType": "PREPAID", "amount": amount,
            "phone": "08031234567", "paymentType": "B2B", "vertical": "ELECTRICITY"}
    return body | over


def ledger(sandbox: SandboxServer) -> dict:
    return httpx.get(f"{sandbox.base}/__sandbox/ledger").json()


def configure(sandbox: SandboxServer, **changes: object) -> httpx.Response:
    return httpx.post(f"{sandbox.base}/__sandbox/config", json=changes)


def requery(api: httpx.Client, order_id: str) -> tuple[int, dict]:
    r = api.get(f"/transaction/{order_id}")
    return r.status_code, r.json()["result"]


# -- shapes ---------------------------------------------------------------------------------------

def test_discos_status_is_a_flat_map_of_the_spec_codes_and_down_discos_are_false(sandbox, api):
    body = api.get("/discos/status").json()
    assert {"ABUJA", "EKO", "IKEJA", "PH", "BH", "BENIN", "YOLA", "KAIDA", "MTN", "DSTV", "ABA"} <= set(body)
    assert all(v is True for v in body.values())
    assert configure(sandbox, down=["eko"]).status_code == 200
    assert api.get("/discos/status").json()["EKO"] is False


def test_check_meter_is_flat_and_orderid_appears_only_when_asked(api):
    params = {"meter": ABUJA, "disco": "ABUJA", "vendType": "PREPAID", "vertical": "ELECTRICITY"}
    body = api.get("/check/meter", params=params).json()
    assert set(body) == {"error", "discoCode", "vendType", "meterNo", "minVendAmount", "maxVendAmount",
                         "responseCode", "outstanding", "debtRepayment", "name", "address", "tariff",
                         "tariffDesc", "tariffClass"}
    assert (body["error"], body["responseCode"], body["meterNo"]) == (False, 100, ABUJA)
    assert (body["minVendAmount"], body["maxVendAmount"]) == (500, 10_000_000)
    assert "orderId" not in api.get("/check/meter", params=params | {"orderId": "false"}).json()
    assert re.fullmatch(r"[0-9a-f]{32}", api.get("/check/meter", params=params | {"orderId": "true"}).json()["orderId"])


def test_check_meter_refusals(sandbox, api):
    r = api.get("/check/meter", params={"meter": "45140000", "disco": "ABUJA", "vendType": "PREPAID"})
    assert r.status_code == 400
    assert r.json() == {"status": False, "error": True, "responseCode": 400,
                        "message": "Unable to validate meter. Please check meter number and try again."}
    r = api.get("/check/meter", params={"disco": "ABUJA", "vendType": "PREPAID"})
    assert (r.status_code, r.json()["message"]) == (400, '"meter" is required')
    r = api.get("/check/meter", params={"meter": ABUJA, "disco": "ABUJA"})
    assert r.json()["message"] == '"vendType" is required'
    r = api.get("/check/meter", params={"meter": ABUJA, "disco": "ABUJA", "vendType": "POSTPAID"})
    assert r.status_code == 400  # a fixture answers to its own vend type only
    configure(sandbox, down="ABUJA")
    r = api.get("/check/meter", params={"meter": ABUJA, "disco": "ABUJA", "vendType": "PREPAID"})
    assert (r.status_code, r.json()["message"]) == (503, "Service unavailable. Please try again later")


def test_generated_customers_depend_on_seed_and_meter_only():
    def name(seed, meter):
        with SandboxServer(SandboxConfig(key=KEY, seed=seed)) as s:
            r = httpx.get(f"{s.url}/check/meter", params={"meter": meter, "disco": "IKEJA", "vendType": "PREPAID"},
                          headers={"Authorization": f"Bearer {KEY}"})
            return r.json()["name"], r.json()["address"]
    assert name(1, "04123456789") == name(1, "04123456789")
    assert name(1, "04123456789") != name(1, "04123456788")
    assert name(1, "04123456789") != name(2, "04123456789")


def test_wallet_balance_is_flat(api):
    assert api.get("/wallet/balance").json() == {"balance": 1_000_000}


# -- auth and signature ---------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {KEY}", KEY, f"Bearer {KEY}x"])
def test_anything_but_the_bearer_key_gets_401(sandbox, header):
    headers = {"Authorization": header} if header else {}
    r = httpx.get(f"{sandbox.url}/wallet/balance", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"status": False, "message": "Unauthorized", "responseCode": 401}
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-buypower-signature"] == signature(r.content, KEY)
    assert ledger(sandbox)["requests"]["unauthorized"] == 1


def test_every_answer_is_signed_sha512_of_body_then_key(sandbox, api):
    answers = [api.get("/discos/status"), api.post("/vend", json=order("sig-1")), api.get("/transaction/nope"),
               api.get("/check/meter"), api.get("/nowhere"), httpx.get(f"{sandbox.base}/__sandbox/ledger")]
    for r in answers:
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-buypower-signature"] == hashlib.sha512(r.content + KEY.encode()).hexdigest()


def test_key_from_env_else_generated_from_the_seed(monkeypatch):
    a, b = SandboxServer(SandboxConfig(seed=5)), SandboxServer(SandboxConfig(seed=5))
    assert a.key == b.key and a.key_generated and re.fullmatch(r"[0-9a-f]{64}", a.key)
    assert SandboxServer(SandboxConfig(seed=6)).key != a.key
    monkeypatch.setenv("BUYPOWER_SANDBOX_KEY", "e" * 64)
    s = SandboxServer(SandboxConfig(seed=5))
    assert (s.key, s.key_generated) == ("e" * 64, False)
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", "e" * 64)  # the client's variable: one serves both
    assert SandboxServer(SandboxConfig(seed=5)).key == "e" * 64
    monkeypatch.delenv("BUYPOWER_SANDBOX_KEY")
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", "f" * 64)
    assert SandboxServer(SandboxConfig(seed=5)).key == "f" * 64
    monkeypatch.setenv("BUYPOWER_SANDBOX_KEY", "e" * 64)
    with pytest.raises(ValueError, match="hold different keys"):
        SandboxServer(SandboxConfig(seed=5))


# -- vend -----------------------------------------------------------------------------------------

def test_vend_success_envelope_vat_split_token_and_wallet(sandbox, api):
    r = api.post("/vend", params={"strict": 1}, json=order("ok-1", amount="1000"))
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["responseCode"], body["message"]) == (True, 200, "Successful transaction")
    data = body["data"]
    assert (data["tax"], data["amountGenerated"], data["totalAmountPaid"]) == (69.77, 930.23, 1000)
    assert data["units"] == round(930.23 / 209.5, 2) == 4.44
    assert data["responseCode"] == 100 and data["orderId"] == "ok-1"
    assert re.fullmatch(r"\d{4}(-\d{4}){4}", data["token"])
    assert data["parcels"] == [{"type": "TOKEN", "content": data["token"].replace("-", "")}]
    assert api.get("/wallet/balance").json() == {"balance": 999_000}
    [vend] = ledger(sandbox)["vends"]
    assert vend | {"time": None} == {"orderId": "ok-1", "meter": ABUJA, "disco": "ABUJA", "vendType": "PREPAID",
                                     "amount": "1000.00", "status": "SUCCESS", "token": data["parcels"][0]["content"],
                                     "time": None, "posts": 1, "answer": "200", "refunded": False}


def test_vat_split_holds_for_odd_amounts(api):
    data = api.post("/vend", json=order("vat-1", amount=3100)).json()["data"]
    assert (data["tax"], data["amountGenerated"]) == (216.28, 2883.72)  # §8's second real sample
    data = api.post("/vend", json=order("vat-2", amount="1234.56")).json()["data"]
    tax = (Decimal("1234.56") * Decimal("0.075") / Decimal("1.075")).quantize(Decimal("0.01"))
    assert Decimal(str(data["tax"])) == tax and Decimal(str(data["amountGenerated"])) == Decimal("1234.56") - tax


def test_form_encoded_body_and_lowercase_enums_are_accepted(api):
    r = api.post("/vend", data={"orderId": "form-1", "meter": ABUJA, "disco": "abuja", "vendType": "prepaid",
                                "amount": "1500", "phone": "+2348031234567", "paymentType": "b2b"})
    assert r.status_code == 200
    assert r.json()["data"]["phoneNo"] == "08031234567" and r.json()["data"]["disco"] == "ABUJA"


def test_missing_order_id_and_bad_fields_are_400(sandbox, api):
    r = api.post("/vend", json={k: v for k, v in order("x").items() if k != "orderId"})
    assert r.status_code == 400
    assert r.json() == {"status": False, "message": 'Invalid Order ID. "orderId" is required', "responseCode": 400}
    cases = [({"amount": "abc"}, '"amount" must be a number'), ({"amount": [1]}, '"amount" must be a number'),
             ({"meter": {"a": 1}}, '"meter" must be a string'), ({"disco": "MARS"}, '"disco" must be one of'),
             ({"vendType": None}, '"vendType" is required'), ({"phone": "12345"}, '"phone" must be a valid'),
             ({"amount": "10.005"}, "at most 2 decimal places"), ({"amount": -5}, "positive")]
    for i, (over, message) in enumerate(cases):
        r = api.post("/vend", json=order(f"bad-{i}") | over)
        assert r.status_code == 400 and message in r.json()["message"], (over, r.text)
    assert ledger(sandbox)["vends"] == []


@pytest.mark.parametrize("content, ctype", [(b"{not json", "application/json"), (b"[1, 2]", "application/json"),
                                            (b"\xff\xfe", "application/json"), (b"[" * 5000, "application/json"),
                                            (b"a=%zz&" * 200, "application/x-www-form-urlencoded")])
def test_unparseable_bodies_get_400_not_a_crash(api, content, ctype):
    r = api.post("/vend", content=content, headers={"Content-Type": ctype})
    assert r.status_code == 400 and r.json()["status"] is False
    assert api.get("/wallet/balance").status_code == 200  # and the server still answers


def test_huge_body_gets_400(api):
    r = api.post("/vend", content=b"{" + b" " * 200_000 + b"}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["responseCode"] == 400


def test_garbage_request_line_gets_signed_json_400(sandbox):
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert f"x-buypower-signature: {signature(body, KEY)}".encode() in head


def test_unknown_route_404_and_wrong_method_405(api):
    assert api.get("/nowhere").status_code == 404
    r = api.get("/vend")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_repeated_order_id_gets_409_and_never_vends_twice(sandbox, api):
    assert api.post("/vend", json=order("dup-1")).status_code == 200
    r = api.post("/vend", json=order("dup-1", amount=5000))
    assert r.status_code == 409
    assert r.json() == {"status": False, "message": "Request already received", "responseCode": 409}
    book = ledger(sandbox)
    assert [(v["orderId"], v["posts"], v["amount"]) for v in book["vends"]] == [("dup-1", 2, "1000.00")]
    assert book["wallet"] == "999000.00"


def test_the_same_order_id_on_eight_connections_at_once_vends_once(sandbox):
    barrier, codes = threading.Barrier(8), []
    client = httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, limits=httpx.Limits(max_connections=8))

    def send():
        barrier.wait()
        codes.append(client.post(f"{sandbox.url}/vend", json=order("race-1")).status_code)
    with client:
        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert sorted(codes) == [200] + [409] * 7
    book = ledger(sandbox)
    assert len(book["vends"]) == 1 and book["vends"][0]["posts"] == 8 and book["wallet"] == "999000.00"


def test_insufficient_wallet_is_422_and_the_order_is_not_initiated(sandbox, api):
    configure(sandbox, wallet=999)
    r = api.post("/vend", json=order("poor-1"))
    assert (r.status_code, r.json()["message"]) == (422, "insufficient wallet balance.")
    assert requery(api, "poor-1") == (400, {"status": False, "responseCode": 203,
                                            "message": "Transaction not initiated."})
    assert ledger(sandbox)["rejected"][0]["httpStatus"] == 422
    configure(sandbox, wallet=100_000)  # topped up: the same orderId goes through (not 409)
    assert api.post("/vend", json=order("poor-1")).status_code == 200
    assert api.post("/vend", json=order("poor-1")).status_code == 409  # now it is spent
    assert ledger(sandbox)["rejected"] == []


def test_minimum_and_maximum_vend_amounts(api):
    r = api.post("/vend", json=order("min-1", BELOW_MIN, 999))
    assert (r.status_code, r.json()["message"]) == (400, "You are paying below the minimum vend amount")
    assert api.post("/vend", json=order("min-2", BELOW_MIN, 1000)).status_code == 200
    assert api.post("/vend", json=order("min-3", amount=499)).status_code == 400
    r = api.post("/vend", json=order("max-1", amount=10_000_001))
    assert (r.status_code, r.json()["message"]) == (400, "You are paying above the maximum vend amount")
    assert requery(api, "min-1")[1]["responseCode"] == 203


def test_disco_down_is_503_and_nothing_is_recorded(sandbox, api):
    configure(sandbox, down=["ABUJA"])
    r = api.post("/vend", json=order("down-1"))
    assert (r.status_code, r.json()["message"]) == (503, "Service unavailable. Please try again later")
    assert requery(api, "down-1")[0] == 404
    assert ledger(sandbox)["vends"] == [] and ledger(sandbox)["posts"] == {"down-1": 1}


def test_unknown_meter_on_vend_is_400(api):
    r = api.post("/vend", json=order("nf-1", "45140000"))
    assert r.status_code == 400 and r.json()["message"].startswith("Unable to validate meter")


# -- requery --------------------------------------------------------------------------------------

def test_requery_success_is_wrapped_in_result_with_string_amounts(api):
    vend = api.post("/vend", json=order("rq-1")).json()["data"]
    status, result = requery(api, "rq-1")
    assert status == 200 and (result["status"], result["responseCode"]) == (True, 200)
    data = result["data"]
    assert (data["amountGenerated"], data["tax"], data["debtAmount"], data["units"]) == ("930.23", "69.77", "0.00",
                                                                                         "4.44")
    assert data["token"] == vend["token"] and data["orderId"] == "rq-1" and data["responseCode"] == 100


def test_requery_of_an_unknown_order_is_404_rc_20(api):
    assert requery(api, "nope-1") == (404, {"status": False, "responseCode": 20,
                                            "message": "No transaction found with reference: nope-1"})


def test_early_requery_gets_429_with_retry_after(sandbox, api):
    configure(sandbox, requery_cooldown_s=10)
    api.post("/vend", json=order("early-1"))
    r = api.get("/transaction/early-1")
    assert r.status_code == 429 and r.headers["retry-after"] == "10"
    assert r.json()["result"]["responseCode"] == 429
    configure(sandbox, requery_cooldown_s=0)
    assert api.get("/transaction/early-1").status_code == 200


def test_pending_then_success(sandbox, api):
    r = api.post("/vend", json=order("ps-1", PENDING_OK))
    assert r.status_code == 202
    assert r.json() == {"status": False, "error": True, "responseCode": 202, "delay": [1, 1, 1],
                        "message": "Transaction is still in progress. Please requery in 1 seconds"}
    assert ledger(sandbox)["vends"][0]["status"] == "PENDING" and ledger(sandbox)["vends"][0]["token"] is None
    for _ in range(2):
        assert requery(api, "ps-1") == (400, {"status": False, "responseCode": 201, "message": PENDING_TEXT})
    status, result = requery(api, "ps-1")
    assert status == 200 and re.fullmatch(r"\d{4}(-\d{4}){4}", result["data"]["token"])
    assert ledger(sandbox)["vends"][0]["status"] == "SUCCESS"


def test_pending_then_fail_refunds_the_wallet(sandbox, api):
    assert api.post("/vend", json=order("pf-1", PENDING_FAIL, 2000)).status_code == 202
    assert api.get("/wallet/balance").json()["balance"] == 998_000
    assert requery(api, "pf-1")[1]["responseCode"] == 201
    assert requery(api, "pf-1")[1]["responseCode"] == 201
    assert requery(api, "pf-1") == (400, {"status": False, "responseCode": 202, "message": "Transaction failed."})
    assert api.get("/wallet/balance").json()["balance"] == 1_000_000
    assert requery(api, "pf-1") == (400, {"status": False, "responseCode": 202,
                                          "message": "Transaction failed. Refund already processed."})
    vend = ledger(sandbox)["vends"][0]
    assert (vend["status"], vend["refunded"], vend["token"]) == ("FAILED", True, None)


# -- fixture behaviours ---------------------------------------------------------------------------

@pytest.mark.parametrize("meter, code", [(VENDED_500, 500), (VENDED_502, 502)])
def test_5xx_but_vended(sandbox, api, meter, code):
    r = api.post("/vend", json=order("5xx-1", meter))
    assert r.status_code == code and r.json()["status"] is False and r.json()["responseCode"] == code
    status, result = requery(api, "5xx-1")
    assert status == 200 and result["data"]["token"]
    assert ledger(sandbox)["vends"][0]["answer"] == str(code)


def test_drop_but_vended(sandbox, api):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.post("/vend", json=order("drop-1", DROP))
    [vend] = ledger(sandbox)["vends"]
    assert (vend["status"], vend["answer"]) == ("SUCCESS", "drop") and len(vend["token"]) == 20
    assert requery(api, "drop-1")[0] == 200


def test_hang_then_vended(sandbox, api):
    with pytest.raises(httpx.ReadTimeout):
        api.post("/vend", json=order("hang-1", HANG), timeout=0.2)
    assert ledger(sandbox)["vends"][0]["status"] == "SUCCESS"
    started = time.monotonic()
    r = api.post("/vend", json=order("hang-2", HANG), timeout=5)
    assert r.status_code == 200 and r.json()["data"]["token"] and time.monotonic() - started >= 0.45


def test_maintenance_is_501_and_nothing_is_debited(sandbox, api):
    r = api.post("/vend", json=order("mnt-1", MAINTENANCE))
    assert r.status_code == 501 and r.json()["message"].startswith("This account requires maintenance.")
    assert requery(api, "mnt-1")[1]["responseCode"] == 203
    assert ledger(sandbox)["wallet"] == "1000000.00" and ledger(sandbox)["vends"] == []


def test_postpaid_account_with_debt(api):
    params = {"meter": POSTPAID, "disco": "ABUJA", "vendType": "POSTPAID"}
    meter = api.get("/check/meter", params=params).json()
    assert (meter["vendType"], meter["outstanding"], meter["debtRepayment"]) == ("POSTPAID", 15234.75, 0.25)
    data = api.post("/vend", json=order("pp-1", POSTPAID, 10_000, vendType="postpaid")).json()["data"]
    assert data["token"] is None and data["parcels"] == [] and data["units"] is None
    # 10,000 = 697.67 VAT + 9,302.33 net; a quarter of the net (2,325.58) repays the debt
    assert (data["tax"], data["debtAmount"], data["amountGenerated"]) == (697.67, 2325.58, 6976.75)
    assert data["debtRemaining"] == 12909.17
    assert api.get("/check/meter", params=params).json()["outstanding"] == 12909.17


def test_200_without_token_then_requery_has_it(sandbox, api):
    data = api.post("/vend", json=order("nt-1", NO_TOKEN)).json()["data"]
    assert data["token"] is None and data["parcels"] == []
    token = requery(api, "nt-1")[1]["data"]["token"]
    assert token.replace("-", "") == ledger(sandbox)["vends"][0]["token"]


def test_every_main_disco_has_an_always_succeeding_meter(api):
    ok = [m for m in FIXTURE_METERS.values() if m.behaviour == "ok"]
    assert {m.disco for m in ok} == {"ABUJA", "EKO", "IKEJA", "IBADAN", "ENUGU", "PH", "JOS", "KADUNA", "KANO",
                                     "BENIN", "YOLA", "ABA"}
    for i, m in enumerate(ok):
        r = api.post("/vend", json=order(f"disco-{i}", m.meter, disco=m.disco))
        assert r.status_code == 200 and len(m.meter) == 11, m


# -- faults ---------------------------------------------------------------------------------------

def test_fail_rate_fails_before_and_after_vending(sandbox, api):
    configure(sandbox, fail_rate=1)
    codes = {f"f-{i}": api.post("/vend", json=order(f"f-{i}", f"451439223{i:02d}")).status_code for i in range(16)}
    assert set(codes.values()) <= {500, 502, 503} and len(set(codes.values())) > 1
    vended = {v["orderId"] for v in ledger(sandbox)["vends"]}
    assert 0 < len(vended) < 16  # some before vending, some after
    for order_id in codes:
        assert requery(api, order_id)[0] == (200 if order_id in vended else 404)
    assert api.post("/vend", json=order("f-x", PENDING_OK)).status_code == 202  # scripted meters keep their script


def test_timeout_drop_and_pending_rates(sandbox, api):
    configure(sandbox, timeout_rate=1, hold_s=0.3)
    started = time.monotonic()
    assert api.post("/vend", json=order("t-1")).status_code == 200 and time.monotonic() - started >= 0.25
    configure(sandbox, timeout_rate=0, drop_rate=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.post("/vend", json=order("d-1"))
    configure(sandbox, drop_rate=0, pending_rate=1, pending_requeries=1)
    assert api.post("/vend", json=order("p-1")).status_code == 202
    assert requery(api, "p-1")[1]["responseCode"] == 201
    assert requery(api, "p-1")[0] == 200
    assert [(v["answer"], v["status"]) for v in ledger(sandbox)["vends"]] == [
        ("hold", "SUCCESS"), ("drop", "SUCCESS"), ("202", "SUCCESS")]


def test_latency_applies_to_every_request(sandbox, api):
    configure(sandbox, latency_ms=150)
    started = time.monotonic()
    api.get("/discos/status")
    assert time.monotonic() - started >= 0.14


def test_same_seed_same_tokens():
    def tokens(seed):
        with SandboxServer(SandboxConfig(key=KEY, seed=seed, fail_rate=0.3, pending_rate=0.3)) as s, \
                httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
            answers = [c.post("/vend", json=order(f"s-{i}", f"4514392{i:04d}")).status_code for i in range(12)]
            return answers, [v["token"] for v in s.ledger.vends()], [v["orderId"] for v in s.ledger.vends()]
    assert tokens(3) == tokens(3)
    assert tokens(3)[1] != tokens(4)[1]


# -- ledger endpoints, life cycle -----------------------------------------------------------------

def test_reset_clears_orders_and_counters_and_refills_the_wallet(sandbox, api):
    first = api.post("/vend", json=order("r-1")).json()["data"]["token"]
    assert ledger(sandbox)["requests"]["vend"] == 1
    r = httpx.post(f"{sandbox.base}/__sandbox/reset")
    assert r.status_code == 200
    book = ledger(sandbox)
    assert book["vends"] == [] and book["wallet"] == "1000000.00" and set(book["requests"].values()) == {0}
    assert requery(api, "r-1")[0] == 404
    assert api.post("/vend", json=order("r-1")).json()["data"]["token"] == first  # the seed restarts too


def test_runtime_config_validates_and_reports(sandbox):
    assert configure(sandbox, fail_rate=2).status_code == 400
    assert configure(sandbox, port=1).status_code == 400
    assert configure(sandbox, fail_rate=0.6, drop_rate=0.6).status_code == 400
    assert httpx.post(f"{sandbox.base}/__sandbox/config", content=b"nope").status_code == 400
    r = configure(sandbox, fail_rate=0.25, down=["kano"], delay=[5, 5])
    assert r.status_code == 200
    shown = httpx.get(f"{sandbox.base}/__sandbox/config").json()
    assert (shown["fail_rate"], shown["down"], shown["delay"]) == (0.25, ["KANO"], [5, 5])
    assert "key" not in shown


def _restartable(ledger_file) -> SandboxConfig:
    return SandboxConfig(key=KEY, seed=7, requery_cooldown_s=0, pending_requeries=2, ledger=ledger_file)


def test_a_ledger_file_keeps_orders_tokens_debts_and_the_wallet_across_a_restart(tmp_path):
    with SandboxServer(_restartable(tmp_path / "ledger.db")) as first, \
            httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {KEY}"}) as api:
        token = api.post("/vend", json=order("kept-1")).json()["data"]["token"]
        assert api.post("/vend", json=order("kept-2", PENDING_FAIL, 2000)).status_code == 202
        assert requery(api, "kept-2")[1]["responseCode"] == 201  # one of its two pending answers given
        assert api.post("/vend", json=order("kept-3", POSTPAID, 4000, vendType="POSTPAID")).status_code == 200
        assert api.post("/vend", json=order("kept-4", amount=5_000_000)).status_code == 422  # rejected, not spent
        api.post("/vend", json=order("kept-1"))
        before = ledger(first)
    # A new server (as after a crash) on the same file, not the same object.
    with SandboxServer(_restartable(tmp_path / "ledger.db")) as again, \
            httpx.Client(base_url=again.url, headers={"Authorization": f"Bearer {KEY}"}) as api:
        assert ledger(again) == before
        r = api.post("/vend", json=order("kept-1"))
        assert (r.status_code, r.json()["message"]) == (409, "Request already received")
        status, result = requery(api, "kept-1")
        assert status == 200 and result["data"]["token"] == token
        assert requery(api, "kept-2")[1]["responseCode"] == 201  # the second pending answer, not the first
        assert requery(api, "kept-2")[1]["message"] == "Transaction failed."  # and the refund after it
        assert requery(api, "kept-4")[1]["responseCode"] == 203  # "not initiated", still remembered
        meter = api.get("/check/meter", params={"meter": POSTPAID, "disco": "ABUJA", "vendType": "POSTPAID"})
        assert meter.json()["outstanding"] < FIXTURE_METERS[POSTPAID].outstanding  # the debt stays paid down
        assert api.get("/wallet/balance").json()["balance"] == 1_000_000 - 1000 - 4000  # kept-2 refunded
        new = api.post("/vend", json=order("kept-5")).json()["data"]["token"]
        assert new not in {v["token"] for v in before["vends"]}  # fresh tokens, not the first ones again
        assert [v["posts"] for v in ledger(again)["vends"]][:3] == [3, 1, 1]


def test_reset_clears_the_ledger_file_too(tmp_path):
    with SandboxServer(_restartable(tmp_path / "ledger.db")) as first, \
            httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {KEY}"}) as api:
        api.post("/vend", json=order("gone-1"))
        assert httpx.post(f"{first.base}/__sandbox/reset").status_code == 200
    with SandboxServer(_restartable(tmp_path / "ledger.db")) as again, \
            httpx.Client(base_url=again.url, headers={"Authorization": f"Bearer {KEY}"}) as api:
        book = ledger(again)
        assert book["vends"] == [] and book["posts"] == {} and book["wallet"] == "1000000.00"
        assert requery(api, "gone-1")[0] == 404 and api.post("/vend", json=order("gone-1")).status_code == 200


def test_a_ledger_file_in_use_or_not_a_ledger_is_refused_untouched(tmp_path):
    path = tmp_path / "ledger.db"
    with SandboxServer(_restartable(path)), pytest.raises(ValueError, match="in use by another sandbox"):
        SandboxServer(_restartable(path))
    foreign = tmp_path / "store.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE recipient (id INTEGER)")
    db.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    saved = foreign.read_bytes(), text.read_bytes()
    for bad, problem in ((foreign, "not a sandbox ledger"), (text, "not a sandbox ledger"),
                         (tmp_path, "not a regular file"), (tmp_path / "no" / "l.db", "cannot open")):
        with pytest.raises(ValueError, match=problem):
            SandboxServer(_restartable(bad))
    assert (foreign.read_bytes(), text.read_bytes()) == saved


def test_stop_closes_kept_alive_connections_and_start_again_keeps_the_ledger(sandbox, api):
    api.post("/vend", json=order("life-1"))
    port = sandbox.port
    sandbox.stop()
    with pytest.raises(httpx.TransportError):
        api.get("/wallet/balance")
    sandbox.start()
    assert sandbox.port == port and requery(api, "life-1")[0] == 200


# -- the `sandbox` command ------------------------------------------------------------------------

def test_list_meters(capsys):
    parser = argparse.ArgumentParser()
    add_sandbox_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sandbox", "--list-meters"])
    assert args.func(None, args) == 0
    out = capsys.readouterr().out
    for meter, fixture in FIXTURE_METERS.items():
        assert re.search(rf"^{meter}\s+{fixture.disco}\s+{fixture.vend_type}\s+{fixture.behaviour}", out, re.M)


def test_bad_flag_values_exit_2(capsys):
    parser = argparse.ArgumentParser()
    add_sandbox_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sandbox", "--fail-rate", "2", "--port", "0"])
    assert args.func(None, args) == 2
    assert "fail_rate" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["buypower_tui", "sandbox", "--key", KEY, "--port", "0"],
                                  ["buypower_tui.sandbox_cli", f"--key={KEY}", "--port", "0"]], ids=["cli", "module"])
def test_a_key_on_the_command_line_is_refused_in_one_line_without_echoing_it(argv):
    # A process with a timeout: a sandbox that took the key would serve (and hang a test in-process).
    r = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and KEY not in r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "--key-stdin" in r.stderr and "BUYPOWER_SANDBOX_API_KEY" in r.stderr


@pytest.mark.parametrize("source", ["stdin", "env"])
def test_the_sandbox_process_takes_its_key_from_stdin_or_the_environment(source):
    code = "import sys; from buypower_tui.sandbox_cli import main; sys.exit(main())"
    argv, env = [sys.executable, "-c", code, "--port", "0"], dict(os.environ)
    if source == "stdin":
        argv.append("--key-stdin")
    else:
        env["BUYPOWER_SANDBOX_API_KEY"] = KEY
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        proc.stdin.write(KEY + "\n" if source == "stdin" else "")
        proc.stdin.close()
        assert select.select([proc.stdout], [], [], 15)[0], "the sandbox printed nothing"
        url = proc.stdout.readline().split()[-1]
        assert "key:" not in proc.stdout.readline()  # not generated, so not printed
        assert httpx.get(f"{url}/wallet/balance", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert httpx.get(f"{url}/wallet/balance", headers={"Authorization": "Bearer x"}).status_code == 401
        assert KEY.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()


def test_a_ledger_that_is_not_a_file_exits_2_naming_it(capsys, tmp_path):
    parser = argparse.ArgumentParser()
    add_sandbox_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sandbox", "--ledger", str(tmp_path), "--port", "0"])
    assert args.func(None, args) == 2
    assert capsys.readouterr().err == f"sandbox: the ledger {tmp_path} is not a regular file; give a file name " \
                                      "for --ledger\n"


def _ignore_sigint() -> None:  # what a shell does to a job started with `&`
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop, setup", [(signal.SIGINT, None), (signal.SIGTERM, None),
                                         (signal.SIGINT, _ignore_sigint)], ids=["int", "term", "int-inherited-ignored"])
def test_the_sandbox_process_serves_and_stops_cleanly(stop, setup):
    code = "import sys; from buypower_tui.sandbox_cli import main; sys.exit(main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "--port", "0", "--seed", "1"], preexec_fn=setup,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert select.select([proc.stdout], [], [], 15)[0], "the sandbox printed nothing"
        url = proc.stdout.readline().split()[-1]
        key = proc.stdout.readline().split()[-1]
        assert key == SandboxServer(SandboxConfig(seed=1)).key  # generated from the seed, so printed
        assert "Ctrl+C" in proc.stdout.readline()
        r = httpx.get(f"{url}/discos/status", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["ABUJA"] is True
        proc.send_signal(stop)
        assert proc.wait(10) == 0
        assert "sandbox stopped" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
