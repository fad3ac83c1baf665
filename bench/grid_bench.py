"""Recipient editor benchmark: open a 10,000-row batch, then scroll it.

Measures, headless at 120x36 on Textual's real compositor: the time from pushing the editor
to the grid's first paint, the time until every row is in the grid (the rest load in
chunks after the first paint), and the CPU time of each scroll step (rows, pages, end and
home; a step over 16 ms of CPU would drop frames). Baseline measured in the same run: the
same editor on a 100-row batch.
Usage: python bench/grid_bench.py [--rows N]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.import_bench import make_csv  # noqa: E402


async def open_and_scroll(rows: int, home: Path) -> dict:
    from buypower_tui.cli import build_parser
    from buypower_tui.services import Context, Services
    from buypower_tui.ui.app import BuyPowerApp
    from buypower_tui.ui.screens.editor import EditorScreen
    from buypower_tui.ui.widgets.grid import RecipientGrid

    sheet = home / f"rows-{rows}.csv"
    make_csv(sheet, rows)
    args = build_parser().parse_args(["--db", f"sqlite:///{home / f'bench-{rows}.db'}"])
    services = Services(Context(args))
    batch_id = services.import_sheet(sheet).batch_id
    app = BuyPowerApp(services)
    out: dict = {"rows": rows}
    painted: list[float] = []
    original = RecipientGrid.render_lines

    def render_lines(grid, crop):  # the first time the grid paints rows = the first screen
        if grid.row_count and not painted:
            painted.append(time.perf_counter())
        return original(grid, crop)

    RecipientGrid.render_lines = render_lines
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        app.push_screen(EditorScreen(batch_id))
        while not painted:
            await pilot.pause(0.001)
        out["first_screen_s"] = painted[0] - start
        editor = app.screen
        assert editor.grid.row_count > 0
        while editor._pending:
            await pilot.pause(0.005)
        await pilot.pause()
        out["all_rows_s"] = time.perf_counter() - start
        assert editor.grid.row_count == rows, editor.grid.row_count
        # Scroll: CPU time per step is the work a frame costs (wall time is mostly Pilot
        # waiting for the screen to settle, the same for any table).
        wall, cpu = [], []
        for key in (["down"] * 60 + ["pagedown", "pagedown", "pageup", "pageup"] * 5 + ["end", "home"]):
            t, c = time.perf_counter(), time.process_time()
            await pilot.press(key)
            await pilot.pause()
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        out["scroll_wall_ms_mean"] = statistics.fmean(wall) * 1000
        out["scroll_cpu_ms_mean"] = statistics.fmean(cpu) * 1000
        out["scroll_cpu_ms_p95"] = sorted(cpu)[int(len(cpu) * 0.95)] * 1000
        out["scroll_cpu_ms_max"] = max(cpu) * 1000
    RecipientGrid.render_lines = original
    services.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BUYPOWER_TUI_HOME"] = tmp
        base = asyncio.run(open_and_scroll(100, Path(tmp)))
        big = asyncio.run(open_and_scroll(args.rows, Path(tmp)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "rows": big["rows"],
        "first_screen_s": round(big["first_screen_s"], 3),
        "all_rows_loaded_s": round(big["all_rows_s"], 3),
        **{k: round(v, 1) for k, v in big.items() if k.startswith("scroll")},
        "baseline_100_rows_first_screen_s": round(base["first_screen_s"], 3),
        "baseline_100_rows_scroll_cpu_ms_mean": round(base["scroll_cpu_ms_mean"], 1),
        "ratio_first_screen_vs_100_rows": round(big["first_screen_s"] / base["first_screen_s"], 2),
        "ratio_scroll_cpu_vs_100_rows": round(big["scroll_cpu_ms_mean"] / base["scroll_cpu_ms_mean"], 2),
        "peak_rss_mb": round(peak_mb, 1),
        "target": {"first_screen_s": 1.0},
    }
    print(f"{big['rows']} rows: first screen {big['first_screen_s']:.3f} s (100 rows: "
          f"{base['first_screen_s']:.3f} s), all rows {big['all_rows_s']:.2f} s; scroll step CPU mean "
          f"{big['scroll_cpu_ms_mean']:.1f} ms (100 rows: {base['scroll_cpu_ms_mean']:.1f} ms), p95 "
          f"{big['scroll_cpu_ms_p95']:.1f} ms, max {big['scroll_cpu_ms_max']:.1f} ms", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
