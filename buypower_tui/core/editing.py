"""What the recipient editor does to a batch before any money moves: the grid's rows,
their status, and adding, deleting, restoring and accepting rows.

Every change here is refused for a row that has an orderId: such a row may have moved
money, so it is history, not a draft.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, and_, cast, false, func, not_, or_, true, update
from sqlalchemy import select as core_select
from sqlmodel import col, select

from buypower_tui.core import rows
from buypower_tui.core.approval import mark_prepared
from buypower_tui.core.models import Batch, Event, Recipient, RowState, to_kobo, utcnow
from buypower_tui.core.names import PREFIX as NAME_DIFFERS
from buypower_tui.core.row_view import EDITABLE, FILTERS, name_differs, raw_values, row_status, shown_value  # noqa: F401 - named here too
from buypower_tui.core.rules import FIELDS, Limits, check_row
from buypower_tui.core.store import Store

S = RowState
_T = Recipient.__table__
# What the grid shows: a plain Core read, because building 10,000 ORM objects takes
# seconds and the grid must show a 10,000-row batch in under one.
GRID_COLUMNS = ("id", "row_number", "state", *(f"{f}_raw" for f in FIELDS), *FIELDS[:2], "amount_kobo",
                *FIELDS[3:], "errors", "warnings", "duplicate_accepted", "order_id", "customer_name",
                "customer_address", "customer_debt", "debt_repayment", "min_vend", "max_vend", "provider_code",
                "provider_message", "token", "parcels", "units", "amount_generated", "tax", "debt_amount",
                "debt_remaining", "receipt_no", "paid_at", "next_requery_at", "requery_count", "updated_at",
                "extras")
_GRID_SELECT = core_select(*(_T.c[c] for c in GRID_COLUMNS))


def grid_rows(store: Store, batch_id: int, ids: Iterable[int] | None = None, *,
              states: Iterable[str] | None = None, changed_after: Any = None) -> list[dict[str, Any]]:
    """The batch's rows in sheet order (or just `ids`, or rows in `states`, or rows changed
    after an `updated_at` this function returned before), as plain dicts."""
    q = _GRID_SELECT.where(_T.c.batch_id == batch_id)
    if ids is not None:
        q = q.where(_T.c.id.in_(list(ids)))
    if states is not None:
        q = q.where(_T.c.state.in_(list(states)))
    if changed_after is not None:
        q = q.where(_T.c.updated_at > changed_after)
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(_T.c.row_number)).mappings()]


def last_change(store: Store, batch_id: int) -> Any:
    """The newest `updated_at` of the batch's rows: rows changed after it are new to a view."""
    with store.engine.connect() as conn:
        return conn.execute(core_select(func.max(_T.c.updated_at)).where(_T.c.batch_id == batch_id)).scalar()


def extra_columns(store: Store, batch_id: int) -> list[str]:
    """The sheet's other columns kept with the batch's rows (`extras`), in the sheet's order
    (a row added by hand has none; a column only some rows have comes after the others)."""
    names: dict[str, None] = {}
    with store.engine.connect() as conn:
        # every row's (no DISTINCT: PostgreSQL's json has no equality, and the cells differ anyway)
        for extras in conn.execute(core_select(_T.c.extras).where(_T.c.batch_id == batch_id,
                                                                  _T.c.extras.is_not(None))).scalars():
            names.update(dict.fromkeys(extras or ()))
    return list(names)




def view_ids(store: Store, batch_id: int, view: str = "all", search: str = "", *,
             states: Iterable[str] | None = None) -> list[int]:
    """The ids of the rows a filter and a search show (only rows in `states`, if given), in
    sheet order: one indexed query, so a 100,000-row batch is filtered without reading its
    rows. `view` is one of FILTERS; its meaning is `row_status`'s, said in SQL (tests hold the
    two together)."""
    duplicated = (core_select(_T.c.meter).where(_T.c.batch_id == batch_id, _T.c.meter.is_not(None),
                                                _T.c.state != S.CLOSED)  # as store.duplicate_meters
                  .group_by(_T.c.meter).having(func.count() > 1))
    invalid = (S.INVALID, S.LOOKUP_FAILED)
    q = core_select(_T.c.id).where(_T.c.batch_id == batch_id)
    if states is not None:
        q = q.where(_T.c.state.in_(list(states)))
    if view.startswith("state:"):
        q = q.where(_T.c.state == view[6:])
    elif view == "duplicates":
        q = q.where(_T.c.meter.in_(duplicated))
    elif view == "invalid":
        q = q.where(_T.c.state.in_(invalid))
    elif view == "warnings":
        duplicate = and_(_T.c.meter.in_(duplicated), _T.c.state.in_(EDITABLE))
        q = q.where(_T.c.state.not_in((*invalid, S.CLOSED)),  # a closed row's status is its note
                    or_(and_(duplicate, _T.c.duplicate_accepted.is_(false())), _T.c.warnings.is_not(None)),
                    not_(and_(duplicate, _T.c.duplicate_accepted.is_(true()), _T.c.state.in_((S.VALID, S.VERIFIED)))))
    elif view == "name differs":  # the JSON text holds the message as a string: "name differs: …
        q = q.where(cast(_T.c.warnings, Text).like(f'%"{NAME_DIFFERS}%'))
    elif view != "all":
        raise ValueError(f"no such view: {view}")
    if search:  # what the sheet said, or BuyPower's name for the meter; any case, any alphabet
        sqlite = store.engine.dialect.name == "sqlite"
        fold, folded = (func.casefold, search.casefold()) if sqlite else (func.lower, search.lower())
        needle = "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(or_(*(fold(_T.c[c]).like(needle, escape="\\") for c in ("meter_raw", "name_raw", "customer_name"))))
    with store.engine.connect() as conn:
        return list(conn.execute(q.order_by(_T.c.row_number)).scalars())


def _checked_columns(raw: dict[str, str], limits: Limits) -> dict[str, Any]:
    checked = check_row(raw, limits)
    values = dict(checked.values)
    amount = values.pop("amount")
    return {**{f"{f}_raw": checked.raw.get(f, "") for f in FIELDS}, **values, "amount_kobo": to_kobo(amount),
            "state": S.INVALID if checked.errors else S.VALID,
            "errors": [{"field": f, "message": m} for f, m in checked.errors] or None,
            "warnings": [{"field": f, "message": m} for f, m in checked.warnings] or None}


def add_row(store: Store, batch_id: int, raw: dict[str, str], limits: Limits, *,
            row_number: int | None = None, note: str = "added by the operator", at: Any = None,
            extras: dict[str, str] | None = None) -> int:
    """A new row at the end of the sheet (or at `row_number`, to restore a deleted one); `at`:
    its created_at and updated_at (a caller that keeps the stamp it wrote gives it); `extras`:
    the sheet's other columns (a copied or restored row keeps them)."""
    with store.session() as s:
        if row_number is None:
            last = s.exec(select(func.max(Recipient.row_number)).where(Recipient.batch_id == batch_id)).one()
            row_number = (last or 1) + 1
        row = Recipient(batch_id=batch_id, row_number=row_number, extras=extras or None,
                        **_checked_columns(raw, limits),
                        **({"created_at": at, "updated_at": at} if at is not None else {}))
        s.add(row)
        s.flush()
        s.add(Event(recipient_id=row.id, batch_id=batch_id, operator=store.operator, new_state=row.state,
                    note=note))
        mark_prepared(s, [batch_id], store.operator, utcnow())
        s.commit()
        return row.id


def forget_rows(conn: Any, ids: Iterable[int]) -> None:
    """The events of rows deleted by the operator stay as the batch's history, no longer tied
    to a row id (as a foreign key ON DELETE SET NULL would): recovery reports events whose row
    vanished without a trace as orphans, and a deleted draft is not that."""
    conn.execute(update(Event).where(col(Event.recipient_id).in_(list(ids))).values(recipient_id=None))


def delete_rows(store: Store, row_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Delete rows that never got an orderId; returns what undo needs to put them back."""
    ids = list(row_ids)
    with store.session() as s:
        # FOR UPDATE: no other process approves one of them between the check and the delete
        found = list(s.exec(select(Recipient).where(col(Recipient.id).in_(ids)).with_for_update()))
        locked = [r.row_number for r in found if r.order_id is not None]
        if locked:
            raise rows.StateConflict(f"rows {', '.join(map(str, sorted(locked)))} have an orderId; "
                                     "they may have moved money and cannot be deleted")
        kept = [{"id": r.id, "batch_id": r.batch_id, "row_number": r.row_number, "raw": raw_values(r),
                 "duplicate_accepted": r.duplicate_accepted, "extras": r.extras} for r in found]
        for r in found:
            s.add(Event(batch_id=r.batch_id, operator=store.operator, old_state=r.state,
                        note=f"row {r.row_number} deleted by the operator",
                        details={"raw": raw_values(r)}))
            s.delete(r)
        forget_rows(s, ids)
        mark_prepared(s, [r.batch_id for r in found], store.operator, utcnow())
        s.commit()
    return kept


def restore_rows(store: Store, kept: list[dict[str, Any]], limits: Limits) -> list[int]:
    """Undo of `delete_rows`: the rows come back at their sheet row numbers, checked again."""
    ids = [add_row(store, k["batch_id"], k["raw"], limits, row_number=k["row_number"], note="restored (undo)",
                   extras=k.get("extras")) for k in kept]
    accepted = [i for i, k in zip(ids, kept, strict=True) if k["duplicate_accepted"]]
    accept_duplicates(store, accepted)
    return ids


def accept_duplicates(store: Store, row_ids: Iterable[int], accepted: bool = True) -> list[rows.RowView]:
    """The operator accepts (or, undoing, no longer accepts) that these rows pay a meter
    that appears more than once. The rows as changed (their updated_at as written)."""
    return [rows.transition(store, row_id, EDITABLE, lambda row: row.state, duplicate_accepted=accepted,
                            prepares=True,
                            note="duplicate accepted by the operator" if accepted else "duplicate acceptance undone")
            for row_id in row_ids]


def rename_batch(store: Store, batch_id: int, name: str) -> None:
    name = " ".join(name.split())
    if not name:
        raise ValueError("a batch needs a name; type one.")
    with store.session() as s:
        batch = s.get(Batch, batch_id)
        old, batch.name = batch.name, name
        s.add(batch)
        s.add(Event(batch_id=batch_id, operator=store.operator, note=f"renamed from {old!r} to {name!r}",
                    at=utcnow()))
        s.commit()

