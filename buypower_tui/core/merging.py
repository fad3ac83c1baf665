"""Merging a corrected sheet back into the batch it came from (`import FILE --into N`).

The invalid-rows export (`x` in the editor) writes each row with its sheet row number in a
"row" column; the operator fixes the cells in a spreadsheet and merges the file back. Rows
are matched by that number, never by position or meter, and only the columns the file has
are compared, so a column deleted in the spreadsheet does not blank a field.

This module only decides, from plain rows (`editing.grid_rows` dicts): what would change,
what is unchanged, what is refused and why. The application layer reads the file with the
import's own pipeline and writes the changes as one step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from buypower_tui.core.export import safe_cell
from buypower_tui.core.row_view import EDITABLE, raw_values, row_version
from buypower_tui.core.rules import FIELDS, Limits, check_row, escape_hidden


@dataclass(frozen=True)
class FieldChange:
    row: int  # sheet row number
    field: str
    old: str
    new: str


@dataclass
class Merged:
    """What a merge found (and, once written, did), by sheet row number."""

    batch_id: int
    source: str
    rows: int = 0  # data rows in the file
    changes: list[FieldChange] = field(default_factory=list)
    edits: dict[int, dict[str, str]] = field(default_factory=dict)  # row id -> every raw value, as to be written
    unchanged: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # sheet row -> why it was left as it was
    missing: list[int] = field(default_factory=list)  # sheet rows of the file that the batch does not have
    ignored_columns: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # what the import says of the file as a whole
    after: dict[int, tuple[str, str]] = field(default_factory=dict)  # sheet row -> (state, first error) once written
    still_invalid: list[int] = field(default_factory=list)  # the file's rows that are not payable after the merge

    @property
    def problems(self) -> bool:
        return bool(self.refused or self.missing or self.still_invalid)

    def lines(self) -> list[str]:
        """The report, for the CLI and the TUI alike: per row what changed (field, old -> new)
        and how it stands now, then what was left as it was, and why. Cells are quoted with
        their hidden characters shown, so an invisible change is seen."""
        def q(text: str) -> str:
            return escape_hidden(repr(text))

        out = [f"{self.source} into batch {self.batch_id}: {self.rows} rows in the file, {len(self.edits)} changed, "
               f"{len(self.unchanged)} unchanged, {len(self.refused)} refused, {len(self.missing)} not in the batch"]
        out += self.notices
        if self.ignored_columns:
            out.append(f"ignored columns: {', '.join(self.ignored_columns)}")
        by_row: dict[int, list[FieldChange]] = {}
        for c in self.changes:
            by_row.setdefault(c.row, []).append(c)
        for number in sorted(self.after):
            state, error = self.after[number]
            changes = "; ".join(f"{c.field} {q(c.old)} -> {q(c.new)}" for c in by_row.get(number, ()))
            out.append(f"row {number}: {changes}; now {state}" + (f": {error}" if error else ""))
        out += [f"row {n}: refused, left as it was: {why}" for n, why in sorted(self.refused.items())]
        if self.missing:
            out.append(f"not in batch {self.batch_id} (the 'row' column names no row of it): rows "
                       f"{', '.join(map(str, sorted(self.missing)))}")
        if self.unchanged:
            out.append(f"unchanged: rows {', '.join(map(str, sorted(self.unchanged)))}")
        if self.still_invalid:
            out.append(f"still to fix: rows {', '.join(map(str, self.still_invalid))}")
        return out


def _file_problems(row: dict[str, Any], limits: Limits) -> list[str]:
    """The import's errors on a row of the file that the rules alone do not give: the row
    itself is unreliable (cells shifted by a separator, a meter typed as a number, a cell cut
    short), so its values must not be merged."""
    own = {(f, m) for f, m in check_row(raw_values(row), limits).errors}
    return [e["message"] for e in row["errors"] or () if (e["field"], e["message"]) not in own]


def _same(field: str, old: str, new: str) -> bool:
    """Whether the file says what the batch says, as a spreadsheet program may have changed it
    without the operator: a formula-like cell our export neutralised with a leading ', the
    leading zeros Excel drops from a number-like meter or phone, the letters (and ₦) its plain
    "CSV" writes as "?". Never a change to merge."""
    if new == old or new == safe_cell(old):
        return True
    if field in ("meter", "phone") and old.startswith("0") and new and new == old.lstrip("0"):
        return True
    return "?" in new and new == old.encode("cp1252", "replace").decode("cp1252")


def plan_merge(merged: Merged, sheet_rows: Iterable[dict[str, Any]], batch_rows: Iterable[dict[str, Any]],
               columns: Iterable[str], limits: Limits, versions: dict[int, str]) -> Merged:
    """Fill `merged` with what the file's rows would change in the batch's rows. `columns`:
    the fields the file has a column for; `versions`: each sheet row's version as exported
    (row_version): a row changed since, or another row that took its number, is refused."""
    fields = [f for f in FIELDS if f in set(columns)]
    by_number = {r["row_number"]: r for r in batch_rows}
    for new in sheet_rows:
        number = new["row_number"]
        merged.rows += 1
        old = by_number.get(number)
        if old is None:
            merged.missing.append(number)
            continue
        before, after = raw_values(old), raw_values(new)
        changed = [FieldChange(number, f, before[f], after[f]) for f in fields if not _same(f, before[f], after[f])]
        if not changed:
            merged.unchanged.append(number)
        elif old["order_id"] is not None:
            merged.refused[number] = (f"has an orderId ({old['order_id']}): it may have moved money, so it is "
                                      "history and is not changed")
        elif old["state"] not in EDITABLE:
            merged.refused[number] = (f"is {old['state']}: only rows not yet approved for payment are changed")
        elif not versions.get(number):
            merged.refused[number] = ("has no version in the file: only rows the invalid-rows export wrote are "
                                      "merged (a row added to the file is not); add it in the editor instead")
        elif versions[number] != row_version(old):
            merged.refused[number] = ("changed since the file was exported (edited, looked up, or deleted and its "
                                      "number taken by another row): export the invalid rows again and fix that file")
        elif problems := _file_problems(new, limits):
            merged.refused[number] = "the file's row cannot be used: " + " ".join(problems)
        else:
            merged.changes += changed
            merged.edits[old["id"]] = before | {c.field: c.new for c in changed}
    return merged
