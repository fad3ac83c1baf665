"""The App's handle on the core: settings, paths, the store, the key, and the calls that
need more than one of them. No textual here: what the screens do, a test can do too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from buypower_tui import secrets
from buypower_tui.context import Context
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.demo import Demo
from buypower_tui.core.importing import ImportReport, import_file
from buypower_tui.core.lookup import LookupReport, lookup_batch
from buypower_tui.core.rules import Limits
from buypower_tui.core.store import Store


class NoKey(Exception):
    """No API key for the mode; str() says how to set one."""


@dataclass
class Services:
    ctx: Context
    demo: Demo | None = None

    def __post_init__(self) -> None:
        self.key_info = secrets.KeyInfo("none", None)
        # Why the OS keyring cannot keep a key here (None: it can). In the demo, the real
        # machine's answer, asked before the demo swapped in a keyring held in memory.
        self.keyring_problem: str | None = None
        if self.demo is not None:
            self.ctx.mask_secret(self.demo.key)

    @property
    def settings(self):
        return self.ctx.settings

    @property
    def paths(self):
        return self.ctx.paths

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def store(self) -> Store:
        return self.demo.store if self.demo is not None else self.ctx.store

    @property
    def limits(self) -> Limits:
        return self.ctx.limits

    def refresh_key(self) -> secrets.KeyInfo:
        """Ask env and keyring again. May block on D-Bus: call before app.run or in a thread."""
        self.key_info = self.ctx.key(self.mode)
        if self.demo is None:
            self.keyring_problem = self.key_info.keyring_problem
            if self.key_info.source == "env":  # the env answered first: is there a keyring too?
                self.keyring_problem = secrets.keyring_problem(self.mode)
        return self.key_info

    def _client_key(self) -> SecretStr:
        if self.demo is not None:
            return SecretStr(self.demo.key)
        if self.key_info.key is None:
            raise NoKey(f"There is no API key for {self.mode}. Press F2 (Settings and API key) to set one, "
                        f"or start buypower-tui with {secrets.ENV_VAR} set."
                        + (f"\n\nThe keyring could not be asked: {self.key_info.keyring_problem}"
                           if self.key_info.keyring_problem else ""))
        return self.key_info.key

    def import_sheet(self, path: Path, on_progress: Callable[[int], None] | None = None) -> ImportReport:
        return import_file(path, self.store, self.limits, mode=self.mode, on_progress=on_progress)

    def lookup(self, batch_id: int, on_row: Callable[[int, int, int], None]) -> LookupReport:
        """The lookup pass in an event loop of its own: the UI runs it in a thread worker, so
        the store's fsyncs never stall the screen."""
        key = self._client_key()

        async def go() -> LookupReport:
            async with BuyPowerClient.from_settings(self.settings, key, store=self.store) as client:
                return await lookup_batch(self.store, client, batch_id, on_row)

        return asyncio.run(go())

    def close(self) -> None:
        if self.demo is not None:
            self.demo.close()
        self.ctx.close()
