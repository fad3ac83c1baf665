"""An export to hand on (issue 14 §6), and the file any batch export goes to.

The landlord's layout is what a landlord or the tenants need, nothing of ours: every row of
the sheet in sheet order with the sheet's name and phone, every other column the import kept
(Flat, Block...), the meter, the amount, every token in the order it is typed (KCT1, KCT2, the
credit token, bonus), the units, the receipt, when it was paid (local time with its UTC
offset) and a plain status, so a row that was not paid is there and says so rather than
missing. Tokens, units, receipt and paid time are shown for a paid (SUCCESS) row only: a row
parked for review may hold a token BuyPower sent that looks wrong, and a landlord must never
hand that on. A sandbox batch's paid rows say they are a test: its tokens load no meter. The
full layout is `export.COLUMNS`.

A file is CSV or XLSX by its suffix, and nothing else: a `.txt` is refused before anything
is written, naming the fix. The landlord's CSV carries a UTF-8 BOM (Excel then reads ₦ and
names as written); the full CSV stays as scripts have read it (no BOM).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import select as core_select

from buypower_tui.core.editing import extra_columns
from buypower_tui.core.export import CENT, Table, full_table, write_csv, write_xlsx
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.sheets import FileError
from buypower_tui.core.store import Store
from buypower_tui.core.times import local_iso
from buypower_tui.core.tokens import export_columns
from buypower_tui.paths import existing_file, replace_file

S = RowState
_T = Recipient.__table__
Layout = Literal["full", "landlord"]
LAYOUTS: tuple[Layout, ...] = ("full", "landlord")
SUFFIXES = (".csv", ".xlsx")

# A landlord reads words, not our states: a row not paid says so, and why in a word.
STATUS = {S.SUCCESS: "paid", S.FAILED: "not paid (failed)", S.CLOSED: "not paid (closed)",
          S.PENDING: "not settled yet", S.SENDING: "not settled yet", S.NEEDS_REVIEW: "not settled yet"}
NOT_PAID_YET = "not paid yet"
SANDBOX_PAID = "paid (sandbox test: not a real token)"
HEAD = ["Sheet row", "Name", "Phone"]
TAIL = ["Meter", "Amount (NGN)", "KCT1", "KCT2", "Token", "Bonus token"]
END = ["Units (kWh)", "Receipt", "Paid at", "Status"]
WIDTHS = {"Sheet row": 9, "Name": 28, "Phone": 14, "Meter": 15, "Amount (NGN)": 13, "KCT1": 26, "KCT2": 26,
          "Token": 26, "Bonus token": 26, "Other tokens": 34, "Units (kWh)": 11, "Receipt": 20, "Paid at": 26,
          "Status": 18}


def _other_tokens(store: Store, batch_id: int) -> bool:
    """Has any row a token of a type we do not know? (Never seen; then a column holds them.)"""
    with store.engine.connect() as conn:
        q = core_select(_T.c.token, _T.c.parcels).where(_T.c.batch_id == batch_id, _T.c.parcels.is_not(None),
                                                        _T.c.state == S.SUCCESS)
        return any(export_columns(token, parcels)["other_tokens"] for token, parcels in conn.execute(q))


def _extra_header(name: str, ours: set[str]) -> str:
    """A sheet column named like one of ours ("Status": occupied or not) is told apart."""
    return f"{name} (sheet)" if name.casefold() in ours else name


def landlord_table(store: Store, batch_id: int) -> Table:
    extras = extra_columns(store, batch_id)
    other = _other_tokens(store, batch_id)
    ours = {h.casefold() for h in (*HEAD, *TAIL, "Other tokens", *END)}
    header = [*HEAD, *(_extra_header(e, ours) for e in extras), *TAIL, *(["Other tokens"] if other else []), *END]
    batch = store.batch(batch_id)
    sandbox = batch is not None and batch.mode == "sandbox"
    width = {**WIDTHS, "Status": len(SANDBOX_PAID) + 2} if sandbox else WIDTHS
    widths = [width.get(h, max(10, min(len(h) + 2, 30))) for h in header]
    return Table("for the landlord", header, _landlord_rows(store, batch_id, extras, other, sandbox), widths,
                 frozenset({header.index("Amount (NGN)")}))


def _landlord_rows(store: Store, batch_id: int, extras: list[str], other: bool,
                   sandbox: bool) -> Iterator[list[Any]]:
    paid_status = SANDBOX_PAID if sandbox else STATUS[S.SUCCESS]
    for row in store.rows(batch_id):
        paid = row.state == S.SUCCESS  # a token of any other row is not handed on (one parked may look wrong)
        tokens = export_columns(row.token, row.parcels) if paid else export_columns(None, None)
        kept = row.extras or {}
        yield [
            row.row_number, row.name or row.name_raw or "",
            # the sheet's phone: a default phone from the config is ours, not the tenant's
            (row.phone or row.phone_raw) if row.phone_raw.strip() else "",
            *(kept.get(e, "") for e in extras),
            row.meter or row.meter_raw, None if row.amount is None else row.amount.quantize(CENT),
            tokens["kct1"], tokens["kct2"], tokens["token"], tokens["bonus_token"],
            *([tokens["other_tokens"]] if other else []),
            row.units if paid else None, (row.receipt_no or "") if paid else "",
            local_iso(row.paid_at) if paid else "", paid_status if paid else STATUS.get(row.state, NOT_PAID_YET),
        ]


def export_problem(path: Path) -> str | None:
    """Why an export cannot be written as `path` (None: it can): its suffix says CSV or XLSX."""
    if path.suffix.lower() in SUFFIXES:
        return None
    stem = path.stem or "batch"
    said = f"'{path.suffix}'" if path.suffix else "no suffix"
    return (f"{path}: an export is written as CSV or XLSX, by the file's suffix, and this name has {said}; "
            f"name it e.g. {stem}.xlsx (a spreadsheet that keeps meters and tokens as text) or {stem}.csv. "
            "Nothing was written.")


def write_export(store: Store, batch_id: int, path: Path, layout: Layout = "full") -> int:
    """Write batch `batch_id` in `layout` as `path` (CSV or XLSX by its suffix), whole and
    0600; how many rows. OSError: something other than a file is there (a folder, a link, a
    device), its folder is not there (paths.NoFolder: never made for it), or the disk refused;
    FileError: the suffix is neither (nothing is written)."""
    if layout not in LAYOUTS:
        raise ValueError(f"no export layout {layout!r}")
    existing_file(path)  # a folder or a link is named as such before its name is looked at
    problem = export_problem(path)
    if problem:
        raise FileError(problem)
    table = landlord_table(store, batch_id) if layout == "landlord" else full_table(store, batch_id)
    if path.suffix.lower() == ".xlsx":
        return replace_file(path, lambda fh: write_xlsx(fh, table), binary=True, make_folders=False)
    return replace_file(path, lambda fh: write_csv(fh, table, bom=layout == "landlord"), make_folders=False)


def export_to_terminal(store: Store, batch_id: int, out: IO[str], layout: Layout = "full") -> int:
    """CSV, with no escape sequence or control character reaching the terminal."""
    table = landlord_table(store, batch_id) if layout == "landlord" else full_table(store, batch_id)
    return write_csv(out, table, terminal=True)
