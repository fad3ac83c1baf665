"""The header row of a sheet: which row it is, and which of its cells is the meter, the
disco, the amount and the rest (names matched loosely: case, spaces and punctuation ignored)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from buypower_tui.core.rules import REQUIRED
from buypower_tui.core.sheets import FileError, Source
from buypower_tui.logs import mask_keys

_HEADER_NOISE = re.compile(r"[^0-9a-z]+")
_HEADER_ALIASES: dict[str, str] = {
    alias: name
    for name, aliases in {
        "meter": ("meter", "meternumber", "meterno", "meternum", "meterid", "accountnumber",
                  "accountno", "account", "meteraccountnumber", "meteroraccount"),
        "disco": ("disco", "discocode", "distributioncompany", "disconame", "distributor",
                  "provider", "discoprovider"),
        "amount": ("amount", "amountngn", "amountnaira", "naira", "ngn", "value", "amountn"),
        "phone": ("phone", "phonenumber", "phoneno", "msisdn", "mobile", "mobilenumber",
                  "telephone", "tel", "gsm", "customerphone"),
        "vend_type": ("vendtype", "metertype", "type", "prepaidpostpaid", "category"),
        "name": ("name", "customername", "fullname", "customer", "recipient", "recipientname"),
        "email": ("email", "emailaddress", "mail", "customeremail"),
    }.items()
    for alias in aliases
}
# The sheet-row column of the invalid-rows export: read only when merging into a batch.
_ROW_ALIASES = frozenset({"row", "sheetrow", "rownumber", "rowno"})
# ... and what the export says of each row: the batch it came from, and its version then.
_MARK_ALIASES = {"batch": "batch", "batchid": "batch", "batchno": "batch", "version": "version"}
# Columns of the invalid-rows export that are the import's own, never a sheet's extra column
# when merging: the sheet row, its problems, its batch and version.
OWN_COLUMNS = frozenset({*_ROW_ALIASES, *_MARK_ALIASES, "problems"})
# The sheet's other columns are kept with every row under their header, so a sheet must not
# make that cost more than its cells: at most this many columns, their names cut this short
# (a tiny workbook of 16,384 columns with 32,767-character headers would otherwise store 512 MB
# of names per row). Real sheets have a few such columns with short names.
MAX_KEPT_COLUMNS = 50
MAX_KEPT_NAME = 64


def normalise_header(text: str) -> str:
    return _HEADER_NOISE.sub("", text.lower())


def match_header(text: str) -> str | None:
    key = normalise_header(text)
    if key in _HEADER_ALIASES:
        return _HEADER_ALIASES[key]
    return _HEADER_ALIASES.get(key.replace("naira", "").replace("ngn", "")) if key else None


@dataclass
class Header:
    columns: dict[str, int]  # field -> cell index
    names: dict[str, str]    # field -> header as written
    width: int
    unknown: list[str]
    strict_width: bool
    cells: list[str]  # the header row as written
    row_column: int | None = None  # the sheet-row column (merging only)
    marks: dict[str, int] = field(default_factory=dict)  # merging: "batch", "version" -> cell index
    # The sheet's other columns, kept: (cell index, header as written), in the sheet's order.
    extras: tuple[tuple[int, str], ...] = ()
    ignored: list[str] = field(default_factory=list)  # other columns past MAX_KEPT_COLUMNS: not kept

    def __post_init__(self) -> None:
        # Picks the mapped cells of a full-width row in one C call (always >= 3 of them,
        # so itemgetter returns a tuple).
        self.fields = tuple(self.columns)
        self.pick = itemgetter(*self.columns.values())
        self.field_at = {i: f for f, i in self.columns.items()}


def names_columns(cells: list[str]) -> bool:
    """Whether a row names the meter, disco and amount columns (is the header)."""
    found = {match_header(c.strip().lstrip("\ufeff")) for c in cells if c and not c.isspace()}
    return all(n in found for n in REQUIRED)


def read_header(path: Path, cells: list[str], number: int, source: Source, numbered: bool = False) -> Header:
    columns: dict[str, int] = {}
    names: dict[str, str] = {}
    unknown: list[str] = []
    row_column, marks = None, {}
    extras: list[tuple[int, str]] = []
    for i, cell in enumerate(cells):
        text = cell.strip().lstrip("\ufeff")
        if not text:
            continue
        name = match_header(text)
        if numbered and row_column is None and normalise_header(text) in _ROW_ALIASES:
            row_column = i
        elif numbered and _MARK_ALIASES.get(normalise_header(text)) not in (None, *marks):
            marks[_MARK_ALIASES[normalise_header(text)]] = i
        elif name is None:
            unknown.append(text)
            if not (numbered and normalise_header(text) in OWN_COLUMNS):
                extras.append((i, text))
        elif name in columns:
            raise FileError(f"{path}: row {number} has two columns for {name} "
                            f"('{names[name]}' and '{text}'); keep one of them.")
        else:
            columns[name], names[name] = i, text
    missing = [n for n in REQUIRED if n not in columns]
    if missing:
        found = ", ".join(f"'{c.strip()}'" for c in cells if c.strip()) or "none"
        where = f" of sheet '{source.sheet}'" if source.sheet else ""
        others = [n for n in source.sheets if n != source.sheet]
        choose = (f" The workbook also has {', '.join(repr(n) for n in others)}: choose the sheet with --sheet."
                  if others else "")
        raise FileError(
            f"{path}: the header row{where} (row {number}) has no column for {', '.join(missing)}. "
            f"Columns found: {found}. Name the columns meter, disco and amount "
            f"(names like 'Meter Number', 'Amount (NGN)' or 'Disco Code' also work).{choose}"
        )
    if numbered and row_column is None:
        raise FileError(f"{path}: the header row (row {number}) has no 'row' column. Merging into a batch matches "
                        "each row by the sheet row number in the 'row' column of the invalid-rows export: keep "
                        "that column, or import the file as a new batch.")
    source.imported = frozenset(columns.values())
    source.reach = max(columns[n] for n in REQUIRED)
    source.header = cells
    return Header(columns, names, len(cells), unknown, source.strict_width, cells, row_column, marks,
                  _unique_names(extras[:MAX_KEPT_COLUMNS]), [text for _, text in extras[MAX_KEPT_COLUMNS:]])


def _unique_names(extras: list[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """Each extra column's header as written (an API key in it masked, cut at MAX_KEPT_NAME
    characters with "…"); a header written twice keeps both columns, the later ones named
    "Notes (2)", "Notes (3)"."""
    seen: set[str] = set()
    out = []
    for i, written in extras:
        written = mask_keys(written)  # stored with every row: never a key
        text = written if len(written) <= MAX_KEPT_NAME else written[:MAX_KEPT_NAME - 1] + "…"
        name, n = text, 1
        while name in seen:
            n += 1
            name = f"{text} ({n})"
        seen.add(name)
        out.append((i, name))
    return tuple(out)


