"""The App's handle on the core: settings, paths, the store, the key, and the calls that
need more than one of them. No textual here: what the screens do, a test can do too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from buypower_tui import secrets
from buypower_tui.context import Context
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.demo import Demo
from buypower_tui.core.health import Health, check_health
from buypower_tui.core.importing import ImportReport, import_file
from buypower_tui.core.lookup import LookupReport, lookup_batch
from buypower_tui.core.money_lock import MoneyLock
from buypower_tui.core.plan import Policy, RunPlan, batch_problem, plan_run
from buypower_tui.core.recovery import RecoveryReport, recover, requery_now
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
        self.closing = False  # the app is leaving: reads stop (see stop_reads)
        self._readers: set[tuple[BuyPowerClient, asyncio.AbstractEventLoop]] = set()

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

    def money_lock(self) -> MoneyLock:
        return self.store.money_lock(self.paths.data_dir)

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
                        f"or start buypower-tui with {secrets.ENV_VARS[self.mode]} set."
                        + (f"\n\nThe keyring could not be asked: {self.key_info.keyring_problem}"
                           if self.key_info.keyring_problem else ""))
        return self.key_info.key

    def import_sheet(self, path: Path, on_progress: Callable[[int], None] | None = None) -> ImportReport:
        return import_file(path, self.store, self.limits, mode=self.mode, on_progress=on_progress)

    def client(self) -> BuyPowerClient:
        """A client for the current mode; NoKey says how to set one, or why the base URL may
        not have this mode's key. Build it in the event loop that will use it."""
        problem = self.settings.key_destination_problem
        if problem:
            raise NoKey(problem)
        return BuyPowerClient.from_settings(self.settings, self._client_key(), store=self.store)

    @property
    def policy(self) -> Policy:
        return Policy.from_settings(self.settings)

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[BuyPowerClient]:
        """A client for the work that only reads from BuyPower (lookup, recovery, requery, the
        plan, health): `stop_reads` may cut it. Never the run's: a vend is not cut here."""
        async with self.client() as client:
            entry = (client, asyncio.get_running_loop())
            self._readers.add(entry)
            try:
                yield client
            finally:
                self._readers.discard(entry)

    def stop_reads(self) -> None:
        """The app is leaving (a hang-up): end the reads in flight now and start no more, so
        it does not linger for a request's whole deadline per row. A cut requery decides
        nothing: the row stays as it was."""
        self.closing = True
        for client, loop in list(self._readers):
            if not loop.is_closed():
                loop.call_soon_threadsafe(client.cut)

    def _stopping(self) -> bool:
        return self.closing

    # Each of these runs in a thread worker, in an event loop of its own, so the store's
    # fsyncs and BuyPower's answers never stall the screen.

    def lookup(self, batch_id: int, on_row: Callable[[int, int, int], None]) -> LookupReport:
        async def go() -> LookupReport:
            async with self._reader() as client:
                return await lookup_batch(self.store, client, batch_id, on_row)

        return asyncio.run(go())

    def plan(self, batch_id: int, *, accepting: frozenset[int] = frozenset(), retrying: tuple[int, ...] = (),
             on_row: Callable[[int, int, int], None] | None = None) -> RunPlan:
        """What a run would send (after recovery and the lookup); changes nothing unconfirmed.
        `on_row` follows the lookup (and may stop it by raising)."""
        problem = batch_problem(self.store, batch_id, self.mode)
        if problem:
            raise ValueError(problem)

        async def go() -> RunPlan:
            async with self._reader() as client:
                return await plan_run(self.store, client, batch_id, self.policy, accepting=accepting,
                                      retrying=retrying, on_row=on_row, stop=self._stopping)

        with self.money_lock():
            return asyncio.run(go())

    def recover(self) -> RecoveryReport:
        """Start-up recovery; without a key, everything but the requery."""
        p = self.policy

        async def go() -> RecoveryReport:
            if self.demo is None and self.key_info.key is None:
                return await recover(self.store, None, policy=p.requery)
            async with self._reader() as client:
                return await recover(self.store, client, policy=p.requery, stop=self._stopping)

        with self.money_lock():
            return asyncio.run(go())

    def requery(self, row_ids: list[int]) -> RecoveryReport:
        """Ask BuyPower now about these rows (the operator asked: the budget is not spent)."""
        p, report = self.policy, RecoveryReport()

        async def go() -> None:
            async with self._reader() as client:
                await requery_now(self.store, client, row_ids, report, policy=p.requery, stop=self._stopping)

        with self.money_lock():
            asyncio.run(go())
        return report

    def health(self) -> Health:
        async def go() -> Health:
            try:
                client = self.client()
            except NoKey:
                client = None
            try:
                source = "demo (the sandbox's own key, in memory)" if self.demo else self.key_info.source
                return await check_health(self.store, client, source, self.paths.data_dir)
            finally:
                if client is not None:
                    await client.aclose()

        return asyncio.run(go())

    def close(self) -> None:
        if self.demo is not None:
            self.demo.close()
        self.ctx.close()
