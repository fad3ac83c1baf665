"""Times as the operator reads them: local time with its UTC offset, always labelled.

The store keeps UTC (SQLite hands it back without a zone). A time without its offset is
ambiguous between the operator's clock, UTC and BuyPower's WAT, so none is shown or
exported without one. BuyPower's own `vendTime` carries no zone at all (WAT on /vend, UTC
on /transaction for the same order) and is never converted: it is kept as it came.
"""

from __future__ import annotations

from datetime import UTC, datetime


def local(at: datetime) -> datetime:
    """`at` in the machine's zone (TZ); a naive value is UTC, as the store writes it."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone()


def offset(at: datetime) -> str:
    """"+01:00": the local offset at that moment (Python 3.11 has no %:z)."""
    return local(at).isoformat()[-6:]


def clock_time(timestamp: float) -> str:
    """"09:18:48 +01:00": a moment today, local, with its offset."""
    at = datetime.fromtimestamp(timestamp).astimezone()
    return f"{at:%H:%M:%S} {offset(at)}"


def offset_now() -> str:
    """The local offset now, for a column header that names it ("Created (+01:00)")."""
    return offset(datetime.now(UTC))


def local_minute(at: datetime | None, *, header_offset: str | None = None) -> str:
    """"2026-12-01 09:14 +01:00", or "" when there is no time. Under a header that names
    `header_offset`, a time at that offset leaves it out; one at another (summer time) keeps it."""
    if at is None:
        return ""
    shown = f"{local(at):%Y-%m-%d %H:%M}"
    return shown if offset(at) == header_offset else f"{shown} {offset(at)}"


def local_second(at: datetime | None) -> str:
    """"2026-12-01 09:14:03 +01:00": for histories, where events come seconds apart."""
    return "" if at is None else f"{local(at):%Y-%m-%d %H:%M:%S} {offset(at)}"


def local_iso(at: datetime | None) -> str:
    """"2026-12-01T09:14:03+01:00": for exports and JSON, which spreadsheets and scripts parse."""
    return "" if at is None else local(at).isoformat(timespec="seconds")
