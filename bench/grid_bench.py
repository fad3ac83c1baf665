"""Recipient editor benchmark: open a big batch, jump to its end, change the filter.

Headless at 120x36 on Textual's real compositor, each size in a process of its own (so its
peak RSS is its own): the time from pushing the editor to the grid's first painted row, from
pressing End to the last row painted, and from choosing a filter to its rows painted; the
CPU time of scroll steps; the peak RSS. The stores are made first, by the import, in other
processes. Baseline measured in the same run: the same editor on a 100-row batch.
Usage: python bench/grid_bench.py [--rows 10000,100000]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"first_paint_s": 0.5, "end_s": 0.3, "filter_s": 0.5, "peak_rss_mb": 200}


def make_store(rows: int, home: Path) -> str:
    from bench.import_bench import make_csv
    from buypower_tui.core.importing import import_file
    from buypower_tui.core.rules import Limits
    from buypower_tui.core.store import Store

    sheet = home / f"rows-{rows}.csv"
    make_csv(sheet, rows)
    url = f"sqlite:///{home / f'bench-{rows}.db'}"
    store = Store.open(url)
    import_file(sheet, store, Limits(), mode="live")
    store.close()
    sheet.unlink()
    return url


async def measure(url: str) -> dict:
    from buypower_tui.cli import build_parser
    from buypower_tui.services import Context, Services
    from buypower_tui.ui.app import BuyPowerApp
    from buypower_tui.ui.screens.editor import EditorScreen
    from buypower_tui.ui.widgets.grid import RecipientGrid

    services = Services(Context(build_parser().parse_args(["--db", url])))
    batch_id = services.batches()[0].id
    app = BuyPowerApp(services, recover=False)
    painted: list[tuple[float, int]] = []  # (when, row index) of each data line painted
    original = RecipientGrid.render_line

    def render_line(grid, y):
        strip = original(grid, y)
        if y and grid.ids:
            painted.append((time.perf_counter(), int(grid.scroll_offset.y) + y - 1))
        return strip

    async def painted_after(start: float, shown=lambda index: True) -> float:
        """Seconds from `start` to the first line painted since then that shows `shown(row index)`."""
        seen = len(painted)
        while True:
            hits = [t for t, index in painted[seen:] if shown(index)]
            if hits:
                return hits[0] - start
            await asyncio.sleep(0.001)

    RecipientGrid.render_line = render_line
    out: dict = {}
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        app.push_screen(EditorScreen(batch_id))
        out["first_paint_s"] = await painted_after(start)
        editor = app.screen
        await pilot.pause(0.2)
        last = editor.grid.row_count - 1
        out["rows"] = last + 1
        t = time.perf_counter()
        pressed = asyncio.ensure_future(pilot.press("end"))
        out["end_s"] = await painted_after(t, lambda index: index == last)
        await pressed
        await pilot.press("home")
        await pilot.pause(0.2)
        t = time.perf_counter()
        editor.filter = "invalid"  # what choosing it in the filter dialog does
        editor.refill()
        editor.update_counts()
        out["filter_s"] = await painted_after(t)
        out["filter_rows"] = editor.grid.row_count
        editor.filter = "all"
        editor.refill()
        await pilot.pause(0.2)
        cpu = []
        for key in ["down"] * 40 + ["pagedown", "pagedown", "pageup", "pageup"] * 5:
            c = time.process_time()
            await pilot.press(key)
            await pilot.pause()
            cpu.append(time.process_time() - c)
        out["scroll_cpu_ms_mean"] = statistics.fmean(cpu) * 1000
        out["scroll_cpu_ms_max"] = max(cpu) * 1000
        out["held_rows"] = sum(len(page) for page in editor.grid._pages.values())
    RecipientGrid.render_line = original
    services.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def in_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True,
                          cwd=ROOT, env={**os.environ})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000", help="comma-separated batch sizes")
    parser.add_argument("--make", metavar="N", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        print(json.dumps({"url": make_store(args.make, Path(os.environ["BUYPOWER_TUI_HOME"]))}))
        return
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure))))
        return
    sizes = [100, *map(int, args.rows.split(","))]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BUYPOWER_TUI_HOME"] = tmp
        for n in sizes:
            results[n] = in_child("--measure", in_child("--make", str(n))["url"])
    base = results[100]
    figures: dict = {"baseline_100_rows": {k: round(v, 3) for k, v in base.items()}}
    for n in sizes[1:]:
        r = results[n]
        figures[f"rows_{n}"] = {k: round(v, 3) for k, v in r.items()}
        figures[f"rows_{n}"]["ratio_first_paint_vs_100"] = round(r["first_paint_s"] / base["first_paint_s"], 2)
        print(f"{n} rows: first paint {r['first_paint_s']:.3f} s (100 rows: {base['first_paint_s']:.3f} s), "
              f"End {r['end_s']:.3f} s, filter {r['filter_s']:.3f} s ({r['filter_rows']} rows), "
              f"scroll step CPU {r['scroll_cpu_ms_mean']:.1f} ms mean, peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"{r['held_rows']} rows held", file=sys.stderr)
    figures["target_100000_rows"] = TARGETS
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
