"""Row state transitions. Each is one committed transaction that also appends its event.

States: IMPORTED -> VALID | INVALID -> VERIFIED | LOOKUP_FAILED -> APPROVED -> SENDING ->
SUCCESS | FAILED | PENDING | NOT_SENT; PENDING -> (requery) SUCCESS | FAILED | NOT_SENT |
NEEDS_REVIEW; NOT_SENT -> SENDING again with the same orderId. FAILED (by BuyPower's word) |
LOOKUP_FAILED | INVALID -> CLOSED by the operator, and back (closing.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, literal_column, or_
from sqlmodel import col, select

from buypower_tui.core import plausibility
from buypower_tui.core.approval import mark_prepared
from buypower_tui.core.models import Event, Recipient, RowState, from_kobo, to_kobo, utcnow
from buypower_tui.core.outcomes import Outcome, VendResult
from buypower_tui.core.requery_policy import RequeryPolicy
from buypower_tui.core.row_view import _OLD_OPERATOR_NOTE, OPERATOR, is_operator_failed  # noqa: F401
from buypower_tui.core.rules import FIELDS, Limits, check_row
from buypower_tui.core.store import Store

S = RowState
SENDABLE = (S.APPROVED, S.NOT_SENT)
REQUERYABLE = (S.SENDING, S.PENDING, S.NEEDS_REVIEW)
WITH_ORDER = (S.APPROVED, S.SENDING, S.PENDING, S.NOT_SENT, S.SUCCESS, S.FAILED, S.NEEDS_REVIEW)
FINAL = (S.SUCCESS, S.FAILED)

def operator_failed() -> Any:
    """The SQL condition of `is_operator_failed`."""
    return (Recipient.state == S.FAILED) & or_(Recipient.provider_code == OPERATOR,
                                               col(Recipient.provider_message).startswith(_OLD_OPERATOR_NOTE))


class RowView:
    """A row as a transition left it: read-only attribute access over its columns.

    Not a Recipient: building a SQLModel object costs a third of a millisecond, and the
    runner makes two per vend."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def amount(self) -> Decimal | None:
        return from_kobo(self._values["amount_kobo"])


class StateConflict(Exception):
    """The row is not in a state this transition starts from (another process moved it)."""


_TABLE, _EVENTS = Recipient.__table__, Event.__table__
# FOR UPDATE: on PostgreSQL (READ COMMITTED) the row stays as read until the commit, as SQLite's
# BEGIN IMMEDIATE keeps the whole store (SQLite renders no FOR UPDATE)
_SELECT = select(_TABLE).where(_TABLE.c.id == bindparam("_row_id")).with_for_update()
# PostgreSQL: the row with its version (xmin, the transaction that wrote it: any write changes it)
_SELECT_VERSIONED = select(literal_column("xmin::text").label("_xmin"), _TABLE).where(
    _TABLE.c.id == bindparam("_row_id"))
_SELECT_VERSIONS = select(literal_column("xmin::text").label("_xmin"), _TABLE).where(
    _TABLE.c.id.in_(bindparam("_row_ids", expanding=True)))
_UPDATES: dict[tuple[str, ...], Any] = {}  # one compiled UPDATE per set of columns
_MOVES: dict[tuple[str, ...], Any] = {}  # PostgreSQL: one compiled UPDATE-and-event per set of columns
_EVENT_COLUMNS = ("recipient_id", "batch_id", "operator", "at", "old_state", "new_state", "http_status",
                  "provider_code", "provider_message", "note", "details")


def _update(columns: Iterable[str]) -> Any:
    """Compare-and-set: the row is written only while it is still in the state it was read in
    (`_expected`); a transition that finds another state writes nothing (its rowcount is 0)."""
    key = tuple(sorted(columns))
    if key not in _UPDATES:
        _UPDATES[key] = (_TABLE.update().where(_TABLE.c.id == bindparam("_row_id"),
                                               _TABLE.c.state == bindparam("_expected"))
                         .values({c: bindparam(c) for c in key}))
    return _UPDATES[key]


def _move(columns: Iterable[str]) -> Any:
    """PostgreSQL: the row's change and its event in one statement, so one round trip and its
    own transaction; it returns the row's new version. Compare-and-set on the version (xmin)
    the row was read at: written by anyone since, and it writes nothing, neither row nor event."""
    key = tuple(sorted(columns))
    if key not in _MOVES:
        moved = (_TABLE.update().where(_TABLE.c.id == bindparam("_row_id"), _TABLE.c.state == bindparam("_expected"),
                                       literal_column("xmin::text") == bindparam("_xmin"))
                 .values({c: bindparam(c) for c in key})
                 .returning(_TABLE.c.id, literal_column("xmin::text").label("version")).cte("moved"))
        event = [bindparam(f"e_{c}", type_=_EVENTS.c[c].type) for c in _EVENT_COLUMNS[1:]]
        logged = (_EVENTS.insert().from_select(list(_EVENT_COLUMNS), select(moved.c.id, *event))
                  .returning(_EVENTS.c.recipient_id).cte("logged"))
        _MOVES[key] = select(moved.c.version).join_from(moved, logged, logged.c.recipient_id == moved.c.id)
    return _MOVES[key]


def _event(current: Any, new_state: str, at: datetime, http_status: int | None, values: dict[str, Any],
           note: str | None, details: dict[str, Any] | None, operator: str) -> dict[str, Any]:
    return dict(recipient_id=current["id"], batch_id=current["batch_id"], operator=operator, at=at,
                old_state=current["state"], new_state=new_state, http_status=http_status,
                provider_code=values.get("provider_code"), provider_message=values.get("provider_message"),
                note=note, details=details)


def transition(store: Store, row_id: int, allowed: Iterable[str], to: str | Callable[[RowView], str], *,
               note: str | Callable[[RowView], str] | None = None, http_status: int | None = None,
               details: dict[str, Any] | Callable[[RowView], dict[str, Any]] | None = None,
               compute: Callable[[RowView], dict[str, Any]] | None = None, prepares: bool = False,
               known: RowView | None = None, **fields: Any) -> RowView:
    """Move one row to `to` (from one of `allowed`), set `fields` (plus what `compute` derives
    from the row as it is now), append the event, commit: one transaction, one row read.

    Prepared Core statements rather than the ORM: this runs twice per vend, and the ORM
    (or statements rebuilt each time) tripled its cost. `prepares`: the change decides what the
    batch pays (an edit, an accepted duplicate): its operator is now who prepared the batch.
    `known`: what the last transition of the row returned (PostgreSQL: spares the read when no
    one wrote the row since).
    """
    allowed = tuple(allowed)

    def change(current: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        if current is None or current["state"] not in allowed:
            state = current["state"] if current else "missing"
            raise StateConflict(f"row {row_id} is {state}, not {'/'.join(allowed)}")
        before = RowView(dict(current))
        values = dict(fields)
        if compute is not None:
            values.update(compute(before))
        new_state = to(before) if callable(to) else to
        values["state"], values["updated_at"] = new_state, utcnow()
        return values, _event(current, new_state, values["updated_at"], http_status, values,
                              note(before) if callable(note) else note,
                              details(before) if callable(details) else details, store.operator)

    if store.engine.dialect.name == "postgresql" and not prepares:
        moved = _move_on_postgresql(store, row_id, change, known)
        if moved is not None:
            return moved
    # SQLite: BEGIN IMMEDIATE, no one else moves the row meanwhile; PostgreSQL: the row's lock
    with store.engine.begin() as conn:
        current = conn.execute(_SELECT, {"_row_id": row_id}).mappings().first()
        values, event = change(current)
        if conn.execute(_update(values), {"_row_id": row_id, "_expected": current["state"], **values}).rowcount != 1:
            raise StateConflict(f"row {row_id} changed while it was being moved to {values['state']}; not applied")
        conn.execute(_EVENTS.insert(), event)
        if prepares:
            mark_prepared(conn, [current["batch_id"]], store.operator, values["updated_at"])
    return RowView(dict(current) | values)


def _move_on_postgresql(store: Store, row_id: int, change: Callable[[Any], tuple[dict[str, Any], dict[str, Any]]],
                        known: RowView | None) -> RowView | None:
    """Read the row, then change it and append its event in one statement, on its version: two
    round trips where a transaction (BEGIN, SELECT FOR UPDATE, UPDATE, INSERT, COMMIT) takes
    five, and a run makes two transitions per vend from one thread (a third of the time of a
    1,000-row run went there). A row written by someone else between the two is read again
    and its change worked out anew; None when it kept being written: then the row's lock
    decides, in a transaction (it waits, where this would give up).
    `known`: the row as this process's last transition of it left it; if no one wrote it since,
    not even the read is needed."""
    current = known._values if known is not None and "_xmin" in known._values else None
    with store.autocommit() as conn:
        for _ in range(3):
            read = current is None
            if read:
                current = conn.execute(_SELECT_VERSIONED, {"_row_id": row_id}).mappings().first()
            try:
                values, event = change(current)
            except StateConflict:
                if read:
                    raise
                current = None  # a copy may be older than the row: only the row itself can refuse
                continue
            params = {"_row_id": row_id, "_expected": current["state"], "_xmin": current["_xmin"], **values,
                      **{f"e_{c}": event[c] for c in _EVENT_COLUMNS[1:]}}
            version = conn.execute(_move(values), params).scalar()
            if version is not None:  # written, and its event too
                return RowView(dict(current) | values | {"_xmin": version})
            current = None  # written by someone since: read it again
    return None


# -- before the money moves ------------------------------------------------------------------

def approve(store: Store, row_ids: Iterable[int], *, every: bool = False) -> int:
    """VERIFIED -> APPROVED with a new orderId, stored before it is ever used (rows no longer
    VERIFIED are left as they are; `every`: then StateConflict naming them, and none is approved).

    One transaction for the whole approval (each row's change with its own event): the
    operator approves a batch in one act, and 1,000 separate commits took a second.
    """
    ids = list(dict.fromkeys(row_ids))
    now = utcnow()
    approved = 0
    with store.engine.begin() as conn:
        events = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            current = conn.execute(select(_TABLE.c.id, _TABLE.c.batch_id, _TABLE.c.state)
                                   .where(_TABLE.c.id.in_(chunk), _TABLE.c.state == S.VERIFIED)
                                   .with_for_update()).mappings().all()
            if every and len(current) != len(chunk):
                _not_verified(conn, set(chunk) - {r["id"] for r in current})
            # provider_message: a VERIFIED row's says why an earlier run left it out; paid now, it no longer is
            params = [{"_row_id": r["id"], "_expected": S.VERIFIED, "order_id": str(uuid.uuid4()),
                       "state": S.APPROVED, "updated_at": now, "provider_message": None} for r in current]
            if params:
                conn.execute(_update(("order_id", "state", "updated_at", "provider_message")), params)
            events += [_event(r, S.APPROVED, now, None, {}, "approved", None, store.operator) for r in current]
            approved += len(current)
        if events:
            conn.execute(_EVENTS.insert(), events)
    return approved


def note_rows(store: Store, row_ids: Iterable[int], allowed: Iterable[str], *, note: str,
              provider_message: str | None) -> int:
    """Say something about rows without moving them (e.g. why a run left them out): those still
    in one of `allowed` keep their state, get `provider_message` and an event with `note`; the
    others are left as they are. One transaction. Returns how many rows were noted."""
    ids, allowed, now = list(dict.fromkeys(row_ids)), list(allowed), utcnow()
    noted = 0
    with store.engine.begin() as conn:
        for start in range(0, len(ids), 500):
            chunk, in_state = ids[start:start + 500], _TABLE.c.state.in_(allowed)
            # compare-and-set (the state is asked in the UPDATE itself), then the rows it wrote:
            # they hold this transaction's stamp, and stay so until it commits
            conn.execute(_TABLE.update().where(_TABLE.c.id.in_(chunk), in_state)
                         .values(provider_message=provider_message, updated_at=now))
            written = conn.execute(select(_TABLE.c.id, _TABLE.c.batch_id, _TABLE.c.state).where(
                _TABLE.c.id.in_(chunk), in_state, _TABLE.c.updated_at == now)).mappings().all()
            if written:
                conn.execute(_EVENTS.insert(), [_event(r, r["state"], now, None, {"provider_message": provider_message},
                                                       note, None, store.operator) for r in written])
            noted += len(written)
    return noted


def _not_verified(conn: Any, ids: set[int]) -> None:
    """StateConflict naming the sheet rows of `ids` (rolled back with the transaction)."""
    found = conn.execute(select(_TABLE.c.row_number, _TABLE.c.state).where(_TABLE.c.id.in_(list(ids)))
                         .order_by(_TABLE.c.row_number)).all()
    said = [f"row {n} is {state}" for n, state in found[:10]] + (["…"] if len(found) > 10 else [])
    if gone := len(ids) - len(found):
        said.append(f"{gone} {'was' if gone == 1 else 'were'} deleted")
    raise StateConflict(f"{', '.join(said)}: no longer VERIFIED (changed meanwhile); nothing was approved")


def edit_row(store: Store, row_id: int, raw: dict[str, str], limits: Limits) -> RowView:
    """Change what the sheet said for a row and check it again. Refused once the row has an
    orderId: its order may exist at BuyPower, so its details are history, not a draft."""
    with store.session() as s:
        row = s.get(Recipient, row_id)
        if row is None:
            raise StateConflict(f"row {row_id} does not exist")
        if row.order_id is not None:
            raise StateConflict(f"row {row.row_number} has an orderId ({row.order_id}); it cannot be edited")
        merged = {f: getattr(row, f"{f}_raw") for f in FIELDS} | raw
        old_meter, old_amount = row.meter, row.amount_kobo
    checked = check_row(merged, limits)
    values = dict(checked.values)
    amount = values.pop("amount")
    to = S.INVALID if checked.errors else S.VALID
    return transition(store, row_id, (S.IMPORTED, S.VALID, S.INVALID, S.VERIFIED, S.LOOKUP_FAILED), to,
                      note="edited", prepares=True, **{f"{f}_raw": v for f, v in checked.raw.items()}, **values,
                      amount_kobo=to_kobo(amount),
                      # an accepted duplicate was accepted for that meter and amount, not for new ones
                      **({} if (values["meter"], to_kobo(amount)) == (old_meter, old_amount)
                         else {"duplicate_accepted": False}),
                      errors=[{"field": f, "message": m} for f, m in checked.errors] or None,
                      warnings=[{"field": f, "message": m} for f, m in checked.warnings] or None,
                      customer_name=None, customer_address=None, customer_debt=None, debt_repayment=None,
                      min_vend=None, max_vend=None,
                      # what was said of the old values (a run left it out, its disco was down, its
                      # meter was not found) no longer holds: the history keeps it
                      provider_message=None)


# -- sending and its results ------------------------------------------------------------------

POST_MAX_S = 120  # longer than any vend request lasts (the client's deadline is shorter)


def paid_between(store: Store, since: datetime, until: datetime, *, but: int) -> tuple[Decimal, list[int]]:
    """At most what rows of other batches than `but` can have taken from the wallet between
    `since` and `until`, and which batches they are in: another process's run from the same
    wallet (team mode). A row counts when its POST left before `until` and it was answered
    after `since` (or is not answered yet), paid or maybe paid: BuyPower takes the money during
    the POST, which the store cannot time more closely. A row sent longer than any POST lasts
    before `since` took its money before then, whenever it was settled: it does not count."""
    with store.engine.connect() as conn:
        found = conn.execute(select(_TABLE.c.batch_id, _TABLE.c.amount_kobo).where(
            _TABLE.c.batch_id != but, _TABLE.c.state.in_((S.SUCCESS, S.SENDING, S.PENDING, S.NEEDS_REVIEW)),
            _TABLE.c.sent_at <= until, _TABLE.c.sent_at >= since - timedelta(seconds=POST_MAX_S),
            _TABLE.c.updated_at >= since)).all()
    return from_kobo(sum(k for _, k in found)), sorted({b for b, _ in found})


def versions(store: Store, row_ids: Iterable[int]) -> dict[int, RowView]:
    """PostgreSQL: rows as they are now, with their versions, to pass as `known` to their next
    transitions (a run reads the rows it will send many at a time). Empty elsewhere."""
    ids = list(row_ids)
    if store.engine.dialect.name != "postgresql" or not ids:
        return {}
    with store.autocommit() as conn:
        return {r["id"]: RowView(dict(r)) for r in conn.execute(_SELECT_VERSIONS, {"_row_ids": ids}).mappings()}


def mark_sending(store: Store, row_id: int, known: RowView | None = None) -> RowView:
    """Write-ahead: committed before the POST leaves, so a crash leaves a row to requery."""
    return transition(store, row_id, SENDABLE, S.SENDING, sent_at=utcnow(),
                      compute=lambda row: {"post_count": row.post_count + 1}, known=known)


def unsend(store: Store, row_id: int, reason: str) -> RowView:
    """SENDING -> APPROVED (or NOT_SENT) when the POST provably never left (the breaker
    refused it, or the key was refused)."""
    return transition(store, row_id, (S.SENDING,), lambda row: S.NOT_SENT if row.post_count > 1 else S.APPROVED,
                      note=f"not sent: {reason}", compute=lambda row: {"post_count": max(0, row.post_count - 1)})


def record_result(store: Store, row_id: int, result: VendResult, *, requery: bool, policy: RequeryPolicy,
                  scheduled: bool = True, known: RowView | None = None) -> RowView:
    """Store a vend's or a requery's outcome; SUCCESS stores the token in the same commit.

    `scheduled=False` (start-up recovery, an operator's "requery now"): a still-pending
    answer neither spends the requery budget nor moves the schedule, so restarting the
    app often cannot park a row as NEEDS_REVIEW within seconds. `known`: as `transition`."""
    allowed = (*REQUERYABLE, S.FAILED) if requery else (S.SENDING,)
    common: dict[str, Any] = dict(provider_code=result.provider_code, provider_message=result.message[:500],
                                  http_status=result.http_status, known=known)
    what = "requery" if requery else "vend"

    def only_operators_failed(row: RowView) -> dict[str, Any]:
        if row.state == S.FAILED and not is_operator_failed(row):
            raise StateConflict(f"row {row.row_number} failed conclusively at BuyPower; its order is settled")
        return {}

    if result.outcome is Outcome.SUCCESS:
        return _record_success(store, row_id, allowed, result, what, common, only_operators_failed)
    if result.outcome is Outcome.FAILED:
        return transition(store, row_id, allowed, S.FAILED, note=f"{what}: failed (BuyPower said so)",
                          compute=only_operators_failed, next_requery_at=None, response=result.response, **common)
    if result.outcome is Outcome.NOT_SENT:
        # For a row the operator marked failed, "no such order" long after it was sent is
        # BuyPower's conclusive word: it never arrived, so it took no money.
        return transition(store, row_id, allowed, lambda row: S.FAILED if row.state == S.FAILED else S.NOT_SENT,
                          compute=only_operators_failed, next_requery_at=None, **common,
                          note=lambda row: f"{what}: BuyPower has no record of this order: it never arrived"
                          if row.state == S.FAILED else f"{what}: not sent, to send again with the same orderId")
    counts = requery and scheduled
    now = utcnow()

    def spent(row: RowView) -> bool:
        """The requery budget (a time from the send BuyPower may have had) is used up."""
        return counts and now >= policy.deadline(row.sent_at, now)

    def pending(row: RowView) -> dict[str, Any]:
        only_operators_failed(row)
        operators = row.state == S.FAILED  # stays the operator's FAILED, with the operator's words
        keep = {"provider_code": row.provider_code, "provider_message": row.provider_message} if operators else {}
        schedule = list(result.delays) or row.requery_schedule  # the latest list BuyPower gave
        if result.delays:
            keep["requery_schedule"] = schedule
        count = row.requery_count + (1 if counts else 0)
        if spent(row) and not operators:  # the operator's rows are asked until BuyPower knows
            return {"requery_count": count, "next_requery_at": None, **keep}
        if not scheduled and row.state in (S.PENDING, S.FAILED) and row.next_requery_at is not None:
            return keep  # keep the schedule the row already has
        due = now + timedelta(seconds=policy.wait(result, count, schedule))
        if not operators:  # one last requery when the budget runs out, not a wait past it
            due = min(due, max(now, policy.deadline(row.sent_at, now)))
        return {"requery_count": count, "next_requery_at": due, **keep}

    def state(row: RowView) -> str:
        if row.state in (S.NEEDS_REVIEW, S.FAILED) and not scheduled:
            return row.state  # asked by hand and still unknown: it stays where it was
        if row.state == S.FAILED:
            return S.FAILED
        return S.NEEDS_REVIEW if spent(row) else S.PENDING

    def note(row: RowView) -> str:
        if row.state == S.FAILED:
            return f"{what}: still unknown at BuyPower ({result.message[:200]}); stays marked failed by OPERATOR"
        if state(row) == S.NEEDS_REVIEW:
            return (f"still pending {policy.describe()} after the first send ({row.requery_count + 1} requeries): "
                    "needs review")
        return f"{what}: pending ({result.message[:200]})" if result.about_another_order else f"{what}: pending"

    # An answer about another order, or one that carries a token it does not stand by, is kept
    # whole in the event: someone may have paid for that token.
    details = {"answer": result.response} if result.keep_answer and result.response else None
    return transition(store, row_id, allowed, state, note=note, compute=pending, details=details, **common)


def _record_success(store: Store, row_id: int, allowed: Iterable[str], result: VendResult, what: str,
                    common: dict[str, Any], guard: Callable[[RowView], dict[str, Any]]) -> RowView:
    """SUCCESS with the token, or NEEDS_REVIEW with the same facts when the answer looks wrong
    (plausibility.py): the money moved either way, so everything BuyPower said is kept. A
    requery of a parked row runs the same checks, so it only turns SUCCESS once it looks right."""
    doubts = cache(lambda amount: plausibility.doubts(result, amount))  # the row's amount, read in the transaction

    def note(row: RowView) -> str:
        after_all = " (the order marked failed by the operator was paid after all)" if row.state == S.FAILED else ""
        if doubts(row.amount):
            return f"{what}: {plausibility.review_note(doubts(row.amount))}{after_all}"
        return f"{what}: success{after_all}"

    def compute(row: RowView) -> dict[str, Any]:
        guard(row)
        kept = _kept_with(row, result)
        if doubts(row.amount):
            return kept | {"provider_message": plausibility.review_note(doubts(row.amount))[:500]}
        return kept | {"paid_at": utcnow()}  # our own clock: when SUCCESS is committed

    def previous(row: RowView) -> dict[str, Any] | None:
        """A row that held a token already (parked for review) keeps its earlier answer here."""
        return {"previous_answer": row.response} if row.token and row.response != result.response else None

    return transition(
        store, row_id, allowed, lambda row: S.NEEDS_REVIEW if doubts(row.amount) else S.SUCCESS, note=note,
        compute=compute, details=previous, next_requery_at=None, response=result.response, **common)


_RESULT_FIELDS = ("units", "amount_generated", "tax", "debt_amount", "debt_remaining", "receipt_no", "vend_ref",
                  "vend_time")


def _kept_with(row: RowView, result: VendResult) -> dict[str, Any]:
    """The answer's facts over the row's, never less than the row had: a requery of a row parked
    with KCT1, KCT2 and BONUS that answers without `parcels` must not wipe them (the meter
    refuses the credit token without the KCTs). Two different credit tokens are both kept."""
    parcels = [p.model_dump() for p in result.parcels] + list(row.parcels or [])
    if row.token and result.token and row.token != result.token:
        parcels.append({"type": "TOKEN", "content": row.token})
    merged = list({(p.get("type"), p.get("content")): p for p in parcels}.values())
    facts = {f: getattr(result, f) if getattr(result, f) is not None else getattr(row, f) for f in _RESULT_FIELDS}
    return facts | {"token": result.token or row.token, "parcels": merged or None}


# -- queries the runner and recovery need ----------------------------------------------------------

def ids_in(store: Store, batch_id: int | None, states: Iterable[str], *, operators_failed: bool = False
           ) -> list[int]:
    """Rows in `states` (and, with `operators_failed`, the FAILED rows the operator marked)."""
    with store.session() as s:
        q = select(Recipient.id).where(or_(col(Recipient.state).in_(list(states)),
                                           operator_failed() if operators_failed else False))
        if batch_id is not None:
            q = q.where(Recipient.batch_id == batch_id)
        return list(s.exec(q.order_by(col(Recipient.row_number))))


def due_requeries(store: Store, batch_id: int | None, now: datetime | None = None) -> list[int]:
    """PENDING rows, and rows the operator marked failed, whose next requery is due."""
    now = now or datetime.now(UTC)
    with store.session() as s:
        q = select(Recipient.id).where(or_(Recipient.state == S.PENDING, operator_failed()),
                                       col(Recipient.next_requery_at) <= now)
        if batch_id is not None:
            q = q.where(Recipient.batch_id == batch_id)
        return list(s.exec(q.order_by(col(Recipient.next_requery_at))))


def next_due(store: Store, batch_id: int | None) -> datetime | None:
    with store.session() as s:
        q = select(func.min(Recipient.next_requery_at)).where(Recipient.state == S.PENDING)
        if batch_id is not None:
            q = q.where(Recipient.batch_id == batch_id)
        return s.exec(q).one()


def history(store: Store, row_id: int) -> list[Event]:
    """Every event of a row, oldest first: what happened to it and why."""
    with store.session() as s:
        return list(s.exec(select(Event).where(Event.recipient_id == row_id).order_by(col(Event.id))))


def get(store: Store, row_id: int) -> Recipient:
    with store.session() as s:
        row = s.get(Recipient, row_id)
    if row is None:
        raise StateConflict(f"row {row_id} does not exist")
    return row
