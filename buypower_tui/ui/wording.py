"""Small helpers for the words on screen."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from buypower_tui.core.rules import naira
from buypower_tui.core.values import from_kobo


def plural(n: int, word: str) -> str:
    """1 row, 2 rows: the operator reads counts all day."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def what_the_money_bought(row: Mapping[str, Any]) -> str:
    """"₦1,000.00 paid: ₦930.23 energy + ₦69.77 VAT, ₦232.56 to debt (₦1,017.94 left), 3.33 kWh":
    BuyPower's own split, so an operator sees why a meter got few units. Parts BuyPower did not
    send are left out; nothing is computed here (how debt and energy add up is BuyPower's)."""
    amount = from_kobo(row.get("amount_kobo"))
    split = " + ".join(f"{naira(v)} {what}" for v, what in ((row.get("amount_generated"), "energy"),
                                                             (row.get("tax"), "VAT")) if v is not None)
    parts = [split] if split else []
    taken, left = row.get("debt_amount"), row.get("debt_remaining")
    if taken is not None or left is not None:
        if taken == 0 and left == 0:
            parts.append("no debt")
        else:
            left_text = f" ({naira(left)} left)" if left is not None else ""
            parts.append(f"{naira(taken or Decimal(0))} to debt{left_text}")
    if row.get("units") is not None:
        parts.append(f"{row['units']:f} kWh")
    head = f"{naira(amount)} paid" if amount is not None else "paid"
    return f"{head}: {', '.join(parts)}" if parts else head
