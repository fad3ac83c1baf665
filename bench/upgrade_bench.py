"""Upgrade benchmark: a 0.1.0 store of N rows (schema 0001, every row paid, 3 events each)
brought to head by opening it (online backup + migrations), against a bare online backup of
the same file measured in the same run (the floor: the copy every upgrade takes first).

Usage: python bench/upgrade_bench.py [--rows N]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from buypower_tui.core import schema
from buypower_tui.core.store import Store


def make_0_1_0_store(path: Path, rows: int) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        command.upgrade(schema._config(connection), schema.FIRST)
        connection.exec_driver_sql("DROP TABLE alembic_version")  # as 0.1.0 made it: no version table
    engine.dispose()
    with closing(sqlite3.connect(path)) as db:
        db.execute("INSERT INTO batch (id, name, mode, created_at, imported_at) VALUES "
                   "(1, 'bench', 'sandbox', '2026-11-01 08:00:00', '2026-11-01 08:00:01')")
        db.executemany(
            "INSERT INTO recipient (batch_id, row_number, state, meter_raw, disco_raw, amount_raw, phone_raw, "
            "vend_type_raw, name_raw, email_raw, meter, disco, amount_kobo, phone, vend_type, duplicate_accepted, "
            "order_id, token, units, receipt_no, sent_at, post_count, requery_count, created_at, updated_at) "
            "VALUES (1, ?, 'SUCCESS', ?, 'IKEJA', '1000', '08031234567', '', '', '', ?, 'IKEJA', 100000, "
            "'08031234567', 'PREPAID', 0, ?, ?, '4.4', ?, '2026-11-01 09:00:00', 1, 0, '2026-11-01 08:00:00', "
            "'2026-11-01 09:00:01')",
            ((i + 2, f"{i:011d}", f"{i:011d}", f"order-{i}", f"{i:020d}", str(i)) for i in range(rows)))
        db.executemany(
            "INSERT INTO event (recipient_id, batch_id, at, operator, old_state, new_state) "
            "VALUES (?, 1, ?, 'bench', ?, ?)",
            ((i + 1, f"2026-11-01 09:00:0{k}", old, new) for i in range(rows)
             for k, (old, new) in enumerate((("VERIFIED", "APPROVED"), ("APPROVED", "SENDING"),
                                             ("SENDING", "SUCCESS")))))
        db.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        original = Path(tmp) / "original.db"
        make_0_1_0_store(original, args.rows)
        size_mb = original.stat().st_size / 1e6

        copy = Path(tmp) / "copy.db"
        started = time.perf_counter()
        with closing(sqlite3.connect(original)) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)
        backup_s = time.perf_counter() - started

        store_file = Path(tmp) / "store.db"
        shutil.copyfile(original, store_file)
        started = time.perf_counter()
        store = Store.open(f"sqlite:///{store_file}")
        upgrade_s = time.perf_counter() - started
        done = store.upgraded
        paid = store.stats(1).by_state.get("SUCCESS", 0)
        store.close()
    assert done is not None and done.before == schema.FIRST and paid == args.rows
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.rows} rows ({size_mb:.1f} MB): upgrade {done.before} -> {done.after} in {upgrade_s:.2f} s "
          f"(a bare online backup: {backup_s:.2f} s)", file=sys.stderr)
    print(json.dumps({"rows": args.rows, "store_mb": round(size_mb, 1), "upgrade_s": round(upgrade_s, 3),
                      "backup_baseline_s": round(backup_s, 3), "ratio": round(upgrade_s / backup_s, 1),
                      "peak_rss_mb": round(peak_mb), "rows_paid_after": paid}))


if __name__ == "__main__":
    main()
