"""How an amount over the maximum becomes several payable rows of the same meter.

Pure (no store): the row editor shows "Split into N rows" as the operator types, and the
store's split (core/bulk.py) uses the same parts.
"""

from __future__ import annotations

from decimal import Decimal

from buypower_tui.core.rules import Limits, parse_amount

# More parts than this is more likely a typo (an extra zero) than a payment to split.
MAX_PARTS = 20


class CannotSplit(ValueError):
    """The amount cannot be split into parts within the limits (the message says why)."""


def split_kobo(total: int, low: int, high: int, max_parts: int = MAX_PARTS) -> list[int]:
    """`total` kobo as parts in [low, high] summing exactly to it: as many parts of `high` as
    fit, then the rest. A rest below `low` is balanced with the part before it (in whole naira
    where it can be), else all parts are spread evenly; CannotSplit when no split fits."""
    if total <= high:
        raise CannotSplit("the amount is not above the maximum: there is nothing to split")
    count = -(-total // high)
    if count > max_parts:
        raise CannotSplit(f"that would be {count} rows (at most {max_parts}); check the amount for an extra zero")
    if count * low > total:  # fewer parts are each too big, more are too small
        raise CannotSplit(f"{count} parts of at least {_text(low)} come to more than {_text(total)}")
    parts = [high] * (count - 1) + [total - high * (count - 1)]
    if parts[-1] < low:
        pair = parts[-2] + parts[-1]
        smaller = pair // 2 // 100 * 100 or pair // 2  # whole naira reads better on a receipt
        parts[-2:] = [pair - smaller, smaller]
    if not all(low <= p <= high for p in parts):
        base, extra = divmod(total, count)
        parts = [base + 1] * extra + [base] * (count - extra)
    return parts


def split_amount(raw: str, limits: Limits) -> list[Decimal]:
    """The parts of an amount cell over the maximum; CannotSplit (with the reason) otherwise."""
    total = parse_amount(raw)
    if total is None:
        raise CannotSplit(f"amount {raw.strip()!r} is not an amount")
    kobo = split_kobo(int(total * 100), int(limits.amount_min * 100), int(limits.amount_max * 100))
    return [Decimal(k) / 100 for k in kobo]


def parts_count(raw: str, limits: Limits) -> int:
    """How many rows a split of this cell makes (0: it is no amount to split)."""
    try:
        return len(split_amount(raw, limits))
    except CannotSplit:
        return 0


def amount_cell(amount: Decimal) -> str:
    """An amount as a sheet would say it: 100000, or 50025.50 (kobo exact, no separators)."""
    return f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"


def _text(kobo: int) -> str:
    return f"₦{Decimal(kobo) / 100:,.2f}"
