"""Forgiving parsing of the fields of BuyPower's answers: numbers as numbers or strings,
receipts with leading zeros, untidy names, grouped or plain tokens, `delay` lists and
Retry-After. Pure functions; outcomes.py decides what an answer means."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any


def to_decimal(value: Any) -> Decimal | None:
    """Numbers arrive as numbers or strings ("1701.00"); anything unusable is None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        return None
    # naira and kWh: anything past 10^18 (or below 10^-18) is a broken answer, and "1E+999999999"
    # would become a string of a billion digits when shown; "-0" is 0
    if not number.is_finite() or (number and abs(number.adjusted()) > 18):
        return None
    return number + 0


# The longest text kept from an answer (names, addresses, receipts, messages): real ones are
# under 100 characters; a hostile answer must not put a megabyte into a row.
MAX_TEXT = 200


# C0 and C1 controls and DEL: an ESC in a receipt number would reach the terminal (an OSC 52
# sequence can replace the clipboard); nothing BuyPower says legitimately holds one.
_CONTROL_CHARS = dict.fromkeys((*range(0x20), *range(0x7F, 0xA0)), " ")


def to_text(value: Any) -> str | None:
    """Receipt numbers and refs come as strings or numbers; keep their digits as text."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:MAX_TEXT].translate(_CONTROL_CHARS)


def to_name(value: Any) -> str | None:
    """Names and addresses come with trailing and repeated spaces ("JOHN  DOE "): trimmed and
    collapsed, so they show and compare as people read them."""
    text = to_text(value)
    return " ".join(text.split()) or None if text is not None else None


def normalise_token(value: Any) -> str | None:
    """Tokens come grouped ("1234-5678-...") or not; store 20 digits, else None."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    digits = "".join(ch for ch in str(value) if ch not in " -")
    return digits if len(digits) == 20 and digits.isascii() and digits.isdigit() else None


def format_token(token: str) -> str:
    return "-".join(token[i:i + 4] for i in range(0, len(token), 4))


def parse_json(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[..." a thousand deep
        return None
    return body if isinstance(body, dict) else None


# The raw answer kept in a row's `response` column (and its events' history) is for people
# reading what BuyPower said: a few KB. Real answers are one or two KB and are kept whole;
# a larger one keeps only the fields we read, shortened, and says how big it was.
STORED_RESPONSE_MAX = 8 * 1024
_KEPT_FIELDS = frozenset({
    "status", "error", "message", "responseCode", "responseMessage", "delay", "result", "data", "id", "orderId",
    "token", "parcels", "type", "content", "units", "receiptNo", "vendRef", "totalAmountPaid", "amountGenerated",
    "tax", "debtAmount", "debtRemaining", "vendAmount", "charges", "vendTime", "disco", "name", "address",
})


def stored_response(body: dict[str, Any] | None, size: int) -> dict[str, Any] | None:
    """`body` as it is stored with the row: whole when the answer (`size` bytes) is small."""
    if body is None or size <= STORED_RESPONSE_MAX:
        return body
    kept = _trimmed(body, 0)
    if len(json.dumps(kept, default=str)) > STORED_RESPONSE_MAX:  # still too big: its plain fields only
        kept = {k: v for k, v in kept.items() if not isinstance(v, dict | list)}
    return kept | {"_truncated": {"bytes": size}}


def _trimmed(value: Any, depth: int) -> Any:
    if isinstance(value, dict):
        if depth >= 5:
            return "…"
        return {k: _trimmed(v, depth + 1) for k, v in value.items() if k in _KEPT_FIELDS}
    if isinstance(value, list):
        return [_trimmed(v, depth + 1) for v in value[:8]] if depth < 5 else "…"
    if isinstance(value, str):
        return value[:MAX_TEXT]
    return value


def delays_of(body: dict[str, Any] | None) -> tuple[float, ...]:
    """`delay` (a list of seconds) at top level, else under `data` (§4.3 conflict); a single
    number is a list of one. Values that are not seconds are dropped; at most 32 are kept."""
    if body is None:
        return ()
    data = body.get("data")
    for delay in (body.get("delay"), data.get("delay") if isinstance(data, dict) else None):
        values = [to_decimal(v) for v in (delay[:32] if isinstance(delay, list) else [delay])]
        kept = tuple(float(v) for v in values if v is not None and 0 <= v <= 86400)
        if kept:
            return kept
    return ()


def retry_after_hint(header: str | None, default: float | None = None) -> float | None:
    """Retry-After in seconds ("120") or as an HTTP date (RFC 9110 allows both)."""
    value = to_decimal(header)
    if value is None and header:
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return default
        if when.tzinfo is None:
            return default
        value = Decimal(max(0.0, (when - datetime.now(UTC)).total_seconds()))
    return float(value) if value is not None and value >= 0 else default
