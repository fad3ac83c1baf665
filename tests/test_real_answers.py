"""Answers shaped like the ones BuyPower gives in production (buypower-api.md §13), and the
rule that none of them may invite a second payment: their outcome, then what the row does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from buypower_tui.core import rows
from buypower_tui.core.importing import import_file
from buypower_tui.core.models import Event, Recipient, RowState
from buypower_tui.core.outcomes import Outcome, meter_info, requery_outcome, vend_outcome
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.rules import Limits, check_row

S = RowState
ORDER = "7f1c1d9e-0b7e-4c36-9c59-1a7f1fe0a111"
TOKEN = "31720458991622035547"


def j(obj) -> bytes:
    return json.dumps(obj).encode()


def success(order_id: str = ORDER, **data) -> bytes:
    return j({"status": True, "message": "Successful transaction", "responseCode": 200,
              "data": {"orderId": order_id, "token": TOKEN, "units": 4.4, "receiptNo": "0000036004288",
                       "parcels": [{"type": "TOKEN", "content": TOKEN}], **data}})


# -- a vend answer that says the order exists is PENDING, whatever its status ------------------

EXISTS = ["Request already received", "Possible duplicate transaction", "Transaction is still in progress",
          "Your request is being processed", "DUPLICATE ORDER ID"]


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422, 501, 201, 200])
@pytest.mark.parametrize("message", EXISTS)
def test_an_answer_saying_the_order_exists_is_pending_whatever_its_status(status, message):
    # the untidy envelopes of §13: a 409's body carrying responseCode 201, a 400 carrying 202
    r = vend_outcome(ORDER, status, j({"status": False, "responseCode": 201, "message": message}), "PREPAID")
    assert r.outcome is Outcome.PENDING and r.message == message


@pytest.mark.parametrize("status,message", [
    (400, "You are paying below the minimum vend amount"),
    (400, 'Invalid Order ID. "orderId" is required'),
    (422, "insufficient wallet balance."),
    (501, "This account requires maintenance. Customer is advised to visit their service provider to resolve."),
])
def test_only_the_conclusive_answers_of_section_5_fail(status, message):
    r = vend_outcome(ORDER, status, j({"status": False, "responseCode": status, "message": message}), "PREPAID")
    assert r.outcome is Outcome.FAILED


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 418, 302])
def test_everything_else_is_pending(status):
    r = vend_outcome(ORDER, status, j({"status": False, "message": "Service unavailable, Please try again later"}),
                     "PREPAID")
    assert r.outcome is Outcome.PENDING


# -- Retry-After on any requery answer, whatever its body -----------------------------------

@pytest.mark.parametrize("status,content", [
    (429, b"Too Many Requests"),  # plain text
    (429, j({"status": False, "message": "requery triggered too early"})),
    (202, j({"status": False, "responseCode": 202, "message": "Transaction is still in progress", "delay": [120]})),
    (500, b"<html><body>Bad gateway</body></html>"),
    (400, j({"status": False, "responseCode": 201, "message": "Transaction is pending. Kindly retry in 2 minutes"})),
])
def test_retry_after_is_honoured_on_any_requery_answer(status, content):
    r = requery_outcome(ORDER, status, content, "PREPAID", window_passed=False, retry_after="37")
    assert r.outcome is Outcome.PENDING and r.retry_after == 37


def test_a_429_without_retry_after_waits_a_minute_even_in_plain_text():
    r = requery_outcome(ORDER, 429, b"slow down", "PREPAID", window_passed=False)
    assert r.outcome is Outcome.PENDING and r.retry_after == 60


@pytest.mark.parametrize("delay,expected", [
    ([120], (120,)), ([20, 20, 20, 20, 20, 20], (20,) * 6), (["30", 60], (30, 60)), (45, (45,)),
    ([-1, "x", 10], (10,)), ([], ()),
])
def test_a_202_delay_list_is_kept_whole(delay, expected):
    r = vend_outcome(ORDER, 202, j({"status": False, "responseCode": 202, "message": "Transaction is still in "
                                    "progress. Please requery in 120 seconds", "delay": delay}), "PREPAID")
    assert r.outcome is Outcome.PENDING and r.delays == expected and r.retry_after is None


# -- an answer about another order says nothing about ours ------------------------------------

@pytest.mark.parametrize("outcome_of", [
    lambda content: requery_outcome(ORDER, 200, content, "PREPAID", window_passed=True),
    lambda content: vend_outcome(ORDER, 200, content, "PREPAID"),
])
def test_an_answer_for_another_order_is_pending(outcome_of):
    r = outcome_of(success(order_id="another-order-42"))
    assert r.outcome is Outcome.PENDING and r.about_another_order and r.token is None
    assert "answered about order another-order-42, not " + ORDER in r.message
    assert outcome_of(success()).outcome is Outcome.SUCCESS  # the same answer about ours is a success
    failed = j({"status": False, "responseCode": 202, "message": "Transaction failed.",
                "data": {"orderId": "another-order-42"}})
    assert requery_outcome(ORDER, 400, failed, "PREPAID", window_passed=True).outcome is Outcome.PENDING


# -- names as BuyPower knows them; 13-digit prepaid meters -------------------------------------

def test_names_and_addresses_are_trimmed_and_collapsed():
    body = j({"error": False, "discoCode": "IBADAN", "vendType": "PREPAID", "meterNo": "0159006592509",
              "name": "  ADEYEMI   OLUWASEUN  ", "address": "12,  ODO-ONA   STREET ,IBADAN ", "minVendAmount": 500})
    info = meter_info("0159006592509", "IBADAN", "PREPAID", 200, body)
    assert (info.name, info.address) == ("ADEYEMI OLUWASEUN", "12, ODO-ONA STREET ,IBADAN")
    vend = vend_outcome(ORDER, 200, success(name="JOHN  DOE ", address=" 1  A  ROAD"), "PREPAID")
    assert (vend.customer_name, vend.customer_address) == ("JOHN DOE", "1 A ROAD")


def test_a_13_digit_ibadan_prepaid_meter_is_valid_by_default():
    checked = check_row({"meter": "0159006592509", "disco": "IBADAN", "amount": "2000", "phone": "08031234567"},
                        Limits())
    assert not checked.errors and checked.values["meter"] == "0159006592509"
    twelve = check_row({"meter": "015900659250", "disco": "IBADAN", "amount": "2000", "phone": "08031234567"},
                       Limits())
    assert any(f == "meter" and "a PREPAID meter number has 11 or 13" in m for f, m in twelve.errors)


# -- what a row does with these answers ------------------------------------------------------------

@pytest.fixture
def sent_row(store, tmp_path):
    sheet = tmp_path / "one.csv"
    sheet.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n")
    batch = import_file(sheet, store, Limits(), mode="sandbox").batch_id
    (row_id,) = rows.ids_in(store, batch, (S.VALID,))
    rows.transition(store, row_id, (S.VALID,), S.VERIFIED)
    rows.approve(store, [row_id])
    return rows.mark_sending(store, row_id)


def due_in(store, row_id) -> float:
    row = rows.get(store, row_id)
    return (row.next_requery_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()


def test_the_202_delay_list_is_the_requery_schedule(store, sent_row):
    policy = RequeryPolicy(first_wait=120, max_wait=1800, budget_s=6 * 3600)
    row_id, order = sent_row.id, sent_row.order_id
    accepted = vend_outcome(order, 202, j({"status": False, "responseCode": 202, "message": "Transaction is still in "
                                           "progress", "delay": [20, 40, 90]}), "PREPAID")
    rows.record_result(store, row_id, accepted, requery=False, policy=policy)
    waits = [due_in(store, row_id)]
    still = requery_outcome(order, 202, j({"status": False, "responseCode": 202, "message": "still in progress"}),
                            "PREPAID", window_passed=False)
    for _ in range(4):
        rows.record_result(store, row_id, still, requery=True, policy=policy)
        waits.append(due_in(store, row_id))
    # the i-th requery waits delay[i]; the last repeats (read a moment after each was stored)
    assert waits == pytest.approx([20, 40, 90, 90, 90], abs=2)
    assert rows.get(store, row_id).state == S.PENDING  # 4 short requeries spend no budget of 6 h
    too_early = requery_outcome(order, 429, b"Too Many Requests", "PREPAID", window_passed=False, retry_after="300")
    rows.record_result(store, row_id, too_early, requery=True, policy=policy)
    assert round(due_in(store, row_id)) == 300  # Retry-After comes before the schedule


def test_the_requery_budget_is_a_time_from_the_first_send(store, sent_row):
    policy = RequeryPolicy(first_wait=120, max_wait=1800, budget_s=3600)
    row_id, order = sent_row.id, sent_row.order_id
    still = requery_outcome(order, 202, j({"status": False, "responseCode": 202, "message": "still in progress",
                                           "delay": [20]}), "PREPAID", window_passed=False)
    for _ in range(30):  # thirty requeries within minutes: still PENDING
        rows.record_result(store, row_id, still, requery=True, policy=policy)
    row = rows.get(store, row_id)
    assert row.state == S.PENDING and row.requery_count == 30 and row.sent_at is not None
    # the last requery before the budget runs out is at its end, not past it
    rows.transition(store, row_id, (S.PENDING,), S.PENDING, sent_at=datetime.now(UTC) - timedelta(seconds=3590))
    rows.record_result(store, row_id, still, requery=True, policy=policy)
    assert 0 <= due_in(store, row_id) <= 11
    rows.transition(store, row_id, (S.PENDING,), S.PENDING, sent_at=datetime.now(UTC) - timedelta(hours=2))
    after = rows.record_result(store, row_id, still, requery=True, policy=policy)
    assert after.state == S.NEEDS_REVIEW and after.next_requery_at is None
    assert rows.history(store, row_id)[-1].note.startswith("still pending 1 h after the first send")


def test_a_request_that_never_left_spends_no_budget(store, sent_row):
    """The breaker refused the POST hours ago (unsend); sent now, the order gets its whole budget."""
    rows.unsend(store, sent_row.id, "the breaker is open")
    rows.transition(store, sent_row.id, (S.APPROVED,), S.APPROVED, sent_at=datetime.now(UTC) - timedelta(hours=7))
    again = rows.mark_sending(store, sent_row.id)
    policy = RequeryPolicy(first_wait=120, max_wait=1800, budget_s=6 * 3600)
    accepted = vend_outcome(again.order_id, 202, j({"status": False, "responseCode": 202, "message": "Transaction "
                                                    "is still in progress", "delay": [120]}), "PREPAID")
    rows.record_result(store, sent_row.id, accepted, requery=False, policy=policy)
    assert round(due_in(store, sent_row.id)) == 120
    still = requery_outcome(again.order_id, 202, j({"status": False, "message": "still in progress"}), "PREPAID",
                            window_passed=False)
    assert rows.record_result(store, sent_row.id, still, requery=True, policy=policy).state == S.PENDING


def test_an_answer_about_another_order_leaves_the_row_pending_with_an_event(store, sent_row):
    answer = requery_outcome(sent_row.order_id, 200, success(order_id="someone-elses-order"), "PREPAID",
                             window_passed=True)
    after = rows.record_result(store, sent_row.id, answer, requery=True, policy=RequeryPolicy())
    assert after.state == S.PENDING and after.token is None
    event: Event = rows.history(store, sent_row.id)[-1]
    assert "answered about order someone-elses-order" in event.note
    assert "answered about order someone-elses-order" in event.provider_message


def test_success_keeps_our_time_and_buypowers_as_it_came(store, sent_row):
    answer = vend_outcome(sent_row.order_id, 200, success(sent_row.order_id, vendTime="2024-05-02 21:39:40",
                                                          amountGenerated="930.23", tax=69.77, debtAmount="0",
                                                          debtRemaining=1250.5, units="4.4"), "PREPAID")
    before = datetime.now(UTC)
    rows.record_result(store, sent_row.id, answer, requery=False, policy=RequeryPolicy())
    with store.session() as s:
        row = s.get(Recipient, sent_row.id)
    assert row.state == S.SUCCESS and row.vend_time == "2024-05-02 21:39:40"
    assert before <= row.paid_at.replace(tzinfo=UTC) <= datetime.now(UTC)
    assert (str(row.amount_generated), str(row.tax), str(row.debt_amount), str(row.debt_remaining), str(row.units)) \
        == ("930.23", "69.77", "0", "1250.5", "4.4")


def test_a_lookup_cached_with_untrimmed_names_reads_back_trimmed(store):
    """0.1.0 stored check/meter answers as they came; the cache reads them back trimmed."""
    from buypower_tui.core.lookup_cache import MeterCache
    from buypower_tui.core.models import MeterLookup

    with store.session() as s:
        s.add(MeterLookup(meter="0159006592509", disco="IBADAN", vend_type="PREPAID", fetched_at=datetime.now(UTC),
                          info={"meter": "0159006592509", "disco": "IBADAN", "vend_type": "PREPAID", "found": True,
                                "name": "ADEYEMI   OLUWASEUN ", "address": " 12  ODO-ONA"}))
        s.commit()
    info = MeterCache(3600, store).get(("0159006592509", "IBADAN", "PREPAID"))
    assert (info.name, info.address) == ("ADEYEMI OLUWASEUN", "12 ODO-ONA")


def test_retry_after_as_an_http_date_is_honoured():
    from email.utils import format_datetime

    at = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    r = requery_outcome(ORDER, 429, b"Too Many Requests", "PREPAID", window_passed=False, retry_after=at)
    assert 80 <= r.retry_after <= 91
    past = requery_outcome(ORDER, 503, b"busy", "PREPAID", window_passed=False,
                           retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert past.retry_after == 0 and past.outcome is Outcome.PENDING
    garbage = requery_outcome(ORDER, 429, b"", "PREPAID", window_passed=False, retry_after="soon-ish")
    assert garbage.retry_after == 60


def test_a_server_that_says_requery_now_every_time_gets_no_tight_loop(store, sent_row):
    now_please = requery_outcome(sent_row.order_id, 503, b"busy", "PREPAID", window_passed=False, retry_after="0")
    for _ in range(3):
        rows.record_result(store, sent_row.id, now_please, requery=True, policy=RequeryPolicy())
        assert due_in(store, sent_row.id) >= 0.9


def test_an_answer_about_another_order_is_kept_whole_in_the_history(store, sent_row):
    answer = requery_outcome(sent_row.order_id, 200, success(order_id="someone-elses-order"), "PREPAID",
                             window_passed=True)
    rows.record_result(store, sent_row.id, answer, requery=True, policy=RequeryPolicy())
    assert rows.history(store, sent_row.id)[-1].details["answer"]["data"]["token"] == TOKEN


def test_the_same_order_in_capitals_is_ours_and_the_token_parcel_may_come_last():
    kct_first = success(ORDER.upper(), token=None, parcels=[{"type": "KCT1", "content": "1" * 20},
                                                            {"type": "KCT2", "content": "2" * 20},
                                                            {"type": "TOKEN", "content": TOKEN}])
    r = requery_outcome(ORDER, 200, kct_first, "PREPAID", window_passed=True)
    assert r.outcome is Outcome.SUCCESS and r.token == TOKEN and [p.type for p in r.parcels] == ["KCT1", "KCT2",
                                                                                                "TOKEN"]


@pytest.mark.parametrize("status,body", [
    (400, {"status": False, "message": "Transaction already processed"}),
    (400, {"status": False, "message": "Order ID already used"}),
    (400, {"status": False, "responseCode": 201, "message": "Kindly retry in 2 minutes"}),
    (400, {"status": False, "responseCode": 409, "message": "Conflict"}),
    (422, {"status": False, "message": "Unprocessable"}),
    (501, {"status": False, "message": "Not implemented"}),
    (400, {"status": False, "message": "Bad request", "responseMessage": "Request already received"}),
    (400, {"status": False, "message": "x" * 300 + " duplicate"}),  # the words past what is shown
    (400, {"status": False, "data": {"message": "is being processed"}, "message": "is required"}),
])
def test_a_refusal_in_words_not_known_to_be_final_is_pending(status, body):
    """Review of issue 11: any 400/422/501 not in §5's conclusive words was FAILED, and `retry`
    then paid the meter a second time."""
    assert vend_outcome(ORDER, status, j(body), "PREPAID").outcome is Outcome.PENDING


def test_decimal_columns_keep_what_was_said_exactly(store, sent_row):
    rows.transition(store, sent_row.id, (S.SENDING,), S.SENDING, units=4.4, tax="69.77", debt_amount=Decimal("0"),
                    debt_remaining=float("nan"))
    with store.session() as s:
        row = s.get(Recipient, sent_row.id)
    assert (str(row.units), str(row.tax), str(row.debt_amount), row.debt_remaining) == ("4.4", "69.77", "0", None)


# -- second review of issue 11: tokens a later answer must not wipe, nor a hostile one hide ----------

KCT1, KCT2, BONUS = "1" * 20, "2" * 20, "3" * 20


def test_a_requery_of_a_parked_row_never_wipes_its_key_change_tokens(store, sent_row):
    """/vend parked the row (negative units) with KCT1, KCT2 and BONUS; /transaction answers
    without parcels. The meter refuses the credit token without the KCTs: they must stay."""
    parcels = [{"type": "TOKEN", "content": TOKEN}, {"type": "KCT1", "content": KCT1},
               {"type": "KCT2", "content": KCT2}, {"type": "BONUS", "content": BONUS}]
    odd = vend_outcome(sent_row.order_id, 200, success(sent_row.order_id, units="-4.44", parcels=parcels), "PREPAID")
    assert rows.record_result(store, sent_row.id, odd, requery=False, policy=RequeryPolicy()).state == S.NEEDS_REVIEW
    plain = requery_outcome(sent_row.order_id, 200, success(sent_row.order_id, parcels=None, receiptNo=None),
                            "PREPAID", window_passed=True)
    after = rows.record_result(store, sent_row.id, plain, requery=True, policy=RequeryPolicy())
    assert after.state == S.SUCCESS and after.token == TOKEN and after.receipt_no == "0000036004288"
    assert {p["type"]: p["content"] for p in after.parcels} == {"TOKEN": TOKEN, "KCT1": KCT1, "KCT2": KCT2,
                                                                 "BONUS": BONUS}
    assert rows.history(store, sent_row.id)[-1].details["previous_answer"]["data"]["units"] == "-4.44"


def test_known_parcels_survive_a_crowd_of_unknown_ones():
    junk = [{"type": f"JUNK{i}", "content": f"{i:020d}"} for i in range(40)]
    r = vend_outcome(ORDER, 200, success(token=None, parcels=[*junk, {"type": "KCT1", "content": KCT1},
                                                               {"type": "KCT2", "content": KCT2},
                                                               {"type": " token ", "content": TOKEN}]), "PREPAID")
    assert r.outcome is Outcome.SUCCESS and r.token == TOKEN
    assert [p.type for p in r.parcels][:3] == ["KCT1", "KCT2", "TOKEN"] and len(r.parcels) == 3 + 8


def test_control_characters_never_reach_the_store():
    osc52 = "38851221\x1b]52;c;MDAwMC0xMTExLTIyMjItMzMzMy00NDQ0\x1b\\"
    r = vend_outcome(ORDER, 200, success(receiptNo=osc52, vendRef="\x9b31m7", name="A\x07B"), "PREPAID")
    assert "\x1b" not in r.receipt_no and "\x9b" not in r.vend_ref and r.receipt_no.startswith("38851221 ]52;c;")
    assert r.customer_name == "A B"


@pytest.mark.parametrize("raw,shown", [("1E+999999999", None), ("1e-999999999", None), ("1e400", None), ("-0", "0"),
                                       ("4.40", "4.40"), (1e19, None), ("1" * 18, "1" * 18)])
def test_absurd_numbers_are_not_kept(raw, shown):
    r = vend_outcome(ORDER, 200, success(units=raw), "PREPAID")
    assert (None if r.units is None else str(r.units)) == shown


def test_a_failure_that_carries_a_token_is_never_final():
    body = j({"status": False, "responseCode": 202, "message": "Transaction failed.",
              "data": {"orderId": ORDER, "token": TOKEN}})
    r = requery_outcome(ORDER, 400, body, "PREPAID", window_passed=True)
    assert r.outcome is Outcome.PENDING and r.keep_answer and "carries a token" in r.message
    refund = j({"status": False, "message": "Refund already processed", "data": {"parcels": [{"type": "TOKEN",
                                                                                           "content": TOKEN}]}})
    assert requery_outcome(ORDER, 400, refund, "PREPAID", window_passed=True).outcome is Outcome.PENDING


def test_an_absurd_number_stored_before_is_read_back_as_nothing(store, sent_row):
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE recipient SET units = '1E+999999999', tax = '0' WHERE id = ?", (sent_row.id,))
    with store.session() as s:
        row = s.get(Recipient, sent_row.id)
    assert row.units is None and str(row.tax) == "0"
