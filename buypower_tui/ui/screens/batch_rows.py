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
        self.rows: dict[int, dict[str, Any]] = {}
        self.watermark: Any = None  # the newest `updated_at` shown: a run's changes are read after it

    @property
    def table(self) -> RowTable:
        return self.query_one(RowTable)

    def action_history(self) -> None:
        row_id = self.table.current_id
        if row_id is not None:
            self.app.push_screen(HistoryModal(f"Row {self.rows[row_id]['row_number']}: history",
                                              self.app.services.history(row_id)))

    def action_back(self) -> None:
        self.dismiss()
