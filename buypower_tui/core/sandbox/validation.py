"""What a request to the sandbox must look like, with BuyPower's own Joi-style messages
("\"amount\" is required"): the checks /vend and /check/meter share."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

CENT = Decimal("0.01")


class Invalid(ValueError):
    """A request the sandbox refuses; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


_CANONICAL = {k.lower(): k for k in ("meter", "disco", "vendType", "vertical", "orderId", "amount", "phone")}
_PHONE = re.compile(r"(?:\+?234|0)([789][01][0-9]{8})")


def canonical(name: str) -> str:
    """Query parameter names in any case (S12 sends `orderid`)."""
    return _CANONICAL.get(name.lower(), name)


def parse_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """A JSON object or a form-encoded body (the Ruby client form-encodes, §2)."""
    try:
        text = body.decode("utf-8")
        if "application/x-www-form-urlencoded" in content_type.lower():
            return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True, max_num_fields=100).items()}
        fields = json.loads(text or "{}", parse_float=Decimal)  # Decimal: 1000.1 stays 1000.1
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8 and too-many-fields errors
        raise Invalid("Invalid request body. Send a JSON object or form fields.") from exc
    if not isinstance(fields, dict):
        raise Invalid("Invalid request body. Send a JSON object or form fields.")
    return fields


def text(fields: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid(f'"{name}" is required')
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f'"{name}" must be a string')
    return str(value).strip()


def choice(fields: dict[str, Any], name: str, allowed: tuple[str, ...], *, required: bool = True) -> str | None:
    """An enum value in any case (two clients send `prepaid`, §2)."""
    value = text(fields, name, required=required)
    if value is None:
        return None
    if value.upper() not in allowed:
        raise Invalid(f'"{name}" must be one of [{", ".join(allowed)}]')
    return value.upper()


def amount_of(fields: dict[str, Any]) -> Decimal:
    value = fields.get("amount")
    if value is None or value == "":
        raise Invalid('"amount" is required')
    try:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise InvalidOperation
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid('"amount" must be a number') from None
    if not amount.is_finite():
        raise Invalid('"amount" must be a number')
    if amount <= 0:
        raise Invalid('"amount" must be a positive number')
    if amount.adjusted() < 15 and amount != amount.quantize(CENT):
        raise Invalid('"amount" must have at most 2 decimal places')
    return amount


def phone_of(fields: dict[str, Any]) -> str:
    """0 + 10 digits; +234 and 234 forms are accepted and normalised (§10)."""
    value = text(fields, "phone") or ""
    match = _PHONE.fullmatch(value.replace(" ", ""))
    if not match:
        raise Invalid('"phone" must be a valid phone number')
    return "0" + match.group(1)
