"""The month's report and the landlord export on a big store: --rows rows paid this month,
each with two kept sheet columns (Estate, Block), in --batches batches.

Printed: wall time and peak memory (tracemalloc, Python objects) of `Services.month_report`
by disco and by a kept column, of writing it as XLSX, and of `export --for landlord` of the
largest batch as CSV and XLSX; and, as the baseline measured in the same run, a plain
`SELECT` of the same rows (what any report must read at least).
Usage: python bench/report_bench.py [--rows 100000] [--batches 4]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_store(url: str, rows: int, batches: int) -> None:
    from buypower_tui.core.models import utcnow
    from buypower_tui.core.store import Store

    rnd = random.Random(7)
    store = Store.open(url)
    columns = ("batch_id", "row_number", "state", "meter_raw", "disco_raw", "amount_raw", "phone_raw",
               "vend_type_raw", "name_raw", "email_raw", "meter", "disco", "amount_kobo", "vend_type", "phone",
               "name", "token", "receipt_no", "units", "paid_at", "order_id", "extras", "created_at",
               "updated_at")
    now = store.db_value("created_at", utcnow())
    discos = ("IKEJA", "EKO", "ABUJA", "IBADAN", "KANO", "PH")
    per_batch = rows // batches
    for b in range(batches):
        batch_id = store.create_batch(f"month {b + 1}", None, "live").id
        data = []
        for n in range(per_batch):
            meter = f"{rnd.randrange(10**10, 10**11):011d}"
            extras = json.dumps({"Estate": f"Estate {n % 40}", "Block": f"B{n % 7}"})
            data.append((batch_id, n + 2, "SUCCESS", meter, discos[n % 6], "5000", "08031234567", "", "Ada", "",
                         meter, discos[n % 6], 500000, "PREPAID", "08031234567", "Ada",
                         f"{rnd.randrange(10**19, 10**20)}", f"R{b}-{n}", "31.2", now, f"o{b}-{n}", extras,
                         now, now))
        store.insert_rows(columns, data, durable=False)
    store.close()


def timed(fn) -> tuple[float, float]:
    """(seconds, peak MB of Python allocations): the time of a plain call, the memory of a second
    one under tracemalloc (which slows allocation-heavy code several times over)."""
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return round(seconds, 3), round(peak, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args()

    from sqlalchemy import text

    from buypower_tui.cli import build_parser
    from buypower_tui.services import Context, Services

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        make_store(url, args.rows, args.batches)
        services = Services(Context(build_parser().parse_args(["--db", url])))
        services.batches()  # open the store
        figures: dict[str, object] = {"rows": args.rows, "batches": args.batches}
        with services.store.engine.connect() as conn:
            figures["select_s"], figures["select_mb"] = timed(lambda: conn.execute(text(
                "SELECT batch_id, state, amount_kobo, disco, extras, paid_at, updated_at FROM recipient")).all())
        report = services.month_report(None, "disco")
        assert report.total.paid == args.rows, report.total
        figures["report_disco_s"], figures["report_disco_mb"] = timed(lambda: services.month_report(None, "disco"))
        figures["report_estate_s"], figures["report_estate_mb"] = timed(
            lambda: services.month_report(None, "Estate"))
        figures["report_xlsx_s"], _ = timed(lambda: services.write_report(report, Path(tmp) / "r.xlsx"))
        figures["landlord_rows"] = args.rows // args.batches
        for suffix in ("csv", "xlsx"):
            figures[f"landlord_{suffix}_s"], figures[f"landlord_{suffix}_mb"] = timed(
                lambda s=suffix: services.export_to_file(1, Path(tmp) / f"l.{s}", "landlord"))
        figures["report_vs_select"] = round(figures["report_disco_s"] / max(figures["select_s"], 1e-6), 2)
        services.close()
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
