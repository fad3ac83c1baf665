"""Start-up benchmark: the whole `buypower-tui` process, from exec to the first frame of the
batches screen, on a store holding one batch; against a bare Textual app (Header, DataTable,
Footer) measured in the same run the same way. Both run in a pseudo-terminal of 120x36, with
our package's bytecode compiled as an installed package has it.

Each child writes the wall-clock time of its first frame (after the first refresh) to a file
and exits; the figure is that time minus the moment before the process was started (median
of --repeats runs). The app also writes when the batch is listed: the store is opened after
the first frame (ui/start.py), so that is the time to the screen's data.

Usage: python bench/startup_bench.py [--repeats N]
Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP = """
import os, sys, time
from buypower_tui.ui import app as app_module
from buypower_tui.ui.screens import batches

first = app_module.BuyPowerApp.on_mount
marks = {}

def mark(name, app):
    if name not in marks:
        marks[name] = time.time()
        if len(marks) == 2:
            open(os.environ["FIRST_FRAME_FILE"], "w").write(repr(marks["frame"]))
            open(os.environ["FIRST_FRAME_FILE"] + ".listed", "w").write(repr(marks["listed"]))
            app.exit()

def on_mount(self):
    first(self)
    self.call_after_refresh(mark, "frame", self)

load = batches.BatchesScreen.load

def listed(self):
    load(self)
    if self.table.row_count:  # the batch is on screen at the next refresh
        self.call_after_refresh(mark, "listed", self.app)

app_module.BuyPowerApp.on_mount = on_mount
batches.BatchesScreen.load = listed
from buypower_tui.cli import main
sys.exit(main([]))
"""

BARE = """
import os, time
from textual.app import App
from textual.widgets import DataTable, Footer, Header

class Bare(App):
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()

    def on_mount(self):
        self.query_one(DataTable).add_columns("Batch", "Rows", "Created")
        def done():
            open(os.environ["FIRST_FRAME_FILE"], "w").write(repr(time.time()))
            self.exit()
        self.call_after_refresh(done)

Bare().run()
"""

# What the app imports by the time its first frame is drawn (listed once, for the note).
IMPORTS = """
import sys
from buypower_tui import cli
from buypower_tui.ui import app, tui
heavy = sorted(m for m in ("httpx", "openpyxl", "alembic", "stamina", "aiolimiter", "buypower_tui.core.client",
                           "buypower_tui.core.sandbox.server", "buypower_tui.core.demo", "sqlalchemy", "sqlmodel",
                           "keyring", "buypower_tui.services.operations") if m in sys.modules)
print(" ".join(heavy))
"""


def first_frame(code: str, env: dict[str, str], listed: bool = False) -> float | tuple[float, float]:
    """Seconds from starting `python -c code` in a 120x36 pseudo-terminal to its first frame
    (with `listed`: and to the frame that lists the batch)."""
    marker = Path(env["BENCH_TMP"]) / "first-frame"
    marker.unlink(missing_ok=True)
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=child, stdout=child, stderr=child,
                            env=env | {"FIRST_FRAME_FILE": str(marker)}, close_fds=True)
    os.close(child)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:  # drain the terminal so the child never blocks on a full pty
            os.read(parent, 65536)
        except OSError:
            break
    proc.wait(timeout=30)
    os.close(parent)
    frame = float(marker.read_text()) - started
    if not listed:
        return frame
    return frame, float(marker.with_name(marker.name + ".listed").read_text()) - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUYPOWER_")}
        env |= {"BUYPOWER_TUI_HOME": tmp, "BENCH_TMP": tmp, "TERM": "xterm-256color", "BUYPOWER_MODE": "sandbox",
                "PYTHONPATH": str(ROOT)}
        sample = subprocess.run([sys.executable, "-m", "buypower_tui", "import",
                                 str(ROOT / "buypower_tui" / "data" / "sample-recipients.csv")], env=env,
                                capture_output=True, text=True)
        if sample.returncode not in (0, 1):  # 1: the sample holds invalid rows on purpose
            raise SystemExit(f"could not make the store: {sample.stderr}")
        # bytecode, as an installed package has it (pip compiles on install; an editable checkout
        # under PYTHONDONTWRITEBYTECODE would otherwise compile every module at every start)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "buypower_tui")], check=True)
        first_frame(BARE, env)  # warm the disk cache for both
        first_frame(APP, env, listed=True)
        bare = [first_frame(BARE, env) for _ in range(args.repeats)]
        runs = [first_frame(APP, env, listed=True) for _ in range(args.repeats)]
        app, listed = [r[0] for r in runs], [r[1] for r in runs]
        imported = subprocess.run([sys.executable, "-c", IMPORTS], env=env, capture_output=True, text=True).stdout
    bare_s, app_s, listed_s = statistics.median(bare), statistics.median(app), statistics.median(listed)
    print(f"first frame: buypower-tui {app_s:.3f} s, a bare Textual app {bare_s:.3f} s ({app_s / bare_s:.2f}x); "
          f"the batch listed at {listed_s:.3f} s ({listed_s / bare_s:.2f}x); "
          f"loaded before the first frame: {imported.strip() or 'none of the heavy ones'}", file=sys.stderr)
    print(json.dumps({"app_first_frame_s": round(app_s, 3), "bare_first_frame_s": round(bare_s, 3),
                      "ratio": round(app_s / bare_s, 2), "target_ratio": 2.0,
                      "app_batch_listed_s": round(listed_s, 3), "ratio_listed": round(listed_s / bare_s, 2),
                      "repeats": args.repeats, "loaded_at_start": imported.split()}))


if __name__ == "__main__":
    main()
