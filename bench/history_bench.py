"""A meter's history on a big store: `Services.meter_history` on 100,000 rows.

Two stores of --rows rows each: one batch of them all, and the same rows over --batches
batches (a monthly routine kept for years; the query probes the (batch_id, meter) index
once per batch, so many batches is its worst case). In each, the meter looked for is in
every batch, paid in half of them. Printed: the median wall time of the history (the whole
Services call: rows read and tokens put in order), and, for comparison, a plain
`SELECT * ... WHERE meter = ?` (which reads every row: no index starts with the meter) and SQLite's plan.
Usage: python bench/history_bench.py [--rows 100000] [--batches 1000]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METER = "04123456789"
TARGET_S = 0.1


def make_store(url: str, rows: int, batches: int) -> None:
    from buypower_tui.core.models import utcnow
    from buypower_tui.core.store import Store

    rnd = random.Random(7)
    store = Store.open(url)
    columns = ("batch_id", "row_number", "state", "meter_raw", "disco_raw", "amount_raw", "phone_raw",
               "vend_type_raw", "name_raw", "email_raw", "meter", "disco", "amount_kobo", "vend_type",
               "token", "receipt_no", "units", "paid_at", "order_id", "response", "created_at", "updated_at")
    now = store.db_value("created_at", utcnow())
    per_batch = rows // batches
    # a paid row keeps BuyPower's answer (about 1 kB): rows are as wide as a real store's
    response = json.dumps({"data": {"token": "0" * 20, "receiptNo": "R" * 12, "address": "x" * 200,
                                    "disco": "IKEJA", "vendTime": "2026-03-02 09:14:03", "units": "31.2",
                                    "parcels": [{"type": "TOKEN", "content": "0" * 20}], "extra": "y" * 600}})
    for b in range(batches):
        batch_id = store.create_batch(f"month {b + 1}", None, "live").id
        data = []
        for n in range(per_batch):
            meter = METER if n == per_batch // 2 else f"{rnd.randrange(10**10, 10**11):011d}"
            paid = rnd.random() < 0.5
            data.append((batch_id, n + 2, "SUCCESS" if paid else "VERIFIED", meter, "IKEJA", "5000", "", "", "",
                         "", meter, "IKEJA", 500000, "PREPAID", f"{rnd.randrange(10**19, 10**20)}" if paid else None,
                         f"R{b}-{n}" if paid else None, "31.2" if paid else None, now if paid else None,
                         f"o{b}-{n}" if paid else None, response if paid else None, now, now))
        store.insert_rows(columns, data, durable=False)
    store.close()


def measure(url: str, repeats: int) -> dict:
    from sqlalchemy import text

    from buypower_tui.cli import build_parser
    from buypower_tui.services import Context, Services

    services = Services(Context(build_parser().parse_args(["--db", url])))
    services.meter_history(METER)  # the first call opens the store and warms the cache
    times, found = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        found = len(services.meter_history(METER).rows)
        times.append(time.perf_counter() - start)
    engine = services.store.engine
    with engine.connect() as conn:
        plain = []
        for _ in range(repeats):
            start = time.perf_counter()
            conn.execute(text("SELECT * FROM recipient WHERE meter = :m"), {"m": METER}).all()
            plain.append(time.perf_counter() - start)
    from buypower_tui.core.meter_history import meter_history as query  # its plan, as SQLite runs it

    statements = []
    engine.pool.dispose()

    def grab(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", grab)
    query(services.store, (METER,))
    event.remove(engine, "before_cursor_execute", grab)
    statement, parameters = next(s for s in statements if "recipient" in s[0])
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    services.close()
    return {"history_s": round(statistics.median(times), 4), "rows_found": found,
            "plain_where_meter_s": round(statistics.median(plain), 4), "plan": plan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BUYPOWER_TUI_HOME"] = tmp
        for batches in (1, args.batches):
            url = f"sqlite:///{Path(tmp) / f'history-{batches}.db'}"
            start = time.perf_counter()
            make_store(url, args.rows, batches)
            made = time.perf_counter() - start
            figures = measure(url, args.repeats)
            results[f"{args.rows}_rows_{batches}_batches"] = figures
            print(f"{args.rows} rows in {batches} batch(es) (made in {made:.1f} s): history "
                  f"{figures['history_s'] * 1000:.1f} ms for {figures['rows_found']} rows; "
                  f"plain WHERE meter = ? {figures['plain_where_meter_s'] * 1000:.1f} ms; "
                  f"plan: {' / '.join(figures['plan'])}")
    results["target_s"] = TARGET_S
    results["ok"] = all(r["history_s"] <= TARGET_S for k, r in results.items() if isinstance(r, dict))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
