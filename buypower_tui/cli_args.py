"""Argument types of the commands: each refuses a value it cannot use with one message
(argparse prints it with the usage and exits 2), never an "unexpected error" later."""

from __future__ import annotations

import argparse
import math
from decimal import Decimal, InvalidOperation


def naira_amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a naira amount (e.g. 50000 or 50,000.00)")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 86400:  # nan and inf fail this too
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds from 0 to 86400")
    return value


def batch_id(text: str) -> int:
    """A batch id as the store can hold it (SQLite integers are 64-bit)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"'{text}' is not a batch id; `buypower-tui batches` lists them")
    return value


def row_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of sheet row numbers like 3,7") from None
