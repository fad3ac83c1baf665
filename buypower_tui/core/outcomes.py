"""What BuyPower's answers mean: the one outcome of each answer (its fields are read by answer_fields.py).

Pure functions, no I/O, so every row of buypower-api.md §4.5, §5 and §6.1 can be checked
in isolation. The rule for money: only answers the spec calls conclusive are FAILED; a
request that provably never left is NOT_SENT; everything else is PENDING until a requery
says otherwise.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from buypower_tui.core.answer_fields import (  # noqa: F401 - some are used through this module
    MAX_TEXT,
    STORED_RESPONSE_MAX,
    delays_of,
    format_token,
    normalise_token,
    parse_json,
    retry_after_hint,
    stored_response,
    to_decimal,
    to_name,
    to_text,
)


class Outcome(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    NOT_SENT = "NOT_SENT"
    PENDING = "PENDING"


class Parcel(BaseModel):
    type: str
    content: str  # 20 digits when it is a token


class VendResult(BaseModel):
    """The outcome of one vend or requery, with everything BuyPower said that we keep."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    order_id: str
    http_status: int | None = None
    provider_code: str | None = None
    message: str = ""
    token: str | None = None  # 20 digits, no separators
    parcels: list[Parcel] = []
    units: Decimal | None = None
    receipt_no: str | None = None
    vend_ref: str | None = None
    total_paid: Decimal | None = None
    amount_generated: Decimal | None = None
    tax: Decimal | None = None
    debt_amount: Decimal | None = None
    debt_remaining: Decimal | None = None
    vend_time: str | None = None
    customer_name: str | None = None
    customer_address: str | None = None
    retry_after: float | None = None  # seconds: the server's Retry-After (or a message's "retry in 2 minutes")
    delays: tuple[float, ...] = ()  # a 202's `delay` list: the provider's requery schedule, in seconds
    about_another_order: bool = False  # the answer named another orderId than the one asked
    # A PENDING answer that carries a token nonetheless (about another order, or "failed" with a
    # token): the row's history keeps it whole, since someone may have paid for it.
    keep_answer: bool = False
    response: dict[str, Any] | None = None  # the body as received (it holds no secret)

    @field_validator("customer_name", "customer_address")
    @classmethod
    def _spaces(cls, value: str | None) -> str | None:
        return to_name(value)

    @property
    def token_display(self) -> str | None:
        return format_token(self.token) if self.token else None


class MeterInfo(BaseModel):
    """A check/meter answer. `found` is False when BuyPower could not validate the meter."""

    model_config = ConfigDict(frozen=True)

    meter: str
    disco: str
    vend_type: str
    found: bool
    message: str = ""
    name: str | None = None
    address: str | None = None
    min_vend: Decimal | None = None
    max_vend: Decimal | None = None
    outstanding: Decimal | None = None
    debt_repayment: Decimal | None = None
    tariff_class: str | None = None

    @field_validator("name", "address")
    @classmethod
    def _spaces(cls, value: str | None) -> str | None:
        """Also for answers cached before names were trimmed (lookup_cache reads them back)."""
        return to_name(value)


class ApiError(Exception):
    """A read that BuyPower did not answer usefully (after retries); nothing was decided."""


class ConfigurationError(Exception):
    """BuyPower refused the API key (401/403): no outcome, the operator must fix the key."""


def raise_if_refused(status: int) -> None:
    """Any call answered 401/403 means the key is wrong, whatever the endpoint."""
    if status in (401, 403):
        raise ConfigurationError("the API key was refused by BuyPower; set the right key for this mode")


def _code(body: dict[str, Any] | None) -> str | None:
    return to_text(body.get("responseCode")) if body else None


def _message(body: dict[str, Any] | None, fallback: str) -> str:
    if body and isinstance(body.get("message"), str) and body["message"].strip():
        return body["message"].strip()[:MAX_TEXT]
    return fallback


# Words that say the order may exist. Error envelopes are untidy (bodies carry the wrong
# responseCode, §13), so a duplicate-order answer is judged by its words, whatever its status.
_PENDING_WORDS = ("already received", "already exist", "duplicate", "in progress", "being processed",
                  "processing", "requery", "pending")


# The vend refusals buypower-api.md §5 calls conclusive (no order was made), by status and
# words. A 400, 422 or 501 in any other words is PENDING: words never seen before must never
# make a row FAILED, because a FAILED row may be paid again under a new orderId.
_CONCLUSIVE = {
    400: ("below the minimum vend amount", "above the maximum vend amount", "is required", "must be a",
          "must be one of", "is not allowed"),  # the last four: request validation ('"orderId" is required')
    422: ("insufficient wallet balance", "insufficient balance", "insufficient fund"),
    501: ("requires maintenance", "is being migrated"),
}
_WORD_FIELDS = ("message", "responseMessage", "error", "errors", "detail", "msg")


def _words(body: dict[str, Any]) -> str:
    """Every text an error envelope may put its words in (top level and `data`), lower case,
    whole: the shown message is cut at MAX_TEXT, the judgement must not be."""
    found: list[str] = []
    data = body.get("data")
    for where in (body, data if isinstance(data, dict) else {}):
        for key in _WORD_FIELDS:
            value = where.get(key)
            for item in (value[:16] if isinstance(value, list) else [value]):
                if isinstance(item, str):
                    found.append(item[:4000])
                elif isinstance(item, dict) and isinstance(item.get("message"), str):
                    found.append(item["message"][:4000])
    return " ".join(found).lower()


def _sounds_pending(words: str) -> bool:
    """"Request already received", "Possible duplicate transaction", "still in progress",
    "being processed": requery the order rather than trust the status code alone."""
    return any(word in words for word in _PENDING_WORDS)


def _conclusive_refusal(status: int, words: str) -> bool:
    return not _sounds_pending(words) and any(phrase in words for phrase in _CONCLUSIVE.get(status, ()))


def _order_named(body: dict[str, Any] | None) -> str | None:
    """The orderId an answer says it is about (in `data`, else at its top), if it names one."""
    if body is None:
        return None
    data = body.get("data")
    named = data.get("orderId") if isinstance(data, dict) else None
    return to_text(named if named is not None else body.get("orderId"))


def _another_order(order_id: str, body: dict[str, Any] | None, common: dict[str, Any]) -> VendResult | None:
    """An answer about another order than the one asked says nothing about ours: PENDING."""
    named = _order_named(body)
    if named is None or named.strip().lower() == order_id.lower():  # a UUID in capitals is the same order
        return None
    return VendResult(outcome=Outcome.PENDING, about_another_order=True, keep_answer=True, **common,
                      message=f"BuyPower answered about order {named[:64]}, not {order_id}: requery")


KNOWN_PARCELS = ("TOKEN", "KCT1", "KCT2", "BONUS")
MAX_OTHER_PARCELS = 8  # of types we do not know; every known one is kept, however many come first


def _parcels(found: Any) -> list[Parcel]:
    """A token and its BONUS/KCT1/KCT2 companions. A hostile list cannot crowd them out: the
    known types are all kept, then at most MAX_OTHER_PARCELS others."""
    known, other = [], []
    for p in found[:256] if isinstance(found, list) else []:
        if isinstance(p, dict) and p.get("content") is not None:
            content = normalise_token(p.get("content")) or (to_text(p.get("content")) or "")[:64]
            kind = (to_text(p.get("type")) or "TOKEN").strip().upper()[:16] or "TOKEN"
            (known if kind in KNOWN_PARCELS else other).append(Parcel(type=kind, content=content))
    return known + other[:MAX_OTHER_PARCELS]


def _success_fields(data: dict[str, Any]) -> dict[str, Any]:
    parcels = _parcels(data.get("parcels"))
    token = normalise_token(data.get("token"))
    if token is None:  # the credit token is the TOKEN parcel, wherever it stands (KCT1 and KCT2 may lead)
        token = next((normalise_token(p.content) for p in parcels if p.type == "TOKEN"), None)
    return {
        "token": token, "parcels": parcels, "units": to_decimal(data.get("units")),
        "receipt_no": to_text(data.get("receiptNo")), "vend_ref": to_text(data.get("vendRef")),
        "total_paid": to_decimal(data.get("totalAmountPaid")),
        "amount_generated": to_decimal(data.get("amountGenerated")), "tax": to_decimal(data.get("tax")),
        "debt_amount": to_decimal(data.get("debtAmount")), "debt_remaining": to_decimal(data.get("debtRemaining")),
        "vend_time": to_text(data.get("vendTime")), "customer_name": to_name(data.get("name")),
        "customer_address": to_name(data.get("address")),
    }


def _settled(order_id: str, status: int, body: dict[str, Any], data: dict[str, Any], vend_type: str,
             message: str, size: int) -> VendResult:
    """A 200 that says success: SUCCESS only with a token for PREPAID. `size`: of the answer, in bytes."""
    fields = _success_fields(data)
    common = dict(order_id=order_id, http_status=status, provider_code=_code(body),
                  response=stored_response(body, size))
    if vend_type.upper() == "PREPAID" and fields["token"] is None:
        return VendResult(outcome=Outcome.PENDING, message=f"{message} (no token yet: requery)",
                          delays=delays_of(body), **common)
    return VendResult(outcome=Outcome.SUCCESS, message=message, **fields, **common)


# -- the outcome of one answer --------------------------------------------------------------

NOT_SENT_ERRORS = ("ConnectError", "ConnectTimeout", "PoolTimeout")


def describe_error(error: Exception) -> str:
    """"ReadTimeout", or "DeadlineExceeded: no whole answer within 75.0 s" when it says more."""
    detail = str(error).strip()[:200]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def transport_outcome(order_id: str, error: Exception, *, vend: bool) -> VendResult:
    """The request never left (NOT_SENT, vend only) or its fate is unknown (PENDING): a read
    that timed out, passed its deadline, was cut by the operator or answered too much may have
    reached BuyPower."""
    never_left = vend and type(error).__name__ in NOT_SENT_ERRORS
    what = "the request never reached BuyPower" if never_left else "no answer from BuyPower"
    return VendResult(outcome=Outcome.NOT_SENT if never_left else Outcome.PENDING, order_id=order_id,
                      message=f"{what} ({describe_error(error)})")


def vend_outcome(order_id: str, status: int, content: bytes, vend_type: str,
                 retry_after: str | None = None) -> VendResult:
    body = parse_json(content)
    code = _code(body)
    common = dict(order_id=order_id, http_status=status, provider_code=code,
                  response=stored_response(body, len(content)))
    message = _message(body, f"HTTP {status}")
    settled = status == 200 and body is not None and body.get("status") is True
    words = _words(body) if body is not None else ""
    if body is not None and not settled and _sounds_pending(words):
        # "Request already received" and its kin: the order exists, whatever the status says
        # (a 401 or 403 included: the key reached BuyPower with this order before)
        return VendResult(outcome=Outcome.PENDING, message=message, delays=delays_of(body),
                          retry_after=retry_after_hint(retry_after), **common)
    raise_if_refused(status)
    if body is None:
        return VendResult(outcome=Outcome.PENDING, message=f"HTTP {status} with an unreadable body: requery",
                          **common)
    if (other := _another_order(order_id, body, common)) is not None:
        return other
    if status == 200:
        data = body.get("data")
        if body.get("status") is True and isinstance(data, dict):
            return _settled(order_id, status, body, data, vend_type, message, len(content))
        return VendResult(outcome=Outcome.PENDING, message=f"{message} (not a final success: requery)", **common)
    if _conclusive_refusal(status, words):  # BuyPower refused the vend in words §5 knows: no money moved
        return VendResult(outcome=Outcome.FAILED, message=message, **common)
    # 202, 409, 429, 5xx, a refusal in words we do not know, anything unexpected: the order may
    # exist; requery it.
    if status in _CONCLUSIVE:
        message = f"{message} (HTTP {status} in words not known to be final: requery)"
    return VendResult(outcome=Outcome.PENDING, message=message, delays=delays_of(body),
                      retry_after=retry_after_hint(retry_after), **common)


def requery_outcome(order_id: str, status: int, content: bytes, vend_type: str, *,
                    window_passed: bool, retry_after: str | None = None) -> VendResult:
    """Classify GET /transaction/{orderId}. `window_passed`: the vend is old enough that
    "not found" or "not initiated" means it never reached BuyPower."""
    outer = parse_json(content)
    body = outer.get("result") if outer and isinstance(outer.get("result"), dict) else outer
    code = _code(body)
    # Retry-After is honoured on any answer, whatever its body (a 429's is often plain text);
    # a 429 without it waits a minute (what integrators default to).
    hint = retry_after_hint(retry_after, 60.0 if status == 429 else None)
    common = dict(order_id=order_id, http_status=status, provider_code=code, retry_after=hint,
                  response=stored_response(outer, len(content)))
    raise_if_refused(status)
    if body is None:
        return VendResult(outcome=Outcome.PENDING, message=f"HTTP {status} with an unreadable body", **common)
    message = _message(body, f"HTTP {status}")
    lowered = message.lower()
    if (other := _another_order(order_id, body, common)) is not None:
        return other
    if status == 200 and body.get("status") is True and isinstance(body.get("data"), dict):
        return _settled(order_id, status, body, body["data"], vend_type, message, len(content))
    data = body.get("data")
    if isinstance(data, dict) and _success_fields(data)["token"] is not None:
        # "failed" (or anything not a success) with a token in it contradicts itself: never FAILED
        # (that would allow a new order), kept whole in the history, asked again
        return VendResult(outcome=Outcome.PENDING, keep_answer=True, delays=delays_of(body), **common,
                          message=f"{message} (but the answer carries a token: requery)")
    if "refund already processed" in lowered:
        return VendResult(outcome=Outcome.FAILED, message=message, **common)
    if status == 400 and code == "202" and "transaction failed" in lowered:
        # Only "Transaction failed." is final. Other rc 202 texts ("Transaction not
        # successful. Please retry.", seen once) stay PENDING: requeried, never re-paid.
        return VendResult(outcome=Outcome.FAILED, message=message, **common)
    if (status == 400 and code == "203") or (status == 404 and (code == "20" or "no transaction found" in lowered)):
        if window_passed:
            return VendResult(outcome=Outcome.NOT_SENT, message=message, **common)
        return VendResult(outcome=Outcome.PENDING, message=f"{message} (too early to be sure)", **common)
    if status == 400 and code == "201" and hint is None:
        common["retry_after"] = 120.0  # "Kindly retry in 2 minutes"
    return VendResult(outcome=Outcome.PENDING, message=message, delays=delays_of(body), **common)


def meter_info(meter: str, disco: str, vend_type: str, status: int, content: bytes) -> MeterInfo | None:
    """A check/meter answer, or None when it is not a usable answer (retry or give up)."""
    body = parse_json(content)
    raise_if_refused(status)
    if body is None:
        return None
    if status == 200 and body.get("error") is not True and body.get("status") is not False:
        return MeterInfo(
            meter=meter, disco=str(body.get("discoCode") or disco), vend_type=str(body.get("vendType") or vend_type),
            found=True, message=_message(body, "meter found"), name=to_name(body.get("name")),
            address=to_name(body.get("address")), min_vend=to_decimal(body.get("minVendAmount")),
            max_vend=to_decimal(body.get("maxVendAmount")), outstanding=to_decimal(body.get("outstanding")),
            debt_repayment=to_decimal(body.get("debtRepayment")), tariff_class=to_text(body.get("tariffClass")),
        )
    if status in (400, 404):
        return MeterInfo(meter=meter, disco=disco, vend_type=vend_type, found=False,
                         message=_message(body, "BuyPower could not validate this meter"))
    return None


def balance_of(content: bytes) -> Decimal | None:
    """`{"balance": n}` or `{"data": {"balance": n}}` (§4.6 conflict)."""
    body = parse_json(content)
    if body is None:
        return None
    value = to_decimal(body.get("balance"))
    data = body.get("data")
    if value is None and isinstance(data, dict):
        value = to_decimal(data.get("balance"))
    return value


def disco_map(content: bytes) -> dict[str, bool] | None:
    body = parse_json(content)
    if body is None:
        return None
    if isinstance(body.get("data"), dict):  # tolerate an envelope, though the spec's is flat
        body = body["data"]
    return {str(k).upper(): v for k, v in body.items() if isinstance(v, bool)}
