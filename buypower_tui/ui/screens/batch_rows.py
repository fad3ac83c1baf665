"""What the failed/pending view and the results share: a batch's rows in a RowTable, with
each row's history one key away."""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

from buypower_tui.ui.modals.history import HistoryModal
from buypower_tui.ui.widgets.row_table import RowTable


class BatchRowsScreen(Screen):
    def __init__(self, batch_id: int) -> None:
        super().__init__()
        self.batch_id = batch_id
        self.watermark: Any = None  # the newest `updated_at` shown: a run's changes are read after it

    @property
    def table(self) -> RowTable:
        return self.query_one(RowTable)

    def rows_table(self, columns: tuple[str, ...], **kwargs: Any) -> RowTable:
        return RowTable(columns, lambda ids: self.app.services.grid_rows(self.batch_id, ids), **kwargs)

    def row(self, row_id: int | None) -> dict[str, Any] | None:
        return None if row_id is None else self.table.row(row_id)

    def show_all(self, states: tuple[str, ...] | None = None) -> None:
        """The batch's rows (those in `states`) as the store has them now."""
        self.watermark = self.app.services.last_change(self.batch_id)  # first: a change meanwhile is seen next time
        self.table.show(self.app.services.view_ids(self.batch_id, states=states), keep=self.table.current_id)
        self.table.forget()

    def show_changes(self, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Rows changed since the last look (those in `states`) shown as they are now; the view
        is asked again when one of them is new to it. Returns them."""
        changed = self.app.services.grid_rows(self.batch_id, states=states, changed_after=self.watermark)
        if changed:
            self.watermark = max(r["updated_at"] for r in changed)
            table = self.table
            if any(table.get_row_index(r["id"]) is None for r in changed):
                table.show(self.app.services.view_ids(self.batch_id, states=states), keep=table.current_id)
            else:
                table.forget(r["id"] for r in changed)
        return changed

    def action_history(self) -> None:
        row = self.row(self.table.current_id)
        if row is not None:
            row_id = row["id"]
            self.app.push_screen(HistoryModal(f"Row {row['row_number']}: history",
                                              self.app.services.history(row_id)))

    def action_back(self) -> None:
        self.dismiss()
