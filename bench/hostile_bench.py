"""Hostile inputs benchmark: what a bomb or a bad server costs now (issue 10, points 11 and 12).

Each measured step is its own child process (wall seconds and peak RSS of that step alone),
next to a baseline measured in the same run:
- `validate` of the issue's workbook bomb (100 million shared strings, ~4 MB zipped)
  against `validate` of a real 1,000-row workbook;
- a vend against a server whose answer never ends, and one that drips a byte a second,
  against a vend to a server that answers at once (the answer's content does not matter:
  the client must come back, PENDING, with bounded memory).
Usage: python bench/hostile_bench.py [--strings N]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                 '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                 'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
                 '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
                 'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
                 'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings'
                 '.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                 '</Types>')
RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                 'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                 'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id='
                 '"rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
                 'Target="sharedStrings.xml"/></Relationships>')
SHEET = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
         '2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
         '<c r="C1" t="s"><v>2</v></c></row></sheetData></worksheet>')


def make_bomb(path: Path, strings: int) -> None:
    """The issue's workbook: one tiny sheet, and `strings` shared strings behind it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in (("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", RELS),
                           ("xl/workbook.xml", WORKBOOK), ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
                           ("xl/worksheets/sheet1.xml", SHEET)):
            z.writestr(name, text)
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                     b'spreadsheetml/2006/main"><si><t>meter</t></si><si><t>disco</t></si><si><t>amount</t></si>')
            block = b"<si><t>a</t></si>" * 100_000
            for _ in range(strings // 100_000):
                fh.write(block)
            fh.write(b"</sst>")


def make_real(path: Path, rows: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["meter", "disco", "amount", "phone", "name"])
    for i in range(rows):
        ws.append([f"{62_010_000_001 + i:011d}", "EKO", "1000", "08031234567", f"Customer {i}"])
    wb.save(path)


def child_validate(path: str) -> dict:
    from buypower_tui.cli import main

    t0 = time.perf_counter()
    code = main(["validate", path])
    return {"wall_s": time.perf_counter() - t0, "exit": code}


def child_vend(url: str, read_timeout: str) -> dict:
    import asyncio
    from decimal import Decimal

    from pydantic import SecretStr

    from buypower_tui.core.client import BuyPowerClient

    async def go():
        async with BuyPowerClient(url, SecretStr("k" * 64), read_timeout=float(read_timeout), connect_timeout=1,
                                  rate_limit=0) as client:
            return await client.vend("bench-1", "62010000001", "EKO", Decimal(1000), "08031234567")

    t0 = time.perf_counter()
    result = asyncio.run(go())
    return {"wall_s": time.perf_counter() - t0, "outcome": str(result.outcome)}


def run_child(*args: str) -> dict:
    code = (f"import json,resource,sys,contextlib,io; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import hostile_bench as b\nwith contextlib.redirect_stdout(io.StringIO()), "
            "contextlib.redirect_stderr(io.StringIO()): r = getattr(b, sys.argv[1])(*sys.argv[2:])\n"
            "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve(kind: str) -> int:
    """A raw socket server on 127.0.0.1: `endless` streams forever, `drip` sends a byte a
    second, `quick` answers a small 200 at once."""
    listener = socket.create_server(("127.0.0.1", 0))

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            try:
                if kind == "quick":
                    body = (b'{"status": true, "message": "Successful", "data": {"token": "12345678901234567890", '
                            b'"units": 4.4, "totalAmountPaid": 1000}}')
                    conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                elif kind == "endless":
                    conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
                    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
                    while True:
                        conn.sendall(chunk)
                else:
                    conn.sendall(head + b"Content-Length: 1000\r\n\r\n")
                    for _ in range(1000):
                        conn.sendall(b" ")
                        time.sleep(1)
            except OSError:
                pass

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strings", type=int, default=100_000_000, help="shared strings in the bomb")
    args = parser.parse_args()
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        bomb, real = Path(tmp) / "bomb.xlsx", Path(tmp) / "real.xlsx"
        make_bomb(bomb, args.strings)
        make_real(real, 1000)
        b, r = run_child("child_validate", str(bomb)), run_child("child_validate", str(real))
        figures["bomb"] = {"zipped_mb": round(bomb.stat().st_size / 1e6, 1), "shared_strings": args.strings,
                           "exit": b["exit"], "wall_s": round(b["wall_s"], 2), "peak_rss_mb": round(b["peak_rss_mb"])}
        figures["real_1000_rows"] = {"exit": r["exit"], "wall_s": round(r["wall_s"], 2),
                                     "peak_rss_mb": round(r["peak_rss_mb"])}
        figures["bomb_vs_real_wall"] = round(b["wall_s"] / r["wall_s"], 1)
    read_timeout = "2"  # deadline = connect 1 + read 2 + margin 1 = 4 s
    for kind in ("quick", "endless", "drip"):
        v = run_child("child_vend", f"http://127.0.0.1:{serve(kind)}/v2", read_timeout)
        figures[f"vend_{kind}"] = {"outcome": v["outcome"], "wall_s": round(v["wall_s"], 2),
                                   "peak_rss_mb": round(v["peak_rss_mb"])}
    figures["vend_deadline_s"] = 4.0
    print(f"bomb ({figures['bomb']['zipped_mb']} MB, {args.strings:,} shared strings): exit {figures['bomb']['exit']} "
          f"in {figures['bomb']['wall_s']} s, {figures['bomb']['peak_rss_mb']} MB; a real 1,000-row workbook: "
          f"{figures['real_1000_rows']['wall_s']} s, {figures['real_1000_rows']['peak_rss_mb']} MB; vends: "
          + ", ".join(f"{k} {figures[f'vend_{k}']['outcome']} in {figures[f'vend_{k}']['wall_s']} s / "
                      f"{figures[f'vend_{k}']['peak_rss_mb']} MB" for k in ("quick", "endless", "drip")),
          file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
