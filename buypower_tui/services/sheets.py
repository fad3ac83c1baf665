"""Sheets going out and coming back beyond a plain import: the template to fill in, a
corrected invalid-rows export merged into its batch, and a batch made again from an old one
(this month's from last month's). No textual here."""

from __future__ import annotations

from pathlib import Path

from buypower_tui.core import editing, template
from buypower_tui.core.headers import OWN_COLUMNS, normalise_header
from buypower_tui.core.merging import Merged, plan_merge
from buypower_tui.core.repeat import (
    RecentlyPaid,
    Repeated,
    default_name,
    parse_amount_change,
    recently_paid,
    repeat_batch,
)
from buypower_tui.core.sheets import FileError
from buypower_tui.core.values import RowState
from buypower_tui.settings import ConfigError

_NOT_PAYABLE = (RowState.INVALID, RowState.LOOKUP_FAILED)


class Sheets:
    """A mixin of Services (which gives `store`, `limits`, `policy`, `mode`, `check_sheet`,
    `grid_rows`, `edit_rows`, `stats` and `existing_batch`)."""

    def repeat_batch(self, batch_id: int, *, name: str | None = None, amount: str | None = None) -> Repeated:
        """A new batch, in this mode, with batch `batch_id`'s recipients: what its sheet said and
        its other columns, checked again by today's rules; no orderId, token, lookup, state or
        duplicate acceptance carried (core/repeat.py). `name`: the new batch's (default: the
        source's, "(from batch N)"); `amount`: "5000" for every row, or "+10%" / "-5%" of each
        row's amount, rounded half-up to the naira. ConfigError: no such batch, one cut short
        or empty, a blank name, or an amount change that cannot be used (nothing is made).
        The result's `recent` names the meters paid within the duplicate window (a warning)."""
        source = self.existing_batch(batch_id)
        if source.imported_at is None:
            raise ConfigError(f"batch {batch_id} was cut short while it was imported (IMPORT INCOMPLETE), so it does "
                              "not hold the whole sheet; import the file again and repeat that batch.")
        if not self.stats(batch_id).rows:
            raise ConfigError(f"batch {batch_id} has no rows; there is nothing to repeat.")
        if name is not None and not name.strip():
            raise ConfigError("a batch needs a name; give one with --name, or leave --name out.")
        problem = self.amount_change_problem(amount)
        if problem:
            raise ConfigError(problem)
        change = parse_amount_change(amount, self.limits) if amount and amount.strip() else None
        recent = self.recently_paid(batch_id)
        done = repeat_batch(self.store, batch_id, self.limits, mode=self.mode, name=name, change=change)
        done.recent = recent
        return done

    def recently_paid(self, batch_id: int) -> RecentlyPaid | None:
        """The meters a repeat of batch `batch_id` carries that were paid within the duplicate
        window (`duplicate_window_days`), in any batch: the run's guard asks about them only
        when the amount is the same too, so a repeat says so before it is made (None: none)."""
        return recently_paid(self.store, batch_id, self.policy.duplicate_window_days)

    def repeat_name(self, batch_id: int) -> str:
        """The name a repeat of the batch gets unless one is given: "March (from batch 3)"."""
        return default_name(self.existing_batch(batch_id).name, batch_id)

    def amount_change_problem(self, amount: str | None) -> str | None:
        """Why a repeat's amount change cannot be used (None: it can, or there is none)."""
        if not amount or not amount.strip():
            return None
        try:
            parse_amount_change(amount, self.limits)
        except ValueError as exc:
            return str(exc)
        return None

    def write_template(self, path: Path, *, force: bool = False) -> Path:
        """FileError says why not (a wrong suffix, a file already there without `force`)."""
        return template.write_template(path, force=force)

    def merge_sheet(self, batch_id: int, path: Path, *, sheet: str | None = None,
                    fix_leading_zeros: bool = False) -> Merged:
        """Update batch `batch_id`'s rows in place from a corrected sheet whose "row" column
        names each row's sheet row: read by the import's own pipeline (every quirk of a
        sheet is handled as on import), checked by its rules, written as one transaction and
        one undo step. Rows with an orderId, or past EDITABLE, are refused; rows the batch
        does not have are reported. FileError: the file cannot be read or has no usable
        "row" column; StateConflict: a row moved on while merging (nothing was written)."""
        batch = self.existing_batch(batch_id)
        with self.check_sheet(path, sheet, numbered=True, fix_leading_zeros=fix_leading_zeros) as checked:
            report = checked.report
            sheet_rows = editing.grid_rows(checked.store, report.batch_id)
        others = sorted({m["batch"] for m in report.marks.values() if m.get("batch")} - {str(batch.id)})
        if others:  # the same sheet row numbers in another batch are other recipients
            raise FileError(f"{path}: its rows came from batch {', '.join(others)} (its 'batch' column), not batch "
                            f"{batch.id}; merge it into batch {others[0]}. To merge it here anyway, delete the "
                            "'batch' column. Nothing was merged.")
        merged = Merged(batch.id, report.source, notices=list(report.notices), ignored_columns=[
            c for c in report.unknown_columns if normalise_header(c) not in OWN_COLUMNS])
        rows = {r["row_number"]: r for r in self.grid_rows(batch.id)}
        if not any("version" in m for m in report.marks.values()):
            raise FileError(f"{path}: has no 'version' column, so it cannot be told which rows are as they were "
                            "exported. Merge takes back the file the invalid-rows export wrote (x in the editor, "
                            "or export BATCH --invalid): export again, fix that file, and merge it. Nothing was "
                            "merged.")
        plan_merge(merged, sheet_rows, rows.values(), report.columns, self.limits,
                   {n: m.get("version", "") for n, m in report.marks.items()})
        if merged.edits:
            # compare-and-set on the rows as compared: one changed meanwhile refuses the whole merge
            seen = {r["id"]: r["updated_at"] for r in rows.values() if r["id"] in merged.edits}
            self.edit_rows(batch.id, merged.edits, note=f"merged from {path.name}", seen=seen)
            for row in self.grid_rows(batch.id, merged.edits):
                rows[row["row_number"]] = row
                errors = row["errors"] or ()
                merged.after[row["row_number"]] = (row["state"], errors[0]["message"] if errors else "")
        merged.still_invalid = [r["row_number"] for r in sheet_rows if r["row_number"] not in merged.refused
                                and r["row_number"] in rows and rows[r["row_number"]]["state"] in _NOT_PAYABLE]
        return merged
