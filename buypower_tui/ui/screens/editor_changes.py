"""The recipient editor's changes to rows: edit, add, copy, delete, mark, accept, undo, and
the export of invalid rows. A mixin of EditorScreen, kept apart so each file stays readable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from buypower_tui.core import editing, rows
from buypower_tui.core.editing import EDITABLE, raw_values
from buypower_tui.core.export import export_invalid
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.row_editor import RowEditorModal
from buypower_tui.ui.modals.save_file import safe_name, save_csv
from buypower_tui.ui.wording import plural


class RowChanges:
    """Needs from the screen: rows, marked, grid, store, limits, undo_stack, refresh_rows."""

    def targets(self) -> list[int]:
        """The marked rows, else the row under the cursor."""
        if self.marked:
            return [i for i in self.rows if i in self.marked]
        current = self.grid.current_id
        return [current] if current is not None else []

    def _editable(self, row: dict[str, Any]) -> bool:
        if row["order_id"] is None and row["state"] in EDITABLE:
            return True
        self.app.show_error("This row cannot be edited",
                            f"Row {row['row_number']} is {row['state']} and has orderId {row['order_id']}: "
                            "its order may exist at BuyPower, so its details are history, not a draft.")
        return False

    def action_edit(self) -> None:
        row = self.rows.get(self.grid.current_id or -1)
        if row is None or not self._editable(row):
            return
        before = raw_values(row)

        def save(values: dict[str, str] | None) -> None:
            if values is None or values == before:
                return
            after = rows.edit_row(self.store, row["id"], values, self.limits)
            self.undo_stack.append(("edit", (row["id"], before)))
            self.refresh_rows({row["id"]})
            if after.errors:
                self.notify(f"Row {row['row_number']} saved; still invalid: {after.errors[0]['message']}",
                            severity="warning", markup=False)
            else:
                self.notify(f"Row {row['row_number']} saved.")

        self.app.push_screen(RowEditorModal(f"Row {row['row_number']}", before, self.limits), save)

    def action_add(self) -> None:
        def save(values: dict[str, str] | None) -> None:
            if values is None:
                return
            row_id = editing.add_row(self.store, self.batch_id, values, self.limits)
            self.undo_stack.append(("add", [row_id]))
            self.refresh_rows({row_id})
            self._go_to(row_id)

        self.app.push_screen(RowEditorModal("New row", {}, self.limits), save)

    def action_copy_row(self) -> None:
        row = self.rows.get(self.grid.current_id or -1)
        if row is None:
            return
        row_id = editing.add_row(self.store, self.batch_id, raw_values(row), self.limits,
                                 note=f"copied from row {row['row_number']}")
        self.undo_stack.append(("add", [row_id]))
        self.refresh_rows({row_id})
        self._go_to(row_id)
        self.notify(f"Row {row['row_number']} copied to row {self.rows[row_id]['row_number']}.")

    def _go_to(self, row_id: int) -> None:
        if str(row_id) in self.grid.rows:
            self.grid.move_cursor(row=self.grid.get_row_index(str(row_id)))

    def action_delete(self) -> None:
        ids = self.targets()
        if not ids:
            return
        numbers = ", ".join(str(self.rows[i]["row_number"]) for i in ids[:10]) + (" …" if len(ids) > 10 else "")

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                kept = editing.delete_rows(self.store, ids)
            except rows.StateConflict as exc:
                self.app.show_error("These rows cannot be deleted", str(exc))
                return
            self.undo_stack.append(("delete", kept))
            self.refresh_rows(set(ids))
            self.notify(f"Deleted {plural(len(kept), 'row')}; ctrl+z brings them back.")

        what = f"Sheet row {numbers} will be" if len(ids) == 1 else f"Sheet rows {numbers} will be"
        self.app.push_screen(ConfirmModal(f"Delete {plural(len(ids), 'row')}?", f"{what} removed from this batch.",
                                          yes="Delete"), done)

    def action_mark(self) -> None:
        row_id = self.grid.current_id
        if row_id is None:
            return
        self.marked ^= {row_id}
        self.grid.set_row(self.rows[row_id], self.duplicates, row_id in self.marked)
        self.grid.action_cursor_down()
        self.update_counts()

    def action_accept_duplicates(self) -> None:
        ids = [i for i in self.targets() if self.rows[i]["meter"] in self.duplicates
               and not self.rows[i]["duplicate_accepted"] and self.rows[i]["state"] in EDITABLE]
        if not ids:
            self.notify("No duplicate warning to accept on the selected rows.", severity="warning")
            return
        editing.accept_duplicates(self.store, ids)
        self.undo_stack.append(("accept", ids))
        self.marked -= set(ids)
        self.refresh_rows(set(ids))
        self.notify(f"Accepted the duplicate warning of {plural(len(ids), 'row')}; ctrl+z takes it back.")

    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("Nothing to undo.", severity="warning")
            return
        kind, data = self.undo_stack.pop()
        try:
            if kind == "edit":
                row_id, before = data
                numbers = [self.rows[row_id]["row_number"]]
                rows.edit_row(self.store, row_id, before, self.limits)
                changed = {row_id}
            elif kind == "add":
                numbers = [self.rows[i]["row_number"] for i in data if i in self.rows]
                editing.delete_rows(self.store, data)
                changed = set(data)
            elif kind == "accept":
                numbers = [self.rows[i]["row_number"] for i in data if i in self.rows]
                editing.accept_duplicates(self.store, data, accepted=False)
                changed = set(data)
            else:
                numbers = [k["row_number"] for k in data]
                changed = set(editing.restore_rows(self.store, data, self.limits))
        except rows.StateConflict as exc:  # the row moved on (looked up, approved) since
            self.app.show_error("That cannot be undone any more", str(exc))
            return
        self.refresh_rows(changed)
        what = {"edit": "the edit of", "add": "the addition of", "accept": "the acceptance of",
                "delete": "the deletion of"}[kind]
        self.notify(f"Undid {what} row {', '.join(map(str, sorted(numbers)))}.")
        present = [i for i in changed if i in self.rows]
        if present:
            self._go_to(min(present, key=lambda i: self.rows[i]["row_number"]))

    def action_export_invalid(self) -> None:
        if not self.store.stats(self.batch_id).invalid:
            self.notify("No invalid rows to export.", severity="warning")
            return
        save_csv(self.app, "Export the invalid rows to CSV", Path(safe_name(f"{self.title}-invalid.csv")),
                 lambda path: export_invalid(self.store, self.batch_id, path), "invalid row")
