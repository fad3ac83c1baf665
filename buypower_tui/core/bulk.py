"""Changes to many rows in one act, before they are paid: the values of many rows at once (a
bulk edit of the marked rows, a fix applied to every row), and splitting an amount over the
maximum into several rows of the same meter.

Each is one transaction. The rows are read locked (BEGIN IMMEDIATE on SQLite, FOR UPDATE on
PostgreSQL); every one must still be editable and without an orderId (and, for an undo, as
the step left it), or StateConflict and nothing is written. Each UPDATE says the same again
in its WHERE (compare-and-set). One event per row says what happened to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, func, select

from buypower_tui.core.approval import mark_prepared
from buypower_tui.core.editing import _checked_columns, forget_rows
from buypower_tui.core.models import Event, Recipient, RowState, utcnow
from buypower_tui.core.row_view import EDITABLE, raw_values
from buypower_tui.core.rows import RowView, StateConflict
from buypower_tui.core.rules import FIELDS, Limits
from buypower_tui.core.splitting import amount_cell, split_amount
from buypower_tui.core.store import Store

S = RowState
_T, _E = Recipient.__table__, Event.__table__
_CHUNK = 500  # ids per IN (...): well under every driver's limit on bound values
# What a lookup said about a row: it said it about the old values, so an edit clears it; so
# does what else was said of them (provider_message: a run left the row out, its disco was down
# at the lookup, its meter was not found). The history keeps it.
_NO_LOOKUP = dict(customer_name=None, customer_address=None, customer_debt=None, debt_repayment=None,
                  min_vend=None, max_vend=None, provider_message=None)
_SET = (*(f"{f}_raw" for f in FIELDS), *FIELDS[:2], "amount_kobo", *FIELDS[3:], "state", "errors", "warnings",
        "duplicate_accepted", "updated_at", *_NO_LOOKUP)
_NONE: dict[str, list[dict]] = {"errors": [], "warnings": []}
_CAS = (_T.update()
        .where(_T.c.id == bindparam("_row_id"), _T.c.state == bindparam("_was"), _T.c.order_id.is_(None))
        .values({c: bindparam(c) for c in _SET}))


def _locked(conn: Any, ids: list[int], seen: Mapping[int, Any] | None, batch_id: int | None = None
            ) -> list[dict[str, Any]]:
    """The rows, in sheet order, once every one is known to be still a draft of the batch (and
    as `seen`)."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        q = select(_T).where(_T.c.id.in_(ids[start:start + _CHUNK])).with_for_update()
        found += [dict(r) for r in conn.execute(q).mappings()]
    found.sort(key=lambda r: (r["batch_id"], r["row_number"]))
    gone = len(set(ids)) - len(found)
    if gone:
        raise StateConflict(f"{gone} of these rows {'was' if gone == 1 else 'were'} deleted since; nothing was changed")
    checks = (("is in another batch", "are in another batch", lambda r: batch_id not in (None, r["batch_id"])),
              ("has an orderId (it may have moved money)", "have an orderId (they may have moved money)",
               lambda r: r["order_id"] is not None),
              ("is no longer a draft", "are no longer drafts", lambda r: r["state"] not in EDITABLE),
              ("changed since (looked up, edited elsewhere)", "changed since (looked up, edited elsewhere)",
               lambda r: seen is not None and seen.get(r["id"]) != r["updated_at"]))
    for one, many, wrong in checks:
        bad = [r["row_number"] for r in found if wrong(r)]
        if bad:
            numbers = ", ".join(map(str, bad[:10])) + (" …" if len(bad) > 10 else "")
            said = f"row {numbers} {one}" if len(bad) == 1 else f"rows {numbers} {many}"
            raise StateConflict(f"{said}; nothing was changed")
    return found


def stored_problems(row: Mapping[str, Any], raw: Mapping[str, str] | None = None) -> dict[str, list[dict]]:
    """The row's problems of how the sheet stored a cell (sheet_quirks.py: "stored", maybe a
    "fix"), {"errors": [...], "warnings": [...]}: those of the fields `raw` leaves as they are
    (every one, without `raw`)."""
    was = raw_values(row)

    def kept(problem: dict) -> bool:
        field = problem.get("field")
        return bool(problem.get("stored")) and (raw is None or field not in was or raw.get(field) == was[field])

    return {kind: [p for p in row[kind] or () if kept(p)] for kind in ("errors", "warnings")}


def _values(row: dict[str, Any], raw: dict[str, str], limits: Limits, accepted: bool | None, now: Any,
            stored: Mapping[str, list[dict]] | None = None) -> dict[str, Any]:
    """The columns of `row` with these sheet values, checked by the import's rules.

    The rules see values only, so a problem of how the sheet stored a cell would go; it stays
    for a field this change leaves as it was (the operator never looked at that meter): a
    stored warning is kept, a stored error stands in for the rules' error of its field (so a
    proposed fix survives). A field the change sets loses its own: the operator typed it.
    `stored`: the problems to keep instead (an undo: those the values it puts back had)."""
    checked = _checked_columns(raw, limits)
    if accepted is None:  # an acceptance was for that meter and amount, not for new ones
        same = (checked["meter"], checked["amount_kobo"]) == (row["meter"], row["amount_kobo"])
        accepted = row["duplicate_accepted"] and same
    kept = stored_problems(row, raw) if stored is None else stored
    if kept["errors"] or kept["warnings"]:  # as the import put them: its own errors first
        fields = {p["field"] for p in kept["errors"]}
        errors = [*kept["errors"], *(e for e in checked["errors"] or () if e["field"] not in fields)]
        warnings = [*(checked["warnings"] or ()), *kept["warnings"]]
        checked |= {"errors": errors or None, "warnings": warnings or None,
                    "state": S.INVALID if errors else checked["state"]}
    return {**checked, **_NO_LOOKUP, "duplicate_accepted": accepted, "updated_at": now}


def _event(row: dict[str, Any], new_state: str, now: Any, note: str, operator: str, **extra: Any) -> dict:
    return dict(recipient_id=row["id"], batch_id=row["batch_id"], operator=operator, at=now,
                old_state=row["state"], new_state=new_state, http_status=None, provider_code=None,
                provider_message=None, note=note, details=extra or None)


def _write(conn: Any, updates: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    if updates:
        done = conn.execute(_CAS, updates).rowcount
        if done not in (-1, len(updates)):  # -1: the driver does not count an executemany
            raise StateConflict("some of these rows changed meanwhile; nothing was changed")
    if events:
        conn.execute(_E.insert(), events)


def edit_rows(store: Store, changes: Mapping[int, Mapping[str, str]], limits: Limits, *,
              note: str = "edited with other rows", batch_id: int | None = None,
              seen: Mapping[int, Any] | None = None, accepted: Mapping[int, bool] | None = None,
              stored: Mapping[int, Mapping[str, list[dict]]] | None = None) -> list[dict[str, Any]]:
    """Set sheet values of many rows (row id -> {field: text}; fields not given keep theirs)
    and check each row again by the import's rules, in one transaction.

    A row whose sheet values would not change is left as it is (no event) and out of the
    answer; the answer is, for each row changed, {"row": its columns after (its updated_at is
    the one this transaction wrote), "before": its sheet values before, "accepted": its
    duplicate acceptance before, "stored": its problems of how the sheet stored a cell before}.
    Those problems stay on the fields not changed (`_values`). `seen`: each row's updated_at as
    the caller last saw it (an undo, or a caller that read the rows first, refuses rows changed
    since); `accepted`: the duplicate acceptance to set (an undo puts it back), else kept only
    while meter and amount are; `stored`: the stored problems to set (an undo puts them back);
    `batch_id`: rows of another batch are refused.
    """
    unknown = sorted({f for raw in changes.values() for f in raw} - set(FIELDS))
    if unknown:
        raise ValueError(f"no such field: {', '.join(unknown)}")
    now, operator, out = utcnow(), store.operator, []
    with store.engine.begin() as conn:
        updates, events = [], []
        for row in _locked(conn, list(changes), seen, batch_id):
            before = raw_values(row)
            after = before | dict(changes[row["id"]])
            wanted = None if accepted is None else accepted.get(row["id"])
            if after == before and wanted in (None, row["duplicate_accepted"]):
                continue
            kept = None if stored is None else stored.get(row["id"], _NONE)
            values = _values(row, after, limits, wanted, now, kept)
            updates.append({"_row_id": row["id"], "_was": row["state"], **values})
            changed = {f: after[f] for f in FIELDS if after[f] != before[f]}
            events.append(_event(row, values["state"], now, note, operator, changed=changed) if changed
                          else _event(row, values["state"], now, note, operator))
            out.append({"row": RowView(row | values), "before": before, "accepted": row["duplicate_accepted"],
                        "stored": stored_problems(row)})
        _write(conn, updates, events)
        if events:  # a change to what the batch pays: its operator prepared it (core/approval.py)
            mark_prepared(conn, {e["batch_id"] for e in events}, operator, now)
    return out


def split_row(store: Store, row_id: int, limits: Limits, raw: Mapping[str, str] | None = None
              ) -> dict[str, Any]:
    """Turn a row whose amount is over the maximum into several rows of the same meter whose
    amounts add up to it exactly (splitting.split_amount), in one transaction; `raw`: sheet
    values to set first (what the operator typed in the row editor).

    The row keeps its place with the first part; the other parts are new rows at the end of
    the sheet (numbered after its last row): every other row keeps its sheet row number, which
    the invalid-rows export and the operator's sheet refer to. The parts are duplicates of each
    other on purpose, so their duplicate warning is accepted, but only among themselves: when
    the meter is also in another row of the batch (a copy of the same sheet line, say), the
    parts are not accepted and the plan asks about the meter paid again. Returns {"rows": the
    rows, the original first (their updated_at the one written here); "before": its sheet values
    before; "accepted": its duplicate acceptance before; "stored": its problems of how the
    sheet stored a cell before; "others": how many other rows of the batch have its meter}.
    """
    now, operator = utcnow(), store.operator
    with store.engine.begin() as conn:
        (row,) = _locked(conn, [row_id], None)
        values = raw_values(row) | dict(raw or {})
        parts = split_amount(values["amount"], limits)  # CannotSplit (a ValueError) says why
        last = conn.execute(select(func.max(_T.c.row_number)).where(_T.c.batch_id == row["batch_id"])).scalar()
        total, count = values["amount"].strip(), len(parts)
        first = _values(row, values | {"amount": amount_cell(parts[0])}, limits, True, now)
        others = 0 if first["meter"] is None else conn.execute(
            select(func.count()).select_from(_T).where(_T.c.batch_id == row["batch_id"], _T.c.id != row_id,
                                                       _T.c.meter == first["meter"])).scalar()
        first["duplicate_accepted"] = accepted = not others
        asked = (f"; meter {first['meter']} is in {others} other row{'s' if others > 1 else ''} of the batch too, "
                 "so the duplicate is not accepted" if others else "")
        _write(conn, [{"_row_id": row_id, "_was": row["state"], **first}],
               [_event(row, first["state"], now, f"split: amount {total} over {count} rows, part 1{asked}",
                       operator, before=raw_values(row))])
        out = [RowView(row | first)]
        for n, part in enumerate(parts[1:], 1):
            new = {**_values(row, values | {"amount": amount_cell(part)}, limits, accepted, now),
                   "batch_id": row["batch_id"], "row_number": last + n, "created_at": now,
                   "extras": row["extras"]}  # the same recipient: the sheet's other columns too
            new_id = conn.execute(_T.insert().values(new)).inserted_primary_key[0]
            conn.execute(_E.insert(), [{**_event({**new, "id": new_id, "state": None}, new["state"], now,
                                                 f"split from row {row['row_number']}: part {n + 1} of {count}",
                                                 operator)}])
            out.append(RowView({**dict.fromkeys(_T.c.keys()), **new, "id": new_id}))
        mark_prepared(conn, [row["batch_id"]], operator, now)  # last: core/approval.py
    return {"rows": out, "before": raw_values(row), "accepted": row["duplicate_accepted"],
            "stored": stored_problems(row), "others": others}


def unsplit(store: Store, row_id: int, before: Mapping[str, str], accepted: bool, parts: Iterable[int],
            limits: Limits, seen: Mapping[int, Any], stored: Mapping[str, list[dict]] | None = None) -> Any:
    """Undo of `split_row`: the parts go and the row has its values back (`stored`: its
    problems of how the sheet stored a cell, as split_row said them), in one transaction;
    StateConflict (nothing done) when any of them changed since (`seen`) or is gone. Returns
    the row's updated_at as written here."""
    now, operator, parts = utcnow(), store.operator, list(parts)
    with store.engine.begin() as conn:
        found = _locked(conn, [row_id, *parts], seen)
        row = next(r for r in found if r["id"] == row_id)
        values = _values(row, dict(before), limits, accepted, now, stored)
        events = [_event(row, values["state"], now, "split undone", operator)]
        for r in found:
            if r["id"] != row_id:
                events.append({**_event(r, None, now, f"row {r['row_number']} deleted: split undone", operator),
                               "recipient_id": None, "details": {"raw": raw_values(r)}})
        if conn.execute(_T.delete().where(_T.c.id.in_(parts), _T.c.order_id.is_(None))).rowcount != len(parts):
            raise StateConflict("a part of that split changed meanwhile; nothing was undone")
        forget_rows(conn, parts)
        _write(conn, [{"_row_id": row_id, "_was": row["state"], **values}], events)
        mark_prepared(conn, [row["batch_id"]], operator, now)  # last: core/approval.py
    return now
