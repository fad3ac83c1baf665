"""How the App starts: its first frame before the store.

Given a Context (a SQLite store already at the app's schema, see Context.store_is_current),
the App draws its first screen at once and opens the store, asks the keyring and checks for
crash leftovers in a thread worker; the screens fill in when that is done. SQLAlchemy, the
services and the keyring's D-Bus then cost nothing before the first frame. Given Services
(the demo, the tests, a store that had to be opened or upgraded first), it starts at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from buypower_tui import services as layer
from buypower_tui.settings import ConfigError

if TYPE_CHECKING:
    from buypower_tui.services import Context, Services

log = logging.getLogger("buypower_tui.ui")
NEED_THE_STORE = frozenset({"settings", "health", "run_view", "report"})  # App actions that wait for it


class StartMixin:
    services: Services | None
    ctx: Context
    start_error: str | None = None  # why the store could not be opened (printed after the App)
    leaving = False  # the operator quit, or the terminal hung up

    @property
    def mode(self) -> str:
        return self.ctx.settings.mode

    @property
    def is_demo(self) -> bool:
        return self.services is not None and self.services.demo is not None

    def on_mount(self) -> None:
        if self.services is None:  # after the first frame: its imports would hold the GIL from the painting
            self.call_after_refresh(self.run_worker, self._open_store, thread=True, group="start",
                                    exit_on_error=False)
        else:
            self.started()

    def _open_store(self) -> None:
        try:
            services = layer.Services(self.ctx)
            services.store  # noqa: B018 - opened now, off the UI thread
        except ConfigError as exc:  # the store was replaced or locked since the look before the start
            self._not_started(str(exc), 2)
            return
        except Exception:  # never a traceback in front of the operator
            log.exception("opening the store")
            self._not_started(f"could not open the store; details are in {self.ctx.paths.log_file}", 1)
            return
        try:
            services.refresh_key()  # the keyring may block on D-Bus
        except Exception as exc:  # a keyring that fails oddly: the app works, the key is not known
            log.exception("asking the keyring")
            services.keyring_problem = f"the keyring failed: {exc or type(exc).__name__}"
        self.call_from_thread(self._store_opened, services)

    def _not_started(self, why: str, code: int) -> None:
        if not self.leaving:  # the operator quit meanwhile: nothing to report
            self.start_error = why
            self.call_from_thread(self.exit, return_code=code)

    def _store_opened(self, services: Services) -> None:
        self.services = services
        try:
            self.started()  # reads the store (crash leftovers): a damaged one fails here
        except Exception:
            log.exception("starting on the store")
            self.services, self.start_error = None, ("buypower-tui stopped on an unexpected error; details are "
                                                     f"in {self.ctx.paths.log_file}")
            self.exit(return_code=1)
            return
        self.refresh_screens()  # the first screen reads its rows now
        self.refresh_bindings()
        for screen in self.screen_stack:
            screen.refresh_bindings()  # keys that waited for the store are shown enabled

    def store_opening(self) -> bool:
        """True (and said) while the store is not open yet: for what the palette calls directly."""
        if self.services is None:
            self.notify("The store is still opening; try again in a moment.", severity="warning")
        return self.services is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return True if self.services is not None or action not in NEED_THE_STORE else None  # None: shown, disabled
