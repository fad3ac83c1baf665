"""What the faces read: batches, statistics, views of rows, a row's history. They never hold
the store themselves; reading is allowed on the UI thread (writes go through a worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from buypower_tui.core import editing, report_file, rows
from buypower_tui.core.approval import TWO_PERSON, Preparer, effective_rule, plan_approval_problem, preparer
from buypower_tui.core.meter_history import BadMeter, MeterHistory, meter_history, meters_for
from buypower_tui.core.models import Batch, Event, Recipient, RowState
from buypower_tui.core.plan import RunPlan, batch_problem
from buypower_tui.core.recovery import needs_recovery
from buypower_tui.core.report import BadReport, MonthReport, month_report
from buypower_tui.core.store import BatchStats
from buypower_tui.settings import ConfigError

S = RowState


class Reads:
    """A mixin of Services (which gives `store` and `mode`)."""

    def batches(self) -> list[Batch]:
        return self.store.batches()

    @property
    def shared_store(self) -> bool:
        """A store several machines share (PostgreSQL), whose batches others may pay at once."""
        return self.store.engine.dialect.name == "postgresql"

    def batches_held(self) -> dict[int, str]:
        """Batches other operators (processes) are paying or requerying now, and who."""
        return self.store.batches_held()

    def batch(self, batch_id: int) -> Batch | None:
        return self.store.batch(batch_id)

    def existing_batch(self, batch_id: int) -> Batch:
        batch = self.store.batch(batch_id)
        if batch is None:
            raise ConfigError(f"there is no batch {batch_id}; `buypower-tui batches` lists them")
        return batch

    def payable_batch(self, batch_id: int) -> Batch:
        """The batch, when it may be paid in this mode (ConfigError says why not)."""
        problem = batch_problem(self.store, batch_id, self.mode)
        if problem:
            raise ConfigError(problem)
        return self.store.batch(batch_id)

    @property
    def two_person(self) -> bool:
        """Whether approval is "two-person", by this workstation's setting or the store's own
        (core/approval.py)."""
        return effective_rule(self.store, self.settings.approval) == TWO_PERSON

    @property
    def operator(self) -> str:
        """Who this process acts as, in the history: role@host on PostgreSQL, else user@host."""
        return self.store.operator

    def preparer(self, batch_id: int) -> Preparer | None:
        """Who prepared the batch (imported or edited it: each of them), and the last change's time;
        None: no such batch."""
        return preparer(self.store, batch_id)

    def approval_problem(self, plan: RunPlan) -> str | None:
        """Why this operator may not confirm the plan (approval = "two-person" and they prepared the
        batch), in words for the operator; None when they may. The run checks it again when it
        approves (ApprovalRefused)."""
        return plan_approval_problem(self.store, plan, self.settings.approval)

    def row(self, row_id: int) -> Recipient:
        return rows.get(self.store, row_id)

    def stats(self, batch_id: int) -> BatchStats:
        return self.store.stats(batch_id)

    def stats_for(self, batch_ids) -> dict[int, BatchStats]:
        return self.store.stats_for(batch_ids)

    def rows(self, batch_id: int, *, only_invalid: bool = False) -> Iterator[Recipient]:
        return self.store.rows(batch_id, only_invalid=only_invalid)

    def grid_rows(self, batch_id: int, ids=None, **kwargs: Any) -> list[dict[str, Any]]:
        return editing.grid_rows(self.store, batch_id, ids, **kwargs)

    def view_ids(self, batch_id: int, view: str = "all", search: str = "", *, states=None) -> list[int]:
        """The ids a filter and a search show, in sheet order (see editing.view_ids)."""
        return editing.view_ids(self.store, batch_id, view, search, states=states)

    def last_change(self, batch_id: int):
        return editing.last_change(self.store, batch_id)

    def extra_columns(self, batch_id: int) -> list[str]:
        """The sheet's other columns kept with the batch's rows (each row's `extras`), in order."""
        return editing.extra_columns(self.store, batch_id)

    def view_counts(self, batch_id: int) -> dict[str, int]:
        """How many rows each filter shows."""
        by_state = self.store.stats(batch_id).by_state
        counts = {f"state:{s}": by_state.get(s, 0) for s in S}
        counts["all"] = sum(by_state.values())
        counts["invalid"] = by_state.get(S.INVALID, 0) + by_state.get(S.LOOKUP_FAILED, 0)
        for view in ("warnings", "duplicates", "name differs"):
            counts[view] = len(editing.view_ids(self.store, batch_id, view))
        return counts

    def duplicate_meters(self, batch_id: int) -> dict[str, int]:
        return self.store.duplicate_meters(batch_id)

    def history(self, row_id: int) -> list[Event]:
        return rows.history(self.store, row_id)

    def meter_history(self, text: str) -> MeterHistory:
        """Every row ever made for the meter `text` (as the import reads it; one digit short of a
        prepaid length, with its lost leading 0 too), in every batch, newest first. ConfigError
        when `text` is not a meter number."""
        try:
            meters = meters_for(text, self.limits)
        except BadMeter as exc:
            raise ConfigError(f"history: {exc}") from None
        return MeterHistory(text, meters, meter_history(self.store, meters))

    def month_report(self, month: str | None = None, by: str = "disco") -> MonthReport:
        """The month (YYYY-MM, local time; None: this month) per disco, batch or kept sheet
        column. ConfigError when the month cannot be read or no row has that column."""
        try:
            return month_report(self.store, month, by, self.mode)
        except BadReport as exc:
            raise ConfigError(f"report: {exc}") from None

    @staticmethod
    def write_report(report: MonthReport, path: Path) -> None:
        """As CSV or XLSX by the suffix, whole (a rename), 0600 like every file we write. A folder
        that is not there is not made (paths.NoFolder, an OSError: nothing is written)."""
        report_file.write_report(report, path)

    def rows_with_order(self, batch_id: int) -> int:
        return self.store.rows_with_order(batch_id)

    def operators_failed(self, batch_id: int) -> list[int]:
        """FAILED rows the operator marked: BuyPower has not said so yet, and they are requeried."""
        return rows.ids_in(self.store, batch_id, (), operators_failed=True)

    def needs_recovery(self) -> bool:
        return needs_recovery(self.store)
