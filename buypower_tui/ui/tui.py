"""Start the TUI. A SQLite store already at the app's schema is opened after the first
frame (ui/start.py); any other is opened (upgraded, or refused: exit 2) before it, with the
keyring asked there too: a locked keyring may block on D-Bus, and the screen must never
freeze on it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

from buypower_tui import secrets
from buypower_tui import services as layer
from buypower_tui.console import err, out
from buypower_tui.logs import stop_file_logging
from buypower_tui.services.context import Context


def run_tui(args: argparse.Namespace) -> int:
    from buypower_tui.ui.app import BuyPowerApp

    if not args.demo:
        ctx = Context(args)
        ctx.announce_upgrade = False  # the app says it in a toast
        if ctx.store_is_current():  # the usual start: the first frame comes before the store
            return _run(BuyPowerApp(ctx))
        services = layer.Services(ctx)
        services.store  # noqa: B018 - opened (and upgraded) now: a store it must refuse is exit 2, not a crash
        services.refresh_key()
        return _run(BuyPowerApp(services))
    home = Path(tempfile.mkdtemp(prefix="buypower-tui-demo-"))
    try:
        services = demo_services(args, home)
        code = _run(BuyPowerApp(services, open_batch=services.demo.batch_id))
    finally:
        stop_file_logging()
        shutil.rmtree(home, ignore_errors=True)
    with contextlib.suppress(OSError):  # after a hang-up there is no terminal to tell
        out(f"The demo's sandbox and its files are gone ({home} removed). Nothing of yours was touched.")
    return code


def demo_services(args: argparse.Namespace, home: Path):
    """The demo's world in `home`: its sandbox, store, settings, logs, and a keyring in memory."""
    import keyring

    from buypower_tui.core.demo import start_demo  # the sandbox server: only the demo needs it
    from buypower_tui.memory_keyring import MemoryKeyring

    demo = start_demo(home / "data", seed=args.demo_seed)
    os.environ["BUYPOWER_TUI_HOME"] = str(home)  # config and logs in the demo's home too
    args.mode, args.base_url, args.db = "sandbox", demo.sandbox.url, f"sqlite:///{home / 'data' / 'demo.db'}"
    services = layer.Services(Context(args), demo)
    # Keys typed in the demo go to a keyring in memory: the operator's own is not touched.
    services.keyring_problem = secrets.keyring_problem("live")
    keyring.set_keyring(MemoryKeyring())
    services.refresh_key()
    return services


def _run(app) -> int:
    # A closed SSH session sends SIGHUP (and a shutdown SIGTERM): stop the run after the rows
    # in flight and leave, so the store closes and a demo's temporary home is removed. The stop
    # must come first: app.run() only returns once its workers' threads are done, and a run
    # left going would pay the whole batch with no one watching.
    def hang_up(*_: object) -> None:
        app.hang_up()

    previous = {sig: signal.signal(sig, hang_up) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        run = app.run_control
        if run is not None and not run.finished.is_set():  # a hang-up mid-run: settle, then close
            run.stop()
            with contextlib.suppress(OSError):
                out("Stopping after the rows in flight…")
            run.finished.wait()
        (app.services or app.ctx).close()
    if app.start_error:
        err(app.start_error)
    return app.return_code or 0
