"""Changes to a batch's rows before they are paid: edit, add, copy, delete, accept a duplicate,
undo, rename and delete a batch. Each change is one store transaction and leaves one undo
step, kept here per batch so that undo survives leaving the editor.

The TUI calls these from a worker (never on its UI thread); one lock keeps a change and its
undo step together when two workers race.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Literal

from buypower_tui.core import editing, rows
from buypower_tui.core.editing import EDITABLE, raw_values
from buypower_tui.core.models import Recipient

StateConflict = rows.StateConflict


@dataclass(frozen=True)
class Change:
    """One undo step: what was changed, with what it takes to put it back."""

    kind: Literal["edit", "add", "delete", "accept"]
    batch_id: int
    data: Any  # edit: (row id, raw values before); add/accept: row ids; delete: the rows kept


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

    def _done(self, change: Change) -> None:
        self._undo.setdefault(change.batch_id, []).append(change)

    def can_undo(self, batch_id: int) -> bool:
        return bool(self._undo.get(batch_id))

    def edit_row(self, row_id: int, values: dict[str, str]) -> Recipient:
        """Save the operator's values, checked by the import's rules; StateConflict when the row
        has an orderId or moved on (looked up, approved) meanwhile."""
        with self._writing:
            row = rows.get(self.store, row_id)
            before = raw_values(row)
            after = rows.edit_row(self.store, row_id, values, self.limits)
            self._done(Change("edit", row.batch_id, (row_id, before)))
            return after

    def add_row(self, batch_id: int, values: dict[str, str], note: str | None = None) -> Recipient:
        with self._writing:
            row_id = editing.add_row(self.store, batch_id, values, self.limits, **({"note": note} if note else {}))
            self._done(Change("add", batch_id, [row_id]))
            return rows.get(self.store, row_id)

    def copy_row(self, row_id: int) -> Recipient:
        row = rows.get(self.store, row_id)
        return self.add_row(row.batch_id, raw_values(row), note=f"copied from row {row.row_number}")

    def delete_rows(self, batch_id: int, row_ids: list[int]) -> int:
        with self._writing:
            kept = editing.delete_rows(self.store, row_ids)
            self._done(Change("delete", batch_id, kept))
            return len(kept)

    def accept_duplicates(self, batch_id: int, row_ids: list[int]) -> list[int]:
        """The duplicate warnings of these rows accepted (those still editable); their ids."""
        with self._writing:
            ids = [r.id for r in map(lambda i: rows.get(self.store, i), row_ids) if r.state in EDITABLE]
            if ids:
                editing.accept_duplicates(self.store, ids)
                self._done(Change("accept", batch_id, ids))
            return ids

    def undo(self, batch_id: int) -> Undone | None:
        """Take back the batch's last change (None: nothing to undo); StateConflict when the
        rows moved on since (the step is then gone: it can no longer be undone)."""
        with self._writing:
            stack = self._undo.get(batch_id)
            if not stack:
                return None
            change = stack.pop()
            data = change.data
            if change.kind == "edit":
                row_id, before = data
                numbers = [rows.get(self.store, row_id).row_number]
                rows.edit_row(self.store, row_id, before, self.limits)
                changed = {row_id}
            elif change.kind in ("add", "accept"):
                numbers = [r.row_number for r in self._present(data)]
                if change.kind == "add":
                    editing.delete_rows(self.store, data)
                else:
                    editing.accept_duplicates(self.store, data, accepted=False)
                changed = set(data)
            else:
                numbers = [k["row_number"] for k in data]
                changed = set(editing.restore_rows(self.store, data, self.limits))
            return Undone(change, sorted(numbers), changed)

    def _present(self, row_ids: list[int]) -> list[Recipient]:
        found = []
        for row_id in row_ids:
            with contextlib.suppress(StateConflict):  # gone since
                found.append(rows.get(self.store, row_id))
        return found

    def rename_batch(self, batch_id: int, name: str) -> None:
        with self._writing:
            editing.rename_batch(self.store, batch_id, name)

    def delete_batch(self, batch_id: int) -> None:
        """ValueError when a row got an orderId meanwhile (another process): it may have moved money."""
        with self._writing:
            self.store.delete_batch(batch_id)
