"""Closing what cannot be paid, and reopening it.

The operator closes a FAILED row whose order BuyPower said failed, a LOOKUP_FAILED row or an
INVALID row, with a note (a meter under maintenance, a tenant who moved out). CLOSED is final,
as SUCCESS is: the row is never sent, retried or requeried, and not counted as failed; a batch
whose rows are all SUCCESS or CLOSED is done. A row the operator marked failed by hand is not
closed: its order may still take money, so it is requeried until BuyPower answers
(row_view.close_problem says why a row is refused).

Reopening puts a row back in the state it had before, with the message it had (BuyPower's or
the lookup's), both kept in the close event's details. The note shows in place of that
message while the row is closed ("closed: <note>").

Each is one transaction for all the rows given: every one must be closable (or CLOSED, to
reopen), or Refused names each that is not and nothing changes. Each row's UPDATE repeats the
state it was read in (compare-and-set), and each row gets its event: who, when, the note.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

from buypower_tui.core.models import Event, Recipient, RowState, utcnow
from buypower_tui.core.row_view import CLOSABLE, close_problem
from buypower_tui.core.rows import RowView, StateConflict
from buypower_tui.core.store import Store

S = RowState
_T, _E = Recipient.__table__, Event.__table__
_CHUNK = 500  # ids per IN (...)


class Refused(StateConflict):
    """Rows that may not be closed (or reopened), each named with why; nothing was changed."""

    def __init__(self, problems: list[str], what: str) -> None:
        super().__init__("; ".join(problems) + f". Nothing was {what}.")
        self.problems = problems


def close_rows(store: Store, row_ids: Iterable[int], note: str) -> list[RowView]:
    """FAILED (by BuyPower's word), LOOKUP_FAILED and INVALID rows -> CLOSED with the note, all
    or none. The rows as closed, in sheet order."""
    note = _required(note, "say why the row will not be paid (e.g. 'meter under maintenance')")

    def closed(row: dict[str, Any], _conn: Any) -> tuple[dict[str, Any], str, dict[str, Any]]:
        return ({"state": S.CLOSED, "provider_message": note[:500]}, f"closed by the operator: {note}",
                {"reopen_to": row["state"], "provider_message": row["provider_message"]})

    return _change(store, row_ids, close_problem, closed, "closed")


def reopen_rows(store: Store, row_ids: Iterable[int], note: str) -> list[RowView]:
    """CLOSED rows -> the state each had before it was closed, with its message as it was, all
    or none. The rows as reopened, in sheet order."""
    note = _required(note, "say why the row is opened again")

    def reopened(row: dict[str, Any], conn: Any) -> tuple[dict[str, Any], str, dict[str, Any]]:
        kept = conn.execute(select(_E.c.details).where(_E.c.recipient_id == row["id"], _E.c.new_state == S.CLOSED)
                            .order_by(_E.c.id.desc()).limit(1)).scalar() or {}  # its newest close
        to = kept.get("reopen_to") if kept.get("reopen_to") in CLOSABLE else _derived(row)
        message = kept["provider_message"] if "provider_message" in kept else row["provider_message"]
        return ({"state": to, "provider_message": message}, f"reopened by the operator: {note}",
                {"closed_note": row["provider_message"]})

    def problem(row: dict[str, Any]) -> str | None:
        if row["state"] != S.CLOSED:
            return f"row {row['row_number']} is {row['state']}, not CLOSED; only closed rows are reopened"
        return None

    return _change(store, row_ids, problem, reopened, "reopened")


def _required(note: str, why: str) -> str:
    note = " ".join((note or "").split())
    if not note:
        raise ValueError(f"a note is required: {why}")
    return note


def _derived(row: dict[str, Any]) -> str:
    """What a closed row was, when its close event says nothing (written by hand): only a
    FAILED row has an orderId, and only an INVALID one has errors."""
    return S.FAILED if row["order_id"] else S.INVALID if row["errors"] else S.LOOKUP_FAILED


def _change(store: Store, row_ids: Iterable[int], problem: Callable[[dict[str, Any]], str | None],
            change: Callable[[dict[str, Any], Any], tuple[dict[str, Any], str, dict[str, Any]]], what: str
            ) -> list[RowView]:
    ids = list(dict.fromkeys(row_ids))
    if not ids:
        raise ValueError(f"no rows given: nothing was {what}")
    now, operator = utcnow(), store.operator
    done: list[RowView] = []
    with store.engine.begin() as conn:  # BEGIN IMMEDIATE (SQLite), FOR UPDATE (PostgreSQL): read locked
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), _CHUNK):
            q = select(_T).where(_T.c.id.in_(ids[start:start + _CHUNK])).with_for_update()
            found += [dict(r) for r in conn.execute(q).mappings()]
        found.sort(key=lambda r: (r["batch_id"], r["row_number"]))
        problems = [p for r in found if (p := problem(r))]
        if gone := len(ids) - len(found):
            problems.append(f"{gone} of the rows {'was' if gone == 1 else 'were'} deleted meanwhile")
        if problems:
            raise Refused(problems, what)
        events = []
        for row in found:
            values, note, details = change(row, conn)
            values["updated_at"] = now
            cas = _T.update().where(_T.c.id == row["id"], _T.c.state == row["state"]).values(values)
            if conn.execute(cas).rowcount != 1:  # rolled back with everything before it
                raise Refused([f"row {row['row_number']} changed meanwhile"], what)
            events.append(dict(recipient_id=row["id"], batch_id=row["batch_id"], operator=operator, at=now,
                               old_state=row["state"], new_state=values["state"], http_status=None,
                               provider_code=None, provider_message=None, note=note, details=details))
            done.append(RowView(row | values))
        conn.execute(_E.insert(), events)
    return done
