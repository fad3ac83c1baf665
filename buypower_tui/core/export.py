"""Export a batch to CSV: what was paid, with tokens as a customer types them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

from buypower_tui.core.outcomes import format_token
from buypower_tui.core.store import Store

COLUMNS = ("sheet_row", "meter", "disco", "customer_name", "amount", "state", "token", "units",
           "receipt_no", "order_id", "vend_time", "provider_message")


def export_batch(store: Store, batch_id: int, out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    n = 0
    for row in store.rows(batch_id):
        writer.writerow([
            row.row_number, row.meter or row.meter_raw, row.disco or row.disco_raw,
            row.customer_name or row.name or "", "" if row.amount is None else f"{row.amount:.2f}", row.state,
            format_token(row.token) if row.token else "", row.units or "", row.receipt_no or "",
            row.order_id or "", row.vend_time or "",
            row.provider_message or "; ".join(e["message"] for e in row.errors or ()),  # why, for INVALID rows
        ])
        n += 1
    return n


def export_to_file(store: Store, batch_id: int, path: Path) -> int:
    from buypower_tui.paths import create_private_file

    create_private_file(path)  # tokens are bearer value: the file is the operator's alone (0600)
    with path.open("w", encoding="utf-8", newline="") as fh:
        return export_batch(store, batch_id, fh)
