"""Changes to a batch's rows before they are paid: edit, add, copy, delete, accept a duplicate,
undo, rename and delete a batch. Each change is one store transaction and leaves one undo
step, kept here per batch so that undo survives leaving the editor.

The TUI calls these from a worker (never on its UI thread); one lock keeps a change and its
undo step together when two workers race.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from buypower_tui.core import bulk, editing, rows
from buypower_tui.core.editing import EDITABLE, raw_values
from buypower_tui.core.models import Recipient, utcnow
from buypower_tui.core.rows import RowView

StateConflict = rows.StateConflict


@dataclass(frozen=True)
class Change:
    """One undo step: what was changed, with what it takes to put it back."""

    kind: Literal["edit", "add", "delete", "accept", "bulk", "split"]
    batch_id: int
    # edit: (row id, raw values before, row number); add/accept: row ids; delete: the rows kept;
    # bulk: [(row id, raw values before, row number, accepted before, stored problems before)];
    # split: (that of the row split, the ids of its new parts)
    data: Any


@dataclass(frozen=True)
class Undone:
    change: Change
    row_numbers: list[int]
    changed: set[int]  # rows to show again


class Edits:
    """A mixin of Services (which gives `store` and `limits`)."""

    def __init__(self) -> None:
        self._undo: dict[int, list[Change]] = {}
        self._writing = threading.Lock()
        # Each row's updated_at as our last change wrote it (taken from that change's own
        # transaction, never read back after it: another process's write landing in between
        # would pass for ours). An undo touches only rows still so: a row changed since (a
        # lookup, another window) or a new row that got a freed id is never rewritten or
        # deleted by an old step.
        self._stamps: dict[int, object] = {}

    def _done(self, change: Change, stamps: Mapping[int, Any]) -> None:
        self._undo.setdefault(change.batch_id, []).append(change)
        self._stamp(stamps)

    def _stamp(self, stamps: Mapping[int, Any]) -> None:
        """Keep each row's updated_at as written, in UTC as the store reads it back (rows.get,
        grid_rows and the core's locked reads compare equal to it)."""
        self._stamps.update((i, _utc(at)) for i, at in stamps.items())

    def _stamp_read(self, batch_id: int, row_ids) -> None:
        """Stamps read back after the change (only undo of a delete, whose rows come back under
        new ids that no other window knows yet)."""
        ids = list(row_ids or ())
        for start in range(0, len(ids), 10_000):  # a query per 10,000 rows: PostgreSQL binds at most 65,535 values
            chunk = ids[start:start + 10_000]
            self._stamp({r["id"]: r["updated_at"] for r in editing.grid_rows(self.store, batch_id, chunk)})

    @contextlib.contextmanager
    def _editing(self, batch_id: int) -> Iterator[None]:
        """One change at a time in this process, and none to a batch another process (machine)
        is paying or requerying now: StateConflict naming who (PostgreSQL; a run there only
        sends rows approved before, but an edit under it would look like part of that run)."""
        with self._writing:
            if (who := self.store.batches_held().get(batch_id)) is not None:
                raise StateConflict(f"batch {batch_id} is being paid or requeried by {who}; it cannot be changed "
                                    "until that ends")
            yield

    def can_undo(self, batch_id: int) -> bool:
        return bool(self._undo.get(batch_id))

    def edit_row(self, row_id: int, values: dict[str, str]) -> Recipient:
        """Save the operator's values, checked by the import's rules; StateConflict when the row
        has an orderId or moved on (looked up, approved) meanwhile."""
        row = rows.get(self.store, row_id)
        with self._editing(row.batch_id):
            row = rows.get(self.store, row_id)
            before = raw_values(row)
            after = rows.edit_row(self.store, row_id, values, self.limits)
            self._done(Change("edit", row.batch_id, (row_id, before, row.row_number)), {row_id: after.updated_at})
            return after

    def edit_rows(self, batch_id: int, changes: Mapping[int, Mapping[str, str]], *,
                  note: str = "edited with other rows", seen: Mapping[int, Any] | None = None) -> list[RowView]:
        """Set sheet values of many rows at once (row id -> {field: text}; any of FIELDS, those not
        given kept), each row checked again by the import's rules: one transaction, one undo
        step. The rows changed, after (a row already so is left out). StateConflict, with nothing
        changed, when any row has an orderId, is no longer a draft, is gone or in another batch.

        `seen`: for a caller that read the rows before deciding the change (a proposed fix, a
        merged sheet), each row's updated_at as read (grid_rows, rows.get): every row of
        `changes` must be in it, and a row changed since (looked up, edited in another window)
        refuses the whole change (StateConflict, nothing changed): compare-and-set. Problems of
        how the sheet stored a cell stay on the fields not changed (bulk._values)."""
        with self._editing(batch_id):
            done = bulk.edit_rows(self.store, changes, self.limits, note=note, batch_id=batch_id, seen=seen)
            if done:
                step = [(d["row"].id, d["before"], d["row"].row_number, d["accepted"], d["stored"]) for d in done]
                self._done(Change("bulk", batch_id, step), {d["row"].id: d["row"].updated_at for d in done})
            return [d["row"] for d in done]

    def split_row(self, row_id: int, values: dict[str, str] | None = None) -> list[RowView]:
        """Split a row whose amount is over the maximum into rows of the same meter that add up
        to it (`values`: sheet values to set first, as the row editor has them): one
        transaction, one undo step that puts the single row back. The rows, the original first;
        the new ones are at the end of the sheet (bulk.split_row says why). Their duplicate
        warning is accepted (the first's duplicate_accepted) only when no other row of the batch
        has the meter; otherwise the plan asks, as for any meter paid twice."""
        with self._editing(rows.get(self.store, row_id).batch_id):
            try:
                split = bulk.split_row(self.store, row_id, self.limits, values)
            except IntegrityError:  # PostgreSQL: another window added a row at the end just now
                raise StateConflict("a row was added at the end of the sheet meanwhile; split again") from None
            parts, row = split["rows"], split["rows"][0]
            step = ((row_id, split["before"], row.row_number, split["accepted"], split["stored"]),
                    [p.id for p in parts[1:]])
            self._done(Change("split", row.batch_id, step), {p.id: p.updated_at for p in parts})
            return parts

    def add_row(self, batch_id: int, values: dict[str, str], note: str | None = None,
                extras: dict[str, str] | None = None) -> Recipient:
        with self._editing(batch_id):
            at = utcnow()
            row_id = editing.add_row(self.store, batch_id, values, self.limits, at=at, extras=extras,
                                     **({"note": note} if note else {}))
            self._done(Change("add", batch_id, [row_id]), {row_id: at})
            return rows.get(self.store, row_id)

    def copy_row(self, row_id: int) -> Recipient:
        row = rows.get(self.store, row_id)
        return self.add_row(row.batch_id, raw_values(row), note=f"copied from row {row.row_number}",
                            extras=row.extras)

    def delete_rows(self, batch_id: int, row_ids: list[int]) -> int:
        with self._editing(batch_id):
            kept = editing.delete_rows(self.store, row_ids)
            self._done(Change("delete", batch_id, kept), {})
            return len(kept)

    def accept_duplicates(self, batch_id: int, row_ids: list[int]) -> list[int]:
        """The duplicate warnings of these rows accepted (those still editable); their ids."""
        with self._editing(batch_id):
            ids = [r.id for r in map(lambda i: rows.get(self.store, i), row_ids) if r.state in EDITABLE]
            if ids:
                done = editing.accept_duplicates(self.store, ids)
                self._done(Change("accept", batch_id, ids), {r.id: r.updated_at for r in done})
            return ids

    def undo(self, batch_id: int) -> Undone | None:
        """Take back the batch's last change (None: nothing to undo); StateConflict when the
        rows moved on since (the step is then gone: it can no longer be undone)."""
        with self._editing(batch_id):
            stack = self._undo.get(batch_id)
            if not stack:
                return None
            change = stack.pop()
            data = change.data
            try:
                if change.kind == "edit":
                    row_id, before, number = data
                    self._ours(batch_id, [row_id], number)
                    after = rows.edit_row(self.store, row_id, before, self.limits)
                    numbers, changed = [number], {row_id}
                    self._stamp({row_id: after.updated_at})
                elif change.kind in ("add", "accept"):
                    present = self._ours(batch_id, data)
                    numbers = [r.row_number for r in present]
                    if change.kind == "add":
                        editing.delete_rows(self.store, data)
                    else:
                        done = editing.accept_duplicates(self.store, data, accepted=False)
                        self._stamp({r.id: r.updated_at for r in done})
                    changed = set(data)
                elif change.kind == "delete":
                    numbers = [k["row_number"] for k in data]
                    self._places_free(change.batch_id, numbers)
                    restored = editing.restore_rows(self.store, data, self.limits)
                    self._renumber(stack, {k["id"]: new for k, new in zip(data, restored, strict=True)})
                    changed = set(restored)
                    self._stamp_read(batch_id, changed)
                elif change.kind == "bulk":
                    numbers, changed = [d[2] for d in data], {d[0] for d in data}
                    done = bulk.edit_rows(self.store, {d[0]: d[1] for d in data}, self.limits,
                                          note="bulk edit undone", batch_id=batch_id, seen=self._seen(changed),
                                          accepted={d[0]: d[3] for d in data}, stored={d[0]: d[4] for d in data})
                    self._stamp({d["row"].id: d["row"].updated_at for d in done})
                else:  # split
                    (row_id, before, number, accepted, stored), parts = data
                    numbers, changed = [number], {row_id, *parts}
                    at = bulk.unsplit(self.store, row_id, before, accepted, parts, self.limits, self._seen(changed),
                                      stored)
                    self._stamp({row_id: at})
            except IntegrityError:  # another process took one of those sheet rows just now
                raise StateConflict(f"sheet rows {', '.join(map(str, sorted(numbers)))} could not all be "
                                    "restored: a row added since took one of their places") from None
            return Undone(change, sorted(numbers), changed)

    def _seen(self, row_ids) -> dict[int, object]:
        """Each row's updated_at as our last change left it: the core refuses rows changed since."""
        return {i: self._stamps.get(i) for i in row_ids}

    def _places_free(self, batch_id: int, numbers: list[int]) -> None:
        taken = sorted(set(numbers) & {r.row_number for r in self.store.rows(batch_id)})
        if taken:
            raise StateConflict(f"sheet rows {', '.join(map(str, taken))} were taken by rows added since; "
                                "nothing was restored")

    def _ours(self, batch_id: int, row_ids: list[int], number: int | None = None) -> list[Recipient]:
        """The rows of an undo step still as our last change left them: in this batch, at this
        sheet row, not changed since (an id freed by a delete may now be another row's); the
        ones gone are left out."""
        found = []
        for row_id in row_ids:
            with contextlib.suppress(StateConflict):  # gone since
                found.append(rows.get(self.store, row_id))
        moved = [r for r in found if r.batch_id != batch_id or number is not None and r.row_number != number
                 or self._stamps.get(r.id) != r.updated_at]
        if moved or number is not None and not found:
            what = f"row {moved[0].row_number}" if moved else "that row"
            raise StateConflict(f"{what} changed since this step (looked up, edited elsewhere, or deleted and "
                                "its place taken), so it is not undone")
        return found

    @staticmethod
    def _renumber(stack: list[Change], new_ids: dict[int, int]) -> None:
        """Rows brought back by undo have new ids: the earlier steps follow them."""
        for n, change in enumerate(stack):
            data = change.data
            if change.kind == "edit" and data[0] in new_ids:
                stack[n] = Change("edit", change.batch_id, (new_ids[data[0]], *data[1:]))
            elif change.kind in ("add", "accept"):
                stack[n] = Change(change.kind, change.batch_id, [new_ids.get(i, i) for i in data])
            elif change.kind == "bulk":
                stack[n] = Change("bulk", change.batch_id, [(new_ids.get(i, i), *rest) for i, *rest in data])
            elif change.kind == "split":
                (i, *rest), parts = data
                stack[n] = Change("split", change.batch_id,
                                  ((new_ids.get(i, i), *rest), [new_ids.get(p, p) for p in parts]))

    def _fixes(self, batch_id: int, row_ids=None) -> dict[int, tuple[dict[str, str], Any]]:
        """Row id -> (the sheet values its proposed fix sets, its updated_at as read here)."""
        found = editing.grid_rows(self.store, batch_id, row_ids, states=EDITABLE)
        return {r["id"]: (fix, r["updated_at"]) for r in found if r["order_id"] is None
                for fix in [{k: v for e in r["errors"] or () for k, v in (e.get("fix") or {}).items()}] if fix}

    def proposed_fixes(self, batch_id: int, row_ids=None) -> dict[int, dict[str, str]]:
        """The fixes the import proposed (a meter stored as a number that lost its leading 0),
        of these rows or of the whole batch: row id -> the sheet values the fix sets."""
        return {i: fix for i, (fix, _) in self._fixes(batch_id, row_ids).items()}

    def accept_fixes(self, batch_id: int, row_ids=None) -> list[RowView]:
        """The operator accepts the proposed fixes (of these rows, or of every row that has one):
        one transaction, one undo step; never without being asked. A row changed after the fix
        was read (a meter typed by hand in another window) refuses it all (StateConflict): a
        stale fix never overwrites it."""
        found = self._fixes(batch_id, row_ids)
        if not found:
            return []
        return self.edit_rows(batch_id, {i: fix for i, (fix, _) in found.items()},
                              note="the fix proposed by the import accepted",
                              seen={i: at for i, (_, at) in found.items()})

    def rename_batch(self, batch_id: int, name: str) -> None:
        with self._editing(batch_id):
            editing.rename_batch(self.store, batch_id, name)

    def delete_batch(self, batch_id: int) -> None:
        """ValueError when a row got an orderId meanwhile (another process): it may have moved money."""
        with self._editing(batch_id):
            self.store.delete_batch(batch_id)
            self._undo.pop(batch_id, None)  # its ids may be given to another batch


def _utc(at: Any) -> Any:
    """A time as the store hands it back: aware, in UTC (SQLite keeps no zone)."""
    if not isinstance(at, datetime):
        return at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
