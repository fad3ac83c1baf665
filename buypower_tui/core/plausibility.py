"""Does a success from BuyPower look like one? Doubts that park a paid row for the operator.

A success moved money, so its token, units, receipt and answer are always stored; but an
answer that cannot be right (an all-zero token, negative units, far more paid than asked)
must not pass as SUCCESS: the row ends NEEDS_REVIEW with the reason, and the operator checks
with BuyPower and resolves it by hand.
"""

from __future__ import annotations

from decimal import Decimal

from buypower_tui.core.outcomes import VendResult

# totalAmountPaid is what left the wallet for this vend: amountGenerated + tax, VAT included
# and debt deducted inside it (buypower-api.md §8), so it should equal the amount we sent.
# The slack covers kobo rounding of the VAT split and nothing more; "far above" is anything
# past it (BuyPower took money nobody approved for this row).
OVERPAID_SLACK = Decimal("0.01")  # 1 % of the amount ...
OVERPAID_SLACK_MIN = Decimal(1)  # ... and at least ₦1


def doubts(result: VendResult, amount: Decimal | None) -> list[str]:
    """Why this success looks wrong (empty when it looks right). `amount`: the row's, in naira."""
    found = []
    if result.token is not None and set(result.token) == {"0"}:
        found.append("the token is all zeros")
    if result.units is not None and result.units < 0:
        found.append(f"the units are negative ({result.units})")
    if result.total_paid is not None and amount is not None:
        slack = max(amount * OVERPAID_SLACK, OVERPAID_SLACK_MIN)
        if result.total_paid > amount + slack:
            found.append(f"totalAmountPaid ₦{result.total_paid:,.2f} is far above the row's ₦{amount:,.2f}")
    return found


def review_note(found: list[str]) -> str:
    return ("paid, but BuyPower's answer looks wrong: " + "; ".join(found)
            + ". Token and answer are stored; check with BuyPower, then resolve the row by hand")
