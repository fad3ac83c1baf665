"""The values every layer speaks of, without the store: row states, money in kobo, now.

Kept apart from models.py (the SQLModel tables) so that the faces can name a row's state
without loading SQLAlchemy: the TUI's first frame does not wait for it."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal


def to_kobo(amount: Decimal | None) -> int | None:
    """Money is stored in kobo (integers): exact, and indexable for the duplicate search."""
    return None if amount is None else int(amount * 100)


def from_kobo(kobo: int | None) -> Decimal | None:
    return None if kobo is None else Decimal(kobo) / 100


def utcnow() -> datetime:
    return datetime.now(UTC)


class RowState(enum.StrEnum):
    IMPORTED = "IMPORTED"
    VALID = "VALID"
    INVALID = "INVALID"
    VERIFIED = "VERIFIED"
    LOOKUP_FAILED = "LOOKUP_FAILED"
    APPROVED = "APPROVED"
    SENDING = "SENDING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    PENDING = "PENDING"
    NOT_SENT = "NOT_SENT"
    NEEDS_REVIEW = "NEEDS_REVIEW"
    # Closed by the operator with a note: final, as SUCCESS is (core/closing.py). Never sent,
    # retried or requeried, not counted as failed; reopening puts the row back as it was.
    CLOSED = "CLOSED"


def percent(rate: float) -> str:
    """A rate for a person: 99.65 %, never "100%" for 0.9965 (which hides the failures) nor
    "0%" for a few successes; whole numbers without decimals."""
    text = f"{rate * 100:.2f}".rstrip("0").rstrip(".")
    if text == "100" and rate < 1:
        text = "99.99"
    elif text == "0" and rate > 0:
        text = "0.01"
    return f"{text}%"
