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
NEED_THE_STORE = frozenset({"settings", "health", "run_view"})  # App actions that wait for it


class StartMixin:
    services: Services | None
    ctx: Context
    start_error: str | None = None  # why the store could not be opened (printed after the App)

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
            services.refresh_key()  # the keyring may block on D-Bus
        except ConfigError as exc:  # the store was replaced or locked since the look before the start
            self.start_error, code = str(exc), 2
        except Exception:  # never a traceback in front of the operator
            log.exception("opening the store")
            self.start_error, code = f"could not open the store; details are in {self.ctx.paths.log_file}", 1
        else:
            self.call_from_thread(self._store_opened, services)
            return
        self.call_from_thread(self.exit, return_code=code)

    def _store_opened(self, services: Services) -> None:
        self.services = services
        self.started()
        self.refresh_screens()  # the first screen reads its rows now
        self.refresh_bindings()
        for screen in self.screen_stack:
            screen.refresh_bindings()  # keys that waited for the store are shown enabled

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return True if self.services is not None or action not in NEED_THE_STORE else None  # None: shown, disabled
