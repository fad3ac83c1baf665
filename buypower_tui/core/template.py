"""A blank recipients sheet to fill in (`buypower-tui template`, or ctrl+t in the new-batch dialog).

Most bad imports start in the spreadsheet: a meter typed into a number cell loses its
leading zero, a disco is spelled three ways. The template heads its columns with the names
the import matches, keeps meter and phone as text (XLSX), offers the disco codes as a
drop-down, and holds one example row that imports as valid, to show the shape.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from pathlib import Path

from buypower_tui.core.rules import DISCOS, FIELDS
from buypower_tui.core.sheets import FileError
from buypower_tui.paths import existing_file

SUFFIXES = (".xlsx", ".csv")
# Named so the operator sees it in the editor and the confirmation if the row is left in.
EXAMPLE = {"meter": "12345678910", "disco": "IKEJA", "amount": "5000", "phone": "08031234567",
           "vend_type": "PREPAID", "name": "EXAMPLE - replace or delete this row", "email": "customer@example.com"}
TEXT_COLUMNS = ("meter", "phone")
WIDTHS = {"meter": 16, "disco": 12, "amount": 10, "phone": 15, "vend_type": 11, "name": 36, "email": 26}
LIST_LIMIT = 255  # Excel refuses an inline validation list longer than this
LISTS_SHEET = "lists"  # hidden; holds the disco codes when the inline list would be too long
VALIDATED_ROWS = 100_000  # the disco drop-down covers this many data rows


def template_problem(path: Path, force: bool = False) -> str | None:
    """Why the template cannot be written at `path` (None: it can)."""
    if path.suffix.lower() not in SUFFIXES:
        return (f"{path}: a template is written as .xlsx (recommended: meters stay text) or .csv; "
                f"name the file e.g. {path.stem or 'recipients'}.xlsx.")
    if not path.parent.is_dir():
        return f"{path}: there is no folder {path.parent}."
    try:
        there = existing_file(path)
    except OSError as exc:  # a folder, a link, a device: never written through
        return f"{path}: {exc.strerror or exc}."
    if there is not None and not force:
        return f"{path} exists; choose another name, or add --force to replace it."
    return None


def write_template(path: Path, *, force: bool = False) -> Path:
    """Write the template (XLSX or CSV, by the suffix); FileError says why not. An existing
    file is replaced only with `force`, and then whole (a rename), never through a link."""
    problem = template_problem(path, force)
    if problem:
        raise FileError(problem)
    data = _xlsx() if path.suffix.lower() == ".xlsx" else _csv()
    if not force:
        try:
            with path.open("xb") as fh:  # "x": a file made meanwhile is not overwritten either
                fh.write(data)
        except FileExistsError:
            raise FileError(f"{path} exists; choose another name, or add --force to replace it.") from None
        return path
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # a template holds no one's data: readable like any new file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _csv() -> bytes:
    """UTF-8 with a BOM: without it Excel reads the file in the machine's code page."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(FIELDS)
    writer.writerow([EXAMPLE[f] for f in FIELDS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _xlsx() -> bytes:
    from openpyxl import Workbook  # slow to import: only when a template is written
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = "recipients"
    ws.append(list(FIELDS))
    ws.append([EXAMPLE[f] for f in FIELDS])
    ws.freeze_panes = "A2"
    for i, name in enumerate(FIELDS, 1):
        letter = get_column_letter(i)
        ws.cell(1, i).font = Font(bold=True)
        ws.column_dimensions[letter].width = WIDTHS[name]
        if name in TEXT_COLUMNS:
            # A column style, as Excel writes "format column as Text": every cell typed
            # later in the column is text. Styling empty cells one by one instead would make
            # each of them a row that the import counts as blank.
            ws.column_dimensions[letter].number_format = "@"
            ws.cell(2, i).number_format = "@"
    disco = get_column_letter(FIELDS.index("disco") + 1)
    inline = ",".join(DISCOS)
    if len(inline) + 2 <= LIST_LIMIT:
        source = f'"{inline}"'
    else:
        lists = wb.create_sheet(LISTS_SHEET)
        for n, code in enumerate(DISCOS, 1):
            lists.cell(n, 1, code)
        lists.sheet_state = "hidden"
        source = f"{LISTS_SHEET}!$A$1:$A${len(DISCOS)}"
    # A warning, not a stop: names such as 'Ikeja Electric' or 'IKEDC' import too.
    rule = DataValidation(type="list", formula1=source, allow_blank=True, errorStyle="warning",
                          showErrorMessage=True, showInputMessage=True, promptTitle="Disco",
                          prompt="Pick the distributor's code from the list.", errorTitle="Not a disco code",
                          error="Not one of the codes in the list. Names like 'Ikeja Electric' also import; "
                                "keep it?")
    rule.add(f"{disco}2:{disco}{VALIDATED_ROWS + 1}")
    ws.add_data_validation(rule)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
