"""Two-person approval (setting `approval`): who prepared a batch, and whether this operator may
confirm paying it.

With approval = "two-person" no operator who prepared a batch (imported it, or changed what it
pays) can confirm a run that approves its rows; another operator must type VEND. Everyone who
prepared a part counts, not only the last: else a colleague's one-row fix would let the
importer approve the rows only she chose (the review found that).
"single" (the default) lets whoever prepared it pay it, as before.

**Who prepared it is a column of the batch** (`prepared_by`: each operator once, in the order
they first did; `prepared_at`: the last change; migration 0006),
written by `mark_prepared` in the same transaction as each change that decides what the batch
pays: the import or repeat that made it, and every change to its rows' sheet values or to
which rows it holds (an edit, a bulk edit, a merged sheet, an accepted fix such as a leading 0,
a split, an add, a copy, a delete, a duplicate accepted in the editor, and the undo of each; a
duplicate accepted at the confirmation is part of approving, not preparing). It is not read
back from the events: they tell these changes apart only by free-text notes and by states that
other acts share (a lookup turns a row INVALID when its amount is outside the meter's range;
reopening a closed row puts it back as INVALID or VALID; accepting a duplicate leaves a VERIFIED
row VERIFIED), so a reading would have to guess, and a new kind of event could quietly make
someone the preparer or stop doing so. A column written by the preparing acts themselves is
exact, costs one UPDATE of the batch's row per change (always last in its transaction, so
concurrent changes never deadlock on it), and is read again under the money lock. (Stores
from before it get the preparer from their events, once, by migration 0006.)

**Where the rule comes from**: the store's own `approval` (`buypower-tui db approval
two-person`, table store_setting), which holds for every operator who opens the store, or this
workstation's setting (config or BUYPOWER_APPROVAL); two-person when either says so. So a team
sets it once in the store, and an operator cannot turn it off in their own config (on
PostgreSQL only the roles granted UPDATE on store_setting may change it: README, Team mode).

What never makes anyone the preparer: a lookup, the approval and the run, requeries, settling
a row by hand (resolve), a retry, closing or reopening rows, the notes a run leaves on rows it
left out, renaming the batch. Events still record all of it (who, when).

**What the rule guards**: a confirmation that gives rows new orderIds: approving VERIFIED rows,
or retrying FAILED rows under new orderIds (`plan_approval_problem`). Sending rows that already
have an orderId (APPROVED or NOT_SENT after a run was stopped) is allowed to anyone, the
preparer included: they were approved already (their APPROVED event names by whom), their
details can no longer be edited, and leaving an approved order half-sent helps no one.
Requeries and recovery are never blocked.

The person is compared, not the machine: "ada@ws1" and "ada@ws2" are the same operator (the
name before the last "@": on PostgreSQL the database role, elsewhere the OS user).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from buypower_tui.core.models import Batch, Event, StoreSetting, utcnow
from buypower_tui.core.times import local_minute

if TYPE_CHECKING:
    from buypower_tui.core.plan import RunPlan
    from buypower_tui.core.store import Store

SINGLE, TWO_PERSON = "single", "two-person"
RULES = (SINGLE, TWO_PERSON)

_B = Batch.__table__
_SETTING = StoreSetting.__table__
_EVENT = Event.__table__
RULE_NOTE = "store's approval rule set to "


class ApprovalRefused(Exception):
    """The operator may not confirm this run (two-person approval): nothing was approved or paid.
    str() is the message for the operator, as it is."""


@dataclass(frozen=True)
class Preparer:
    operators: tuple[str, ...]  # everyone who prepared it, in the order they first did; (): not recorded
    at: datetime | None  # the last change

    @property
    def operator(self) -> str | None:
        """As shown: "ada@ws1, bola@ws2"; None when nobody is recorded."""
        return ", ".join(self.operators) or None

    def describe(self) -> str:
        """"ada@ws1 on 2026-12-01 09:14 +01:00", "ada@ws1 and bola@ws2 (last on …)", or
        "nobody recorded"."""
        names = self.operators
        if not names:
            return "nobody recorded"
        when = local_minute(self.at) if self.at else None
        if len(names) == 1:
            return names[0] + (f" on {when}" if when else "")
        return ", ".join(names[:-1]) + f" and {names[-1]}" + (f" (last on {when})" if when else "")


def person(operator: str) -> str:
    """The person of an operator name ("role@host", "user@host"): the part before the last "@",
    so the same role at another machine is the same person."""
    who, at, _host = operator.rpartition("@")
    return who if at else operator


def mark_prepared(conn: Any, batch_ids: Iterable[int | None], operator: str, at: datetime) -> None:
    """In the transaction of a change that prepares these batches (a Connection or a Session), as
    its last write: `operator` is one of those who prepared them (each person once, as they last
    signed), the last change at `at`. Last, so that two changes of one batch at once
    (PostgreSQL) wait for each other on the batch's row only once they hold their rows: they
    never deadlock on it."""
    ids = sorted({i for i in batch_ids if i is not None})
    if not ids:
        return
    if hasattr(conn, "flush"):  # a Session: its pending rows first
        conn.flush()
    found = conn.execute(select(_B.c.id, _B.c.prepared_by).where(_B.c.id.in_(ids)).with_for_update()).all()
    for batch_id, before in found:
        names = [n for n in split(before) if person(n) != person(operator)] + [operator]
        conn.execute(_B.update().where(_B.c.id == batch_id).values(prepared_by=encode(names), prepared_at=at))


def encode(names: list[str]) -> str:
    """`prepared_by` as stored: a JSON list, since a role's name may hold any character (the
    review's role "dan, x" read back as two people from a comma-joined string)."""
    return json.dumps(names)


def split(prepared_by: str | None) -> list[str]:
    """The operators a batch's `prepared_by` names, in the order they first prepared it."""
    if not prepared_by:
        return []
    try:
        names = json.loads(prepared_by)
    except ValueError:
        return [prepared_by]
    return [str(n) for n in names] if isinstance(names, list) else [prepared_by]


def preparer(store: Store, batch_id: int) -> Preparer | None:
    """Who prepared the batch and when; None when there is no such batch."""
    with store.engine.connect() as conn:  # prepared_at is a UTCDateTime column: it comes back aware
        found = conn.execute(select(_B.c.prepared_by, _B.c.prepared_at).where(_B.c.id == batch_id)).first()
    return None if found is None else Preparer(tuple(split(found.prepared_by)), found.prepared_at)


def stored_rule(store: Store) -> tuple[str, str, datetime] | None:
    """The store's own `approval`: (rule, who set it, when); None when it was never set."""
    with store.engine.connect() as conn:
        found = conn.execute(select(_SETTING.c.value, _SETTING.c.set_by, _SETTING.c.set_at)
                             .where(_SETTING.c.name == "approval")).first()
    return None if found is None else (found.value, found.set_by, found.set_at)


def set_stored_rule(store: Store, rule: str) -> None:
    """Set the store's `approval` for every operator (ValueError: not a rule), with an event
    that says who changed it from what: a rule turned off and on again leaves its trace. On
    PostgreSQL a role without UPDATE on store_setting gets the server's refusal (DBAPIError)."""
    if rule not in RULES:
        raise ValueError(f"approval is one of {', '.join(RULES)}, not {rule!r}")
    before = stored_rule(store)
    with store.engine.begin() as conn:
        conn.execute(_SETTING.delete().where(_SETTING.c.name == "approval"))
        conn.execute(_SETTING.insert().values(name="approval", value=rule, set_by=store.operator, set_at=utcnow()))
        conn.execute(_EVENT.insert().values(operator=store.operator, at=utcnow(), note=(
            f"{RULE_NOTE}{rule} (it was {before[0] if before else 'not set'})")))


def rule_changes(store: Store, last: int = 10) -> list[tuple[datetime, str, str]]:
    """The store's approval rule's last changes, newest first: (when, who, what)."""
    with store.engine.connect() as conn:
        found = conn.execute(select(_EVENT.c.at, _EVENT.c.operator, _EVENT.c.note)
                             .where(_EVENT.c.batch_id.is_(None), _EVENT.c.note.like(f"{RULE_NOTE}%"))
                             .order_by(_EVENT.c.at.desc(), _EVENT.c.id.desc()).limit(last)).all()
    return [(at, who, note) for at, who, note in found]


def effective_rule(store: Store, local: str) -> str:
    """Two-person when the store or this workstation's setting says so."""
    stored = stored_rule(store)
    return TWO_PERSON if TWO_PERSON in (local, stored[0] if stored else None) else SINGLE


def approval_problem(store: Store, batch_id: int, rule: str, operator: str | None = None) -> str | None:
    """Why `operator` (this process's, by default) may not confirm paying the batch under `rule`
    (this workstation's setting; the store's own rule is asked here too); None when they may
    (or the rule is "single", or there is no such batch: that is said elsewhere)."""
    if effective_rule(store, rule) != TWO_PERSON:
        return None
    found = preparer(store, batch_id)
    if found is None:
        return None
    me = operator or store.operator
    if not found.operators:
        return (f"batch {batch_id} has no record of who prepared it, so with approval = \"two-person\" its "
                "preparer cannot be told apart from you; any change to its rows (an edit, an accepted duplicate) "
                "records who made it, and then another operator confirms it")
    if person(me) not in {person(n) for n in found.operators}:
        return None
    return (f"batch {batch_id} was prepared (imported or edited) by {found.describe()}; with approval = "
            f"\"two-person\" an operator who prepared no part of it must confirm it (you are {me}). "
            "Nothing was approved or paid")


def plan_approves(plan: RunPlan) -> bool:
    """Whether confirming the plan gives rows new orderIds (approves VERIFIED rows, or retries
    FAILED rows under new ones): what two-person approval guards. A plan that only sends rows
    approved before, under the orderIds they have, does not."""
    p = plan.preflight
    return bool(p.send) or any(i in set(p.resend) for i in plan.retrying)


def plan_approval_problem(store: Store, plan: RunPlan, rule: str, operator: str | None = None) -> str | None:
    """`approval_problem` for a run of this plan: None when the plan approves nothing new."""
    return approval_problem(store, plan.batch_id, rule, operator) if plan_approves(plan) else None


def check_plan(store: Store, plan: RunPlan, rule: str) -> None:
    """Raise ApprovalRefused when this operator may not confirm the plan (commit_plan asks, under
    the money lock, so no face and no path skips it)."""
    if problem := plan_approval_problem(store, plan, rule):
        raise ApprovalRefused(problem)
