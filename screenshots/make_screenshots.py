"""Make the README's screenshots from the demo: `python screenshots/make_screenshots.py`.

Drives the real app headless at 120x36 with Pilot, as an operator would, and saves SVGs
next to this script. The demo's batch, sandbox and home are temporary; nothing is kept.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


async def main() -> None:
    from buypower_tui.cli import build_parser
    from buypower_tui.core.demo import start_demo
    from buypower_tui.services import Context, Services
    from buypower_tui.ui.app import BuyPowerApp

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BUYPOWER_TUI_HOME"] = tmp
        demo = start_demo(Path(tmp) / "data")
        args = build_parser().parse_args(["--sandbox", "--base-url", demo.sandbox.url,
                                          "--db", f"sqlite:///{tmp}/data/demo.db"])
        services = Services(Context(args), demo)
        services.refresh_key()
        app = BuyPowerApp(services)
        async with app.run_test(size=(120, 36)) as pilot:

            async def until(condition) -> None:
                while not condition():
                    await pilot.pause(0.1)
                await pilot.pause(0.2)

            async def shot(name: str) -> None:
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause(0.3)
                app.clear_notifications()
                await pilot.pause()
                app.save_screenshot(str(HERE / f"{name}.svg"))
                print(f"wrote screenshots/{name}.svg")

            await shot("batches")
            await pilot.press("enter")
            await pilot.pause(0.3)
            await pilot.press(*["down"] * 27)
            await shot("editor-with-errors")
            await pilot.press("enter")
            await shot("row-editor")
            await pilot.press("home", "0", "enter", "l")
            await pilot.pause(0.5)
            await pilot.press("home")
            await shot("lookup-results")
            await pilot.press("f2")
            await shot("key-screen")
            await pilot.press("escape")
            app.wait_pending_s = 3  # leave some rows pending for the failed/pending view
            await pilot.press("v")
            await until(lambda: type(app.screen).__name__ == "ConfirmRunModal")
            await pilot.press("enter")  # a stray Enter: the dialog asks for the word
            await pilot.pause(0.2)
            app.save_screenshot(str(HERE / "confirm.svg"))
            print("wrote screenshots/confirm.svg")
            await pilot.press(*"ACCEPT", "enter")
            await until(lambda: type(app.screen).__name__ == "ConfirmRunModal")
            await pilot.press(*"VEND", "enter")
            await until(lambda: app.run_control is not None and app.run_control.progress is not None
                        and app.run_control.progress.sent >= 20)
            app.save_screenshot(str(HERE / "run.svg"))
            print("wrote screenshots/run.svg")
            await until(lambda: not app.run_active())
            await pilot.pause(0.5)
            while type(app.screen).__name__ == "ErrorModal":  # the wallet check mentions pending rows
                await pilot.press("escape")
            await pilot.press("r")
            await shot("failed-and-pending")
            await pilot.press("escape", "t")
            await pilot.pause(0.3)
            await pilot.press(*["down"] * 34)  # row 36: a meter past the key change, its tokens in typing order
            await shot("results")
            await pilot.press("f3")
            await pilot.pause(1)
            await shot("health")
            await pilot.press("f5")
            await until(lambda: type(app.screen).__name__ == "ReportScreen" and app.screen.report is not None)
            await shot("report")
        services.close()


if __name__ == "__main__":
    asyncio.run(main())
