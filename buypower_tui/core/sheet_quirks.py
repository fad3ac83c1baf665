"""What spreadsheet programs do to a sheet, and how the import reads past it: Excel's plain
"CSV" (Windows-1252, which has no ₦), meters stored as numbers, title lines above the
header, TOTAL rows under the data. Each is told to the operator once, in plain words.

A problem that belongs to how a cell was stored (not to its value) carries "stored": the
editor saves such a row even when the operator only confirms it, and the rules, which see
values only, then drop it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from buypower_tui.core.rules import Limits, check_meter, meter_length_ok, naira
from buypower_tui.core.sheets import FileError

HEADER_SEARCH_ROWS = 10  # the header is the first of this many non-empty rows to name meter, disco, amount

Problem = tuple[str, str] | tuple[str, str, dict]

# -- Excel's plain "CSV" -----------------------------------------------------------------------

_QMARK_AMOUNT = re.compile(r"\s*\?\s*(?=[0-9])")
# a "?" with a letter on one side: a letter cp1252 cannot hold (ẹ, ọ, ṣ), written as "?"
_LOST_LETTER = re.compile(r"[^\W\d_]\?|\?[^\W\d_]")


def naira_for_qmark(text: str) -> str | None:
    """The amount with ₦ where Excel wrote "?" before its digits (None: no such "?")."""
    match = _QMARK_AMOUNT.match(text)
    return None if match is None else "₦" + text[match.end():]


def qmark_amount_warning(text: str, read: str) -> Problem:
    return ("amount", f"amount '{text}' was read as {read}: the file was saved as \"CSV\", which writes ₦ as '?' "
                      "(and a minus sign or ≥ too); check the amount.", {"stored": True})


def lost_letters(text: str) -> bool:
    return "?" in text and _LOST_LETTER.search(text) is not None


def lost_letter_warning(field: str, text: str) -> Problem:
    return (field, f"{field} '{text}' has '?' where a letter was: the file was saved as \"CSV\", which cannot "
                   "hold that letter. Type the name again (the lookup shows BuyPower's name for the meter).",
            {"stored": True})


# -- meters stored as numbers ------------------------------------------------------------------

def one_digit_short(text: str, vend_type: str | None, limits: Limits) -> bool:
    """Whether a meter stored as a number has one digit too few (never when the vend type,
    which decides the lengths, cannot be read)."""
    digits = text.strip()
    if vend_type is None or not (digits.isascii() and digits.isdigit()):
        return False
    return not meter_length_ok(len(digits), vend_type, limits) and meter_length_ok(len(digits) + 1, vend_type, limits)


# Excel keeps 15 significant digits of a number: a longer meter typed as one is already changed.
_EXCEL_DIGITS = 15


def numeric_meter(text: str, vend_type: str | None, valid: bool, fixed: bool, limits: Limits
                  ) -> tuple[bool, Problem]:
    """(is an error, the problem) for a meter cell that held a number."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _EXCEL_DIGITS:
        what = ("is negative" if digits.startswith("-") else "has a fraction" if "." in digits
                else f"has more digits than Excel keeps in a number ({_EXCEL_DIGITS}), so the last ones were changed"
                if digits.isdigit() else "is not a whole number")
        return True, ("meter", f"meter {digits} was stored as a number in the sheet and {what}; format the meter "
                               "column as Text and type the number from the meter or the bill.", {"stored": True})
    if fixed:
        return False, ("meter", f"meter {digits} was stored as a number in the sheet and had lost its leading 0; "
                                "the 0 was added as asked (--fix-leading-zeros): check the lookup name.",
                       {"stored": True})
    if valid:
        return False, ("meter", f"meter {digits} was stored as a number in the sheet; check the lookup name.",
                       {"stored": True})
    if one_digit_short(digits, vend_type, limits):
        fix = "0" + digits
        return True, ("meter", f"meter {digits} was stored as a number in the sheet and has {len(digits)} digits, "
                               f"one short: its leading 0 was lost. The fix is {fix}: accept it in the editor "
                               "(this row or all such rows), or import with --fix-leading-zeros.",
                      {"stored": True, "fix": {"meter": fix}})
    message = check_meter(digits, vend_type, limits)[1] or ""
    return True, ("meter", f"{message} It was stored as a number in the sheet: format the meter column as Text "
                           "and type it again.", {"stored": True})


# -- rows above the header --------------------------------------------------------------------

_MADE_OF_DIGITS = re.compile(r"[0-9][0-9 -]{4,}[0-9]")


def looks_like_a_recipient(cells: list[str]) -> bool:
    """Whether a row holds a cell like a meter number (and something else)."""
    filled = [c.strip() for c in cells if c and not c.isspace()]
    return len(filled) > 1 and any(_MADE_OF_DIGITS.fullmatch(c) for c in filled)


def recipients_above_header(path: Path, number: int, header: int) -> FileError:
    """A row above the header that looks like a recipient is one, not a title: a sort without
    "My data has headers" moves the header down among the rows. Skipped, it would be lost."""
    return FileError(f"{path}: row {number} is above the header row (row {header}) but looks like a recipient (a "
                     "cell holds a number like a meter's), and rows above the header are not read. Put the header "
                     "row first (sort with \"My data has headers\" ticked) and import the file again; nothing was "
                     "imported.")


# -- TOTAL rows --------------------------------------------------------------------------------

_TOTAL_LABELS = frozenset({"TOTAL", "TOTALS", "SUM", "GRAND TOTAL", "SUBTOTAL", "SUB TOTAL", "SUB-TOTAL"})


def total_label(cells: list[str]) -> str | None:
    """The label when the row's first non-empty cell says TOTAL, SUM, GRAND TOTAL or SUBTOTAL."""
    first = next((c for c in cells if c and not c.isspace()), "")
    if not first or first.lstrip()[:1] not in "TtSsGg":
        return None
    label = " ".join(first.split()).rstrip(":").strip()
    return label if label.upper() in _TOTAL_LABELS else None


def is_subtotal(label: str) -> bool:
    return label.upper().startswith("SUB")


@dataclass(frozen=True)
class TotalRow:
    """A row that adds the rows above it up: skipped, and compared with their sum."""

    row: int
    label: str
    stated: Decimal | None  # what the sheet says (None: no amount it can read)
    computed: Decimal  # the amounts of the rows it covers, added up
    rows: int  # how many rows it covers

    @property
    def difference(self) -> Decimal | None:
        return None if self.stated is None else self.stated - self.computed

    def describe(self) -> str:
        covered = (f"the row above it adds up to {naira(self.computed)}" if self.rows == 1
                   else f"the {self.rows} rows above it add up to {naira(self.computed)}")
        if self.stated is None:
            return f"row {self.row} ('{self.label}') was skipped: it has no amount to compare; {covered}."
        if self.difference == 0:
            return f"row {self.row} ('{self.label}', {naira(self.stated)}) was skipped: it matches the rows above it."
        return (f"row {self.row} ('{self.label}') was skipped: it says {naira(self.stated)}, but {covered}; "
                f"a difference of {naira(abs(self.difference))} ({'more' if self.difference > 0 else 'less'} "
                "in the total): check for a row missing or changed.")


# -- what the summary says once --------------------------------------------------------------

def file_notices(*, encoding: str | None, naira_fixed: int, names_lost: int, title_rows: list[int],
                 totals: list[TotalRow], numeric_meters: int, zero_proposals: int, zeros_fixed: int) -> list[str]:
    notes = []
    if encoding == "cp1252" or naira_fixed or names_lost:
        lost = (f"{naira_fixed} amount{'s' if naira_fixed != 1 else ''} had \"?\" for ₦ and "
                f"{'were' if naira_fixed != 1 else 'was'} read as naira (a warning on each: a minus sign is "
                "written \"?\" too); "
                f"{names_lost} name{'s' if names_lost != 1 else ''} lost letters (a \"?\" inside a word; "
                "those rows have a warning)")
        notes.append('The file was saved as "CSV" rather than "CSV UTF-8" (Windows-1252, which has no ₦ and '
                     f'no letters such as ẹ, ọ or ṣ): {lost}. Save it as "CSV UTF-8" next time.')
    if title_rows:
        rows = ", ".join(map(str, title_rows))
        notes.append(f"Skipped {'a title line' if len(title_rows) == 1 else 'title lines'} above the header "
                     f"(row{'s' if len(title_rows) > 1 else ''} {rows}).")
    notes += ["Total: " + t.describe() for t in totals]
    if numeric_meters:
        notes.append(f"{_meters(numeric_meters)} in the sheet and accepted with a warning: "
                     "check the lookup names.")
    if zero_proposals:
        notes.append(f"{_meters(zero_proposals)} one digit short: a leading 0 was lost. Each "
                     "row proposes the fix (0 + its digits): accept it in the editor (z for a row, Z for all), "
                     "or import with --fix-leading-zeros.")
    if zeros_fixed:
        notes.append(f"{_meters(zeros_fixed)} one digit short and had the leading 0 added "
                     "(--fix-leading-zeros); each such row has a warning.")
    return notes


def _meters(n: int) -> str:
    return f"{n} meter was stored as a number" if n == 1 else f"{n} meters were stored as numbers"
