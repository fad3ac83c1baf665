"""The recipient editor's changes to rows: edit, split, add, copy, delete, mark, bulk edit,
accept, undo, and the export of invalid rows. A mixin of EditorScreen, kept apart so each file stays readable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.cells import cell_len

from buypower_tui.core.row_view import EDITABLE, raw_values
from buypower_tui.ui.modals.bulk_edit import BulkEditModal, numbers_text
from buypower_tui.ui.modals.confirm import ConfirmModal
from buypower_tui.ui.modals.row_editor import RowEditorModal, Split
from buypower_tui.ui.modals.save_file import safe_name, save_csv
from buypower_tui.ui.widgets.grid import money_text
from buypower_tui.ui.wording import plural


def stored_problems(row: dict[str, Any]) -> bool:
    """Whether the row has a problem of how the sheet stored a cell (sheet_quirks.py): saved
    again, even unchanged, it goes."""
    return any(p.get("stored") for p in (*(row["errors"] or ()), *(row["warnings"] or ())))


WIDE_ONLY = ("editor.search", "editor.bulk_edit")  # footer keys shown only where they fit: space (mark) always is


class RowChanges:
    """Needs from the screen: current_row, marked, grid, services, limits, refresh_rows. Every write
    goes through the application layer in a worker (`app.change`); the screen shows the rows
    it changed when it answers."""

    def targets(self) -> list[dict[str, Any]]:
        """The marked rows, else the row under the cursor, as the store has them now."""
        ids = self.marked or {self.grid.current_id} - {None}
        return self.services.grid_rows(self.batch_id, ids) if ids else []

    def _editable(self, row: dict[str, Any]) -> bool:
        if row["order_id"] is None and row["state"] in EDITABLE:
            return True
        if row["state"] == "CLOSED":  # closed by the operator: reopened first, then edited
            self.app.show_error("This row cannot be edited",
                                f"Row {row['row_number']} is CLOSED ({row['provider_message']}). Reopen it first "
                                "(k in the failed & pending view, which r opens), then edit it.")
            return False
        self.app.show_error("This row cannot be edited",
                            f"Row {row['row_number']} is {row['state']} and has orderId {row['order_id']}: "
                            "its order may exist at BuyPower, so its details are history, not a draft.")
        return False

    def action_edit(self) -> None:
        row = self.current_row()
        if row is None or not self._editable(row):
            return
        before = raw_values(row)

        def saved(after) -> None:
            self.refresh_rows({row["id"]})
            if after.errors:
                self.notify(f"Row {row['row_number']} saved; still invalid: {after.errors[0]['message']}",
                            severity="warning", markup=False)
            else:
                self.notify(f"Row {row['row_number']} saved.")

        def split(parts) -> None:
            self.refresh_rows({p.id for p in parts})
            amounts = " + ".join(money_text(p.amount) for p in parts)
            numbers = numbers_text([p.row_number for p in parts])
            if parts[0].duplicate_accepted:
                self.notify(f"Row {row['row_number']} split into {len(parts)} rows of meter {parts[0].meter_raw}: "
                            f"{amounts} (rows {numbers}; their duplicate warning accepted). ctrl+z puts the one "
                            "row back.", markup=False)
            else:  # the meter is in other rows too: paying it again is the operator's call
                self.notify(f"Row {row['row_number']} split into {len(parts)} rows of meter {parts[0].meter_raw}: "
                            f"{amounts} (rows {numbers}). The meter is in other rows of this batch too, so their "
                            "duplicate warning is NOT accepted: check them (o accepts). ctrl+z puts the one row "
                            "back.", severity="warning", markup=False)

        def save(values: dict[str, str] | Split | None) -> None:
            if isinstance(values, Split):
                self.app.change(self.batch_id, lambda: self.services.split_row(row["id"], values.values), split,
                                refused="The row was not split")
            elif values is not None and (values != before or stored_problems(row)):  # confirming clears them
                self.app.change(self.batch_id, lambda: self.services.edit_row(row["id"], values), saved,
                                refused="The row was not saved")

        self.app.push_screen(RowEditorModal(f"Row {row['row_number']}", before, self.limits, splittable=True), save)

    def _added(self, added, copied_from: int | None = None) -> None:
        self.refresh_rows({added.id})
        self._go_to(added.id)
        if copied_from is not None:
            self.notify(f"Row {copied_from} copied to row {added.row_number}.")

    def action_add(self) -> None:
        def save(values: dict[str, str] | None) -> None:
            if values is not None:
                self.app.change(self.batch_id, lambda: self.services.add_row(self.batch_id, values), self._added)

        self.app.push_screen(RowEditorModal("New row", {}, self.limits), save)

    def action_copy_row(self) -> None:
        row = self.current_row()
        if row is not None:
            self.app.change(self.batch_id, lambda: self.services.copy_row(row["id"]),
                            lambda added: self._added(added, row["row_number"]))

    def _go_to(self, row_id: int) -> None:
        where = self.grid.get_row_index(row_id)
        if where is not None:
            self.grid.move_cursor(row=where)

    def action_delete(self) -> None:
        rows = self.targets()
        if not rows:
            return
        ids = [r["id"] for r in rows]
        numbers = ", ".join(str(r["row_number"]) for r in rows[:10]) + (" …" if len(rows) > 10 else "")

        def deleted(count: int) -> None:
            self.refresh_rows(set(ids))
            self.notify(f"Deleted {plural(count, 'row')}; ctrl+z brings them back.")

        def done(yes: bool | None) -> None:
            if yes:
                self.app.change(self.batch_id, lambda: self.services.delete_rows(self.batch_id, ids), deleted,
                                refused="These rows cannot be deleted")

        what = f"Sheet row {numbers} will be" if len(ids) == 1 else f"Sheet rows {numbers} will be"
        self.app.push_screen(ConfirmModal(f"Delete {plural(len(ids), 'row')}?", f"{what} removed from this batch.",
                                          yes="Delete"), done)

    @property
    def active_bindings(self) -> dict[str, Any]:
        """The footer shows / (search) and b (bulk edit) only where every key it holds fits on
        one line (from about 100 columns); at 80, space (mark) takes their place, since marking is
        how every change to many rows starts. Help (F1) and the palette list them all at any width."""
        bindings = super().active_bindings
        shown = {a.binding.action: a.binding for a in bindings.values() if a.binding.show}
        # a footer key takes its key, its description and 3 cells; the palette's key 14
        width = sum(cell_len(self.app.get_key_display(b)) + cell_len(b.description) + 3 for b in shown.values())
        if width + 14 <= self.size.width:
            return bindings
        return {k: a._replace(binding=replace(a.binding, show=False)) if a.binding.id in WIDE_ONLY else a
                for k, a in bindings.items()}

    def on_resize(self) -> None:
        self.refresh_bindings()

    def action_mark(self) -> None:
        """Space marks or unmarks the row; the cursor stays (shift+arrows mark as they move)."""
        row_id = self.grid.current_id
        if row_id is None:
            return
        self.marked.symmetric_difference_update({row_id})
        self.grid.forget({row_id})  # drawn again, with its mark
        self.update_counts()

    def action_mark_range(self, step: int) -> None:
        """shift+down / shift+up: mark this row and the next, as a selection grows."""
        before = self.grid.current_id
        if before is None:
            return
        self.grid.move_cursor(row=self.grid.cursor_row + step)
        now = {before, self.grid.current_id} - {None}
        self.marked.update(now)
        self.grid.forget(now)
        self.update_counts()

    def action_bulk_edit(self) -> None:
        rows = self.targets()
        editable = [r for r in rows if r["order_id"] is None and r["state"] in EDITABLE]
        left_out = [r["row_number"] for r in rows if r not in editable]
        if not editable:
            if rows:
                self.app.show_error("These rows cannot be edited", f"Sheet rows {numbers_text(left_out)}: each has "
                                    "an orderId. Its order may exist at BuyPower, so its details are history, "
                                    "not a draft.")
            return
        ids = {r["id"] for r in editable}

        def saved(changed) -> None:
            self.marked.difference_update(r.id for r in changed)  # done with: the next d or b starts afresh
            self.refresh_rows(ids)
            invalid = sum(1 for r in changed if r.errors)
            same = len(ids) - len(changed)
            self.notify(f"Changed {plural(len(changed), 'row')}" + (f" ({same} already so)" if same else "")
                        + (f"; {invalid} still invalid (f filters them)" if invalid else "")
                        + ("; ctrl+z takes it back." if changed else "."),
                        severity="warning" if invalid else "information", markup=False)

        def save(values: dict[str, str] | None) -> None:
            if values:
                changes = {i: values for i in ids}
                self.app.change(self.batch_id, lambda: self.services.edit_rows(self.batch_id, changes), saved,
                                refused="The rows were not changed")

        numbers = [r["row_number"] for r in editable]
        self.app.push_screen(BulkEditModal(numbers, left_out, self.limits), save)

    def action_accept_fix(self, everywhere: bool = False) -> None:
        """z: the fix the import proposed (a lost leading 0), for the marked rows or the row under
        the cursor; Z: for every row of the batch that has one. One undo step either way."""
        ids = None if everywhere else [r["id"] for r in self.targets()]
        fixes = self.services.proposed_fixes(self.batch_id, ids)
        if not fixes:
            self.notify("No proposed fix " + ("in this batch." if everywhere else "on the selected rows."),
                        severity="warning")
            return

        def fixed(changed) -> None:
            self.refresh_rows(set(fixes))
            self.notify(f"Accepted the proposed fix of {plural(len(changed), 'row')}; ctrl+z takes it back.",
                        markup=False)

        self.app.change(self.batch_id, lambda: self.services.accept_fixes(self.batch_id, list(fixes)), fixed,
                        refused="The fix was not accepted")

    def action_accept_duplicates(self) -> None:
        ids = [r["id"] for r in self.targets() if r["meter"] in self.duplicates
               and not r["duplicate_accepted"] and r["state"] in EDITABLE]
        if not ids:
            self.notify("No duplicate warning to accept on the selected rows.", severity="warning")
            return

        def accepted(done: list[int]) -> None:
            self.marked.difference_update(done)
            self.refresh_rows(set(ids))
            self.notify(f"Accepted the duplicate warning of {plural(len(done), 'row')}; ctrl+z takes it back.")

        self.app.change(self.batch_id, lambda: self.services.accept_duplicates(self.batch_id, ids), accepted)

    def action_undo(self) -> None:
        if not self.services.can_undo(self.batch_id):
            self.notify("Nothing to undo.", severity="warning")
            return

        def undone(result) -> None:
            if result is None:
                self.notify("Nothing to undo.", severity="warning")
                return
            self.refresh_rows(result.changed)
            what = {"edit": "the edit of", "add": "the addition of", "accept": "the acceptance of",
                    "delete": "the deletion of", "bulk": "the bulk edit of",
                    "split": "the split of"}[result.change.kind]
            self.notify(f"Undid {what} row {', '.join(map(str, result.row_numbers))}.")
            present = [i for i in result.changed if self.grid.get_row_index(i) is not None]
            if present:
                self._go_to(min(present, key=self.grid.get_row_index))

        # the row moved on (looked up, approved) since: said, and that step is gone
        self.app.change(self.batch_id, lambda: self.services.undo(self.batch_id), undone,
                        refused="That cannot be undone any more")

    def action_export_invalid(self) -> None:
        if not self.services.stats(self.batch_id).invalid:
            self.notify("No invalid rows to export.", severity="warning")
            return
        save_csv(self.app, "Export the invalid rows to CSV", Path(safe_name(f"{self.title}-invalid.csv")),
                 lambda path: self.services.export_invalid(self.batch_id, path), "invalid row")
