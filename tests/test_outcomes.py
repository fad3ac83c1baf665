"""Forgiving parsing of the shapes BuyPower is inconsistent about (the sandbox serves one
shape of each; the real API may send the other), and outcomes that need no server."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from buypower_tui.core.outcomes import (
    ConfigurationError,
    Outcome,
    balance_of,
    format_token,
    normalise_token,
    requery_outcome,
    to_decimal,
    transport_outcome,
    vend_outcome,
)


def j(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize("raw,expected", [
    (930.23, Decimal("930.23")), ("930.23", Decimal("930.23")), (1000, Decimal(1000)),
    ("1,701.00", Decimal("1701.00")), (" 4.4 ", Decimal("4.4")), (None, None), ("", None),
    ("n/a", None), (True, None), ("NaN", None), ([1], None),
])
def test_numbers_that_arrive_as_strings(raw, expected):
    assert to_decimal(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("3172-0458-9916-2203-5547", "31720458991622035547"),
    ("31720458991622035547", "31720458991622035547"),
    ("3172 0458 9916 2203 5547", "31720458991622035547"),
    ("3172-0458", None), ("", None), (None, None), ("abcd-0458-9916-2203-5547", None),
])
def test_tokens_are_stored_as_20_digits(raw, expected):
    assert normalise_token(raw) == expected


def test_tokens_are_shown_4_4_4_4_4():
    assert format_token("31720458991622035547") == "3172-0458-9916-2203-5547"


@pytest.mark.parametrize("body,expected", [
    ({"balance": 152340.5}, Decimal("152340.5")),
    ({"status": True, "data": {"balance": "152340.50"}}, Decimal("152340.50")),
    ({"status": True}, None),
])
def test_balance_flat_or_enveloped(body, expected):
    assert balance_of(j(body)) == expected


@pytest.mark.parametrize("body", [
    {"status": False, "responseCode": 202, "message": "in progress", "delay": [20, 20]},
    {"status": False, "responseCode": 202, "message": "in progress", "data": {"delay": [20, 20]}},
])
def test_delay_at_top_level_or_under_data(body):
    r = vend_outcome("o1", 202, j(body), "PREPAID")
    assert r.outcome is Outcome.PENDING and r.delays == (20, 20) and r.message == "in progress"


SUCCESS_DATA = {"token": "3172-0458-9916-2203-5547", "units": "4.4", "receiptNo": 38851221,
                "vendRef": "18229134335262945000", "totalAmountPaid": 1000, "amountGenerated": "930.23",
                "tax": 69.77, "debtAmount": "0.00", "debtRemaining": 0,
                "parcels": [{"type": "TOKEN", "content": "31720458991622035547"},
                            {"type": "KCT1", "content": "5120-8874-1203-6655-0912"}]}


def test_requery_success_with_or_without_the_result_wrapper():
    envelope = {"status": True, "message": "Successful transaction", "responseCode": 200, "data": SUCCESS_DATA}
    for body in (envelope, {"result": envelope}):
        r = requery_outcome("o1", 200, j(body), "PREPAID", window_passed=True)
        assert r.outcome is Outcome.SUCCESS
        assert (r.token, r.units, r.receipt_no, r.total_paid) == (
            "31720458991622035547", Decimal("4.4"), "38851221", Decimal(1000))
        assert [p.content for p in r.parcels] == ["31720458991622035547", "51208874120366550912"]
        assert r.token_display == "3172-0458-9916-2203-5547"


def test_token_only_in_parcels_is_still_a_token():
    data = {k: v for k, v in SUCCESS_DATA.items() if k != "token"}
    r = vend_outcome("o1", 200, j({"status": True, "data": data}), "PREPAID")
    assert r.outcome is Outcome.SUCCESS and r.token == "31720458991622035547"


@pytest.mark.parametrize("vend_type,outcome", [("PREPAID", Outcome.PENDING), ("POSTPAID", Outcome.SUCCESS)])
def test_200_without_token(vend_type, outcome):
    data = {k: v for k, v in SUCCESS_DATA.items() if k not in ("token", "parcels")}
    r = vend_outcome("o1", 200, j({"status": True, "message": "ok", "data": data}), vend_type)
    assert r.outcome is outcome and r.token is None


@pytest.mark.parametrize("status", [200, 400, 422, 501, 500])
def test_unparseable_body_is_pending(status):
    r = vend_outcome("o1", status, b"<html>proxy error</html>", "PREPAID")
    assert r.outcome is Outcome.PENDING


def test_401_is_a_configuration_error_not_an_outcome():
    with pytest.raises(ConfigurationError, match="API key was refused"):
        vend_outcome("o1", 401, j({"status": False, "message": "Unauthorized"}), "PREPAID")
    with pytest.raises(ConfigurationError):
        requery_outcome("o1", 403, b"", "PREPAID", window_passed=True)


def test_requery_not_successful_please_retry_stays_pending():
    body = {"result": {"status": False, "responseCode": 202, "message": "Transaction not successful. Please retry."}}
    r = requery_outcome("o1", 400, j(body), "PREPAID", window_passed=True)
    assert r.outcome is Outcome.PENDING and r.provider_code == "202"


def test_transport_errors():
    import httpx

    for error, vend, outcome in [
        (httpx.ConnectError("refused"), True, Outcome.NOT_SENT),
        (httpx.ConnectTimeout("slow"), True, Outcome.NOT_SENT),
        (httpx.PoolTimeout("busy"), True, Outcome.NOT_SENT),
        (httpx.ReadTimeout("slow"), True, Outcome.PENDING),
        (httpx.RemoteProtocolError("dropped"), True, Outcome.PENDING),
        (httpx.ConnectError("refused"), False, Outcome.PENDING),  # a requery never says NOT_SENT by itself
    ]:
        assert transport_outcome("o1", error, vend=vend).outcome is outcome


@pytest.mark.parametrize("status,code,message", [
    (202, 202, "Transaction is still in progress. Please requery in 120 seconds"),
    (500, 500, "An unexpected error occurred. Please requery to get status."),
    (502, 502, "An unexpected error occurred. Please requery to get status."),
])
def test_requery_rows_the_sandbox_does_not_produce_stay_pending(status, code, message):
    body = {"result": {"status": False, "responseCode": code, "message": message}}
    r = requery_outcome("o1", status, j(body), "PREPAID", window_passed=True)
    assert r.outcome is Outcome.PENDING and r.message == message and r.provider_code == str(code)


@pytest.mark.parametrize("status,message", [
    (400, "Possible duplicate transaction"),
    (400, "Transaction is still in progress. Please requery in 120 seconds"),
])
def test_a_4xx_whose_text_says_the_order_may_exist_is_pending(status, message):
    r = vend_outcome("o1", status, j({"status": False, "responseCode": status, "message": message}), "PREPAID")
    assert r.outcome is Outcome.PENDING


@pytest.mark.parametrize("message", ["Transaction is still in progress. Please requery in 120 seconds",
                                     "An unexpected error occurred. Please requery to get status."])
def test_requery_rc202_is_failed_only_when_it_says_transaction_failed(message):
    body = {"result": {"status": False, "responseCode": 202, "message": message}}
    assert requery_outcome("o1", 400, j(body), "PREPAID", window_passed=True).outcome is Outcome.PENDING


def test_a_404_that_is_not_no_transaction_found_stays_pending():
    r = requery_outcome("o1", 404, j({"message": "Route not found"}), "PREPAID", window_passed=True)
    assert r.outcome is Outcome.PENDING


def test_a_429_without_retry_after_waits_a_minute():
    r = requery_outcome("o1", 429, j({"message": "Too many"}), "PREPAID", window_passed=True)
    assert r.outcome is Outcome.PENDING and r.retry_after == 60
