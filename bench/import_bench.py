"""Import benchmark: 100,000-row CSV -> rules -> fresh SQLite store.

Prints wall seconds (median of --repeats runs) and peak RSS of the import, and, measured
in the same run on the same file, a bare csv.reader pass (the floor no importer can
beat). Each measured run is its own child process, so peak RSS belongs to that step alone.
The same sheet as Excel's plain "CSV" (cp1252, "?" for ₦, a title and a TOTAL row) and an
XLSX of --xlsx-rows rows typed as numbers are imported too, with their own figures.
Usage: python bench/import_bench.py [--rows N] [--xlsx-rows N]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DISCOS = ["IKEJA", "Ikeja Electric", "eko", "EKEDC", "ABUJA", "aedc", "PH", "Port Harcourt", "KANO", "JOS"]


def make_csv(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("Meter Number,Disco,Amount (NGN),Phone Number,Meter Type,Customer Name,Email\n")
        for i in range(rows):
            meter = f"{rnd.randrange(10**10, 10**11):011d}"
            if i % 50 == 0:
                meter = meter[:7]  # 2 % invalid rows, as in a real sheet
            amount = rnd.choice(["1000", "2,500", "₦5,000", "NGN 750", "15000.50", "20000"])
            phone = rnd.choice(["0803 123 4567", "+2348091234567", "08121234567", "07051234567"])
            name = f"Customer {i}"
            email = f"c{i}@example.com" if i % 3 == 0 else ""
            fh.write(f'{meter},{rnd.choice(DISCOS)},"{amount}",{phone},PREPAID,{name},{email}\n')


def make_cp1252_csv(path: Path, rows: int, seed: int = 7) -> None:
    """The same sheet as Excel's plain "CSV" writes it: cp1252, "?" for every ₦, an accented
    name now and then (so the file is not plain ASCII), a title line and a TOTAL row."""
    utf8 = path.with_suffix(".utf8")
    make_csv(utf8, rows, seed)
    with utf8.open(encoding="utf-8", newline="") as src, path.open("w", encoding="cp1252", errors="replace",
                                                                    newline="") as out:
        out.write("Sunrise Estate: electricity,,,,,,\r\n")
        for i, line in enumerate(src):
            if i % 100 == 1:
                line = line.replace("Customer", "Adébáyọ")  # é kept, ọ lost to "?"
            out.write(line.replace("\n", "\r\n"))
        out.write(',TOTAL,,"1,000",,,\r\n')
    utf8.unlink()


def make_numeric_xlsx(path: Path, rows: int, seed: int = 7) -> None:
    """A workbook typed the way offices type it: meters, amounts and phones as numbers."""
    import openpyxl

    rnd = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["Meter Number", "Disco", "Amount (NGN)", "Phone Number", "Meter Type", "Customer Name"])
    for i in range(rows):
        meter = rnd.randrange(10**10, 10**11)
        if i % 50 == 0:
            meter //= 10  # 2 %: a leading 0 lost, the fix proposed
        ws.append([meter, rnd.choice(DISCOS), rnd.choice([1000, 2500, 5000, 15000.5]), 8031234567, "PREPAID",
                   f"Customer {i}"])
    wb.save(path)


def child_import(path: str, db: str) -> dict:
    from buypower_tui.core.importing import import_file
    from buypower_tui.core.rules import Limits
    from buypower_tui.core.store import Store

    store = Store.open(f"sqlite:///{db}")
    t0 = time.perf_counter()
    report = import_file(Path(path), store, Limits(), name="bench")
    wall = time.perf_counter() - t0
    store.close()
    return {"wall_s": wall, "rows": report.rows, "valid": report.valid, "invalid": report.invalid,
            "notices": len(report.notices)}


def child_csv_reader(path: str) -> dict:
    import csv

    t0 = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as fh:
        n = sum(1 for _ in csv.reader(fh))
    return {"wall_s": time.perf_counter() - t0, "rows": n - 1}


def run_child(*args: str) -> dict:
    code = (
        f"import json,resource,sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import import_bench as b; r = getattr(b, sys.argv[1])(*sys.argv[2:]); "
        "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_run(repeats: int, args_for_run) -> dict:
    """Run a step `repeats` times, each in a fresh process; median wall time, worst peak RSS."""
    runs = [run_child(*args_for_run(i)) for i in range(repeats)]
    return dict(runs[0], wall_s=statistics.median(r["wall_s"] for r in runs),
                peak_rss_mb=max(r["peak_rss_mb"] for r in runs),
                all_wall_s=[round(r["wall_s"], 3) for r in runs])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--xlsx-rows", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "recipients.csv"
        make_csv(csv_path, args.rows)
        baseline = median_run(args.repeats, lambda i: ("child_csv_reader", str(csv_path)))
        # a fresh store for each run
        imp = median_run(args.repeats, lambda i: ("child_import", str(csv_path), str(Path(tmp) / f"bench{i}.db")))
        size_mb = csv_path.stat().st_size / 1e6
        cp1252_path, xlsx_path = Path(tmp) / "excel-plain.csv", Path(tmp) / "numeric.xlsx"
        make_cp1252_csv(cp1252_path, args.rows)
        make_numeric_xlsx(xlsx_path, args.xlsx_rows)
        cp1252 = median_run(args.repeats, lambda i: ("child_import", str(cp1252_path), str(Path(tmp) / f"c{i}.db")))
        xlsx = median_run(args.repeats, lambda i: ("child_import", str(xlsx_path), str(Path(tmp) / f"x{i}.db")))
    figures = {
        "rows": imp["rows"],
        "csv_mb": round(size_mb, 1),
        "repeats": args.repeats,
        "import_wall_s": round(imp["wall_s"], 3),
        "import_wall_s_runs": imp["all_wall_s"],
        "import_peak_rss_mb": round(imp["peak_rss_mb"], 1),
        "csv_reader_wall_s": round(baseline["wall_s"], 3),
        "csv_reader_peak_rss_mb": round(baseline["peak_rss_mb"], 1),
        "ratio_import_vs_csv_reader": round(imp["wall_s"] / baseline["wall_s"], 1),
        "rows_per_s": round(imp["rows"] / imp["wall_s"]),
        "cp1252_rows": cp1252["rows"],
        "cp1252_valid": cp1252["valid"],
        "cp1252_import_wall_s": round(cp1252["wall_s"], 3),
        "cp1252_import_peak_rss_mb": round(cp1252["peak_rss_mb"], 1),
        "ratio_cp1252_vs_utf8_import": round(cp1252["wall_s"] / imp["wall_s"], 2),
        "xlsx_numeric_rows": xlsx["rows"],
        "xlsx_numeric_valid": xlsx["valid"],
        "xlsx_numeric_import_wall_s": round(xlsx["wall_s"], 3),
        "xlsx_numeric_import_peak_rss_mb": round(xlsx["peak_rss_mb"], 1),
        "target": {"import_wall_s": 1.5, "import_peak_rss_mb": 120},
    }
    print(f"import of {imp['rows']} rows ({imp['valid']} valid, {imp['invalid']} invalid): median "
          f"{imp['wall_s']:.2f} s of {imp['all_wall_s']}, peak RSS {imp['peak_rss_mb']:.0f} MB; "
          f"bare csv.reader pass: {baseline['wall_s']:.3f} s", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
