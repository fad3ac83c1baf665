"""This month's batch from last month's: the same recipients as a new batch, checked again.

What a repeat carries from each row of the source batch is what its sheet said (meter, disco,
amount, phone, vend type, name, email, as text) and the sheet's other columns (`extras`). It
carries nothing of what happened to the row: no orderId, token, lookup answer, state or
duplicate acceptance (a new month asks again). Each row is checked again by today's rules,
as an edit is (bulk._values: the import's rules, and the problems of how the sheet stored a
cell kept for the fields left as they were), and becomes VALID or INVALID. A row that was
INVALID keeps the errors today's rules do not find again (a row whose cells were shifted, say),
so it stays invalid until the operator fixes it. Rows deleted from the source are not there
(they are gone from it); every row keeps its sheet row number, so "row 7" is the same
recipient in both months.

An amount change is optional: a fixed amount for every row, or a percentage of each row's
amount rounded half-up to the whole naira (₦2,345 + 10% = ₦2,580, not ₦2,579.50: tenants and
receipts count in naira, and a row moves by at most 50 kobo). The new amounts are checked by
the rules like any other: a row pushed over the maximum is INVALID and says so.

The whole repeat is one transaction: a new batch with all its rows, or nothing.

A repeat made soon after its source was paid is said to be (`recently_paid`): the run's
duplicate guard asks about a meter paid within the window only when the amount is the same
too, so `repeat 1 --amount +10%` minutes after batch 1 was paid would pay every meter again
unasked. The guard's rule stays; the repeat names the meters paid within the window, or with
an order still in flight (which the guard asks about whatever the amount), before the operator
confirms in the TUI and as a warning at the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import distinct, func, select

from buypower_tui.core.bulk import _values as checked_again  # an edit's own checking: one set of rules
from buypower_tui.core.models import Batch, Event, Recipient, RowState, from_kobo, utcnow
from buypower_tui.core.preflight import IN_FLIGHT
from buypower_tui.core.rules import FIELDS, Limits, check_amount, naira, parse_amount
from buypower_tui.core.splitting import amount_cell
from buypower_tui.core.store import Store
from buypower_tui.core.times import local_minute

S = RowState
_T, _B, _E = Recipient.__table__, Batch.__table__, Event.__table__
_CHUNK = 2000
# What a repeat reads of each source row: the sheet's values, and its problems (kept as bulk does).
_READ = select(_T.c.id, _T.c.row_number, _T.c.state, *(_T.c[f"{f}_raw"] for f in FIELDS), _T.c.meter,
               _T.c.amount_kobo, _T.c.errors, _T.c.warnings, _T.c.duplicate_accepted, _T.c.extras)
_PERCENT = re.compile(r"([+-]?)\s*([0-9]+(?:\.[0-9]{1,2})?)\s*%")
_FROM_BATCH = re.compile(r" \(from batch [0-9]+\)$")


@dataclass(frozen=True)
class AmountChange:
    """Every row's amount set to `fixed`, or changed by `percent` (rounded half-up to the naira)."""

    fixed: Decimal | None = None
    percent: Decimal | None = None

    def describe(self) -> str:
        if self.fixed is not None:
            return f"every amount set to {naira(self.fixed)}"
        sign = "+" if self.percent >= 0 else "-"
        return f"every amount {sign}{abs(self.percent):f}% (rounded half-up to the naira)"

    def apply(self, raw: str, kobo: int | None) -> str:
        """The amount cell of a row that said `raw` (`kobo`: its amount as the rules read it)."""
        if self.fixed is not None:
            return amount_cell(self.fixed)
        base = from_kobo(kobo) if kobo is not None else parse_amount(raw)  # an amount out of range has no kobo
        if base is None:  # not an amount at all: left as it was (the row says why)
            return raw
        return amount_cell((base * (100 + self.percent) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_amount_change(text: str, limits: Limits) -> AmountChange:
    """`5000` (₦5,000 for every row: within the limits) or `+10%` / `-5%` (of each row's amount);
    ValueError with what to type instead."""
    text = text.strip().replace("\u2212", "-")  # a typographic minus, as a word processor writes it
    if match := _PERCENT.fullmatch(text):
        percent = Decimal(match[2]) * (-1 if match[1] == "-" else 1)
        if percent <= -100:
            raise ValueError(f"an amount change of {text} leaves nothing to pay; give a percentage above -100%.")
        if percent > 1000:  # ten times the amount is past any maximum; a huge one overflowed the rounding
            raise ValueError(f"an amount change of {text} is more than ten times each amount; give a smaller "
                             "percentage (e.g. +10%).")
        return AmountChange(percent=percent)
    amount, problem = check_amount(text, limits)
    if problem:
        raise ValueError(f"{problem.rstrip('.')}. Give an amount for every row (e.g. 5000) or a change of each "
                         "row's amount (e.g. +10% or -5%).")
    return AmountChange(fixed=amount)


def default_name(source_name: str, source_id: int) -> str:
    """"March (from batch 3)"; a repeat of a repeat names only its own source."""
    return f"{_FROM_BATCH.sub('', source_name)} (from batch {source_id})"


@dataclass
class Repeated:
    """What `repeat_batch` made."""

    batch_id: int
    source_id: int
    name: str
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    change: AmountChange | None = None
    closed: list[int] = field(default_factory=list)  # sheet rows closed in the source: left out
    recent: RecentlyPaid | None = None  # its meters paid within the duplicate window (set by the caller)

    def line(self) -> str:
        left = (f"; left out, closed in batch {self.source_id}: row{'' if len(self.closed) == 1 else 's'} "
                f"{', '.join(map(str, self.closed[:10]))}{' …' if len(self.closed) > 10 else ''} (add them by "
                "hand if they are to be paid)" if self.closed else "")
        return (f"batch {self.batch_id} created from batch {self.source_id}: {self.rows} row"
                f"{'' if self.rows == 1 else 's'} ({self.valid} valid, {self.invalid} invalid){left}")


@dataclass(frozen=True)
class RecentlyPaid:
    """Meters of a batch to repeat that were paid (SUCCESS, in any batch) within the duplicate
    window: how many, and the latest few as (meter, batch, when)."""

    days: int
    count: int
    first: list[tuple[str, int, datetime | None, str]]  # (meter, batch, when, state)

    def _said(self, first: list[tuple[str, int, datetime | None, str]]) -> str:
        window = "24 hours" if self.days == 1 else f"{self.days} days"
        these = "1 of these meters was" if self.count == 1 else f"{self.count} of these meters were"
        some = ", ".join(f"{meter} (batch {batch}, "
                         + (local_minute(at) if state == S.SUCCESS else f"{state}, not settled") + ")"
                         for meter, batch, at, state in first)
        more = f", and {self.count - len(first)} more" if self.count > len(first) else ""
        return f"{these} paid in the last {window} or {'is' if self.count == 1 else 'are'} being paid: {some}{more}"

    def warning(self) -> str:
        """What the CLI prints after "warning: "."""
        return (f"{self._said(self.first)}; a run asks again about a meter paid within the duplicate window only "
                "when the amount is the same: check they are due before you pay.")

    def short(self) -> str:
        """The same in the TUI's dialog, before Enter: one meter named, so that it fits 80x24."""
        return f"{self._said(self.first[:1])}. A run asks again about a paid meter only for the same amount."


def recently_paid(store: Store, source_id: int, window_days: int, most: int = 3) -> RecentlyPaid | None:
    """The meters of batch `source_id`'s rows a repeat carries (all but the closed ones) paid
    within the last `window_days` (the duplicate guard's window and test: SUCCESS, updated
    since), in any batch; None when there is none."""
    if window_days <= 0:
        return None
    since = datetime.now(UTC) - timedelta(days=window_days)
    carried = select(_T.c.meter).where(_T.c.batch_id == source_id, _T.c.state != S.CLOSED, _T.c.meter.is_not(None))
    paid = (((_T.c.state == S.SUCCESS) & (_T.c.updated_at >= since)) | _T.c.state.in_(IN_FLIGHT)) \
        & _T.c.meter.in_(carried)
    with store.engine.connect() as conn:
        count = conn.execute(select(func.count(distinct(_T.c.meter))).where(paid)).scalar_one()
        if not count:
            return None
        first: dict[str, tuple[str, int, datetime | None, str]] = {}
        latest = select(_T.c.meter, _T.c.batch_id, func.coalesce(_T.c.paid_at, _T.c.updated_at).label("at"),
                        _T.c.state).where(paid).order_by(_T.c.updated_at.desc(), _T.c.id.desc())
        for meter, batch_id, at, state in conn.execute(latest.limit(most * 8)):  # a meter paid twice counts once
            first.setdefault(meter, (meter, batch_id, at, state))
            if len(first) == most:
                break
    return RecentlyPaid(window_days, count, list(first.values()))


def _carried_errors(values: dict[str, Any], row: dict[str, Any], changed: set[str]) -> dict[str, Any]:
    """A row that was INVALID keeps the errors today's rules do not find again (the import's own,
    such as shifted cells), except on a field the repeat sets (the amount)."""
    found = {e["field"] for e in values["errors"] or ()}
    carried = [e for e in row["errors"] or () if e.get("field") not in found | changed]
    if not carried:
        return values
    return values | {"errors": [*carried, *(values["errors"] or ())], "state": S.INVALID}


def repeat_batch(store: Store, source_id: int, limits: Limits, *, mode: str, name: str | None = None,
                 change: AmountChange | None = None) -> Repeated:
    """A new batch in `mode` with the recipients of batch `source_id` (see the module's doc),
    in one transaction. The caller has checked that the source exists and was imported whole."""
    source = store.batch(source_id)
    name = " ".join((name or "").split()) or default_name(source.name, source_id)
    now, operator = utcnow(), store.operator
    with store.engine.begin() as conn:
        batch_id = conn.execute(_B.insert().values(name=name, source_file=None, mode=mode, created_at=now,
                                                   imported_at=now, prepared_by=operator, prepared_at=now)
                                ).inserted_primary_key[0]
        done = Repeated(batch_id, source_id, name, change=change)
        last = 0
        while True:
            page = [dict(r) for r in conn.execute(_READ.where(_T.c.batch_id == source_id, _T.c.row_number > last)
                                                  .order_by(_T.c.row_number).limit(_CHUNK)).mappings()]
            if not page:
                break
            last = page[-1]["row_number"]
            new = []
            for row in page:
                if row["state"] == S.CLOSED:  # closed by the operator ("tenant moved out"): not paid again unasked
                    done.closed.append(row["row_number"])
                    continue
                raw = {f: row[f"{f}_raw"] or "" for f in FIELDS}
                if change is not None:
                    raw["amount"] = change.apply(raw["amount"], row["amount_kobo"])
                values = checked_again(row, raw, limits, False, now)
                if row["state"] == S.INVALID:
                    values = _carried_errors(values, row, {"amount"} if change is not None else set())
                new.append({**values, "batch_id": batch_id, "row_number": row["row_number"], "created_at": now,
                            "extras": row["extras"]})
                if values["state"] == S.INVALID:
                    done.invalid += 1
            conn.execute(_T.insert(), new)
            done.rows += len(new)
        done.valid = done.rows - done.invalid
        how = f"; {change.describe()}" if change is not None else ""
        conn.execute(_E.insert(), [
            dict(batch_id=batch_id, operator=operator, at=now, new_state=None,
                 note=f"batch created from batch {source_id} (repeat)"),
            dict(batch_id=batch_id, operator=operator, at=now, new_state="IMPORTED",
                 note=f"repeated {done.rows} rows from batch {source_id}: {done.valid} valid, {done.invalid} "
                      f"invalid{how}")])
    return done
