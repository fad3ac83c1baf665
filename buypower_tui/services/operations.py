"""The application layer: every operation an operator can do, for the CLI and the TUI alike.

It owns the store, the client, the money lock and the event-loop plumbing. Each operation
that talks to BuyPower runs in an event loop of its own (the TUI calls it from a thread
worker, the CLI from its main thread), so neither face assembles core calls itself. Row
edits are in `edits.py`, a run is a `RunControl` (`running.py`). No textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from buypower_tui import secrets
from buypower_tui.core import closing, manual, rows
from buypower_tui.core.health import Health, check_health
from buypower_tui.core.importing import ImportReport, import_file
from buypower_tui.core.lookup import LookupReport, lookup_batch
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.money_lock import MoneyLock, MoneyLockBusy
from buypower_tui.core.plan import Policy, RunPlan, plan_run
from buypower_tui.core.recovery import RecoveryReport, recover, requery_now
from buypower_tui.core.rules import Limits
from buypower_tui.core.store import Store, safe_url
from buypower_tui.services.context import Context
from buypower_tui.services.edits import Edits
from buypower_tui.services.exports import Exports
from buypower_tui.services.reads import Reads
from buypower_tui.services.sheets import Sheets
from buypower_tui.settings import ConfigError

if TYPE_CHECKING:
    from buypower_tui.core.demo import Demo  # the sandbox server: only the demo has it

S = RowState


class NoKey(ConfigError):
    """No API key for the mode (or none may go to this base URL); str() says how to set one."""


@dataclass
class SheetCheck:
    """A sheet read by the import's own rules into a throw-away store (`validate`)."""

    report: ImportReport
    store: Store

    def rows(self, only_invalid: bool = False) -> Iterator[Recipient]:
        return self.store.rows(self.report.batch_id, only_invalid=only_invalid)

    @property
    def duplicates(self) -> dict[str, int]:
        return self.store.duplicate_meters(self.report.batch_id)


@dataclass
class Resolved:
    """What `resolve` did: the rows recorded, and why the others were not."""

    done: list[Recipient] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # row id: why


@dataclass
class Services(Sheets, Edits, Reads, Exports):
    """`face`: who asks, so that a message names the way to fix it there (a command or a key)."""

    ctx: Context
    demo: Demo | None = None
    face: Literal["cli", "tui"] = "tui"

    def __post_init__(self) -> None:
        Edits.__init__(self)
        self.key_info = secrets.KeyInfo("none", None)
        # Why the OS keyring cannot keep a key here (None: it can). In the demo, the real
        # machine's answer, asked before the demo swapped in a keyring held in memory.
        self.keyring_problem: str | None = None
        if self.demo is not None:
            self.ctx.mask_secret(self.demo.key)
        self.closing = False  # the app is leaving: reads stop (see stop_reads)
        self._readers: set[tuple[Any, asyncio.AbstractEventLoop]] = set()
        self._holding = threading.local()  # the money lock this thread holds (see money)
        self._lock_holders: set[int] = set()  # threads of this process that hold it

    # -- what the operation needs, built once --------------------------------------------------

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
    def upgraded(self):
        """What opening the store did to it (None, or an upgrade to say once)."""
        return self.store.upgraded

    @property
    def database_shown(self) -> str:
        """The store's URL with any password hidden."""
        return safe_url(self.ctx.database_url)

    @cached_property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings)

    @cached_property
    def policy(self) -> Policy:
        """The duplicate window, the wallet margin and the requery policy, from the settings once."""
        return Policy.from_settings(self.settings)

    @contextlib.contextmanager
    def money(self, *batch_ids: int) -> Iterator[MoneyLock]:
        """The money lock for the block, holding these batches: one process at a time pays or
        requeries a batch (whichever home opened the store), or a second run would take the
        first one's in-flight rows for crash leftovers; MoneyLockBusy names who holds one.
        (A SQLite store's lock holds every batch; on PostgreSQL other batches are paid at
        once, and what spans batches takes them with `lock.try_claim`.) Nested blocks in one
        thread share it (the CLI holds it from the plan to the end of the run); another thread
        of this process is refused, as another process is."""
        held = getattr(self._holding, "lock", None)
        if held is not None:
            for batch_id in batch_ids:
                held.claim(batch_id)
            yield held
            return
        if self._lock_holders:  # said as it is, not as if another process had it
            raise MoneyLockBusy("this buypower-tui is already paying, checking or requerying from this store; "
                                "wait for that to finish")
        lock = self.store.money_lock(self.paths.data_dir)
        with lock:
            for batch_id in batch_ids:
                lock.claim(batch_id)
            self._holding.lock = lock
            self._lock_holders.add(threading.get_ident())
            try:
                yield lock
            finally:
                self._holding.lock = None
                self._lock_holders.discard(threading.get_ident())

    # -- the key and the client ----------------------------------------------------------------

    def refresh_key(self) -> secrets.KeyInfo:
        """Ask env and keyring again. May block on D-Bus: the TUI calls it before app.run."""
        self.key_info = self.ctx.key(self.mode)
        if self.demo is None:
            self.keyring_problem = self.key_info.keyring_problem
            if self.key_info.source == "env":  # the env answered first: is there a keyring too?
                self.keyring_problem = secrets.keyring_problem(self.mode)
        return self.key_info

    def key_source(self) -> str:
        return "demo (the sandbox's own key, in memory)" if self.demo is not None else self.key_info.source

    def _client_key(self) -> SecretStr:
        if self.demo is not None:
            return SecretStr(self.demo.key)
        if not self.has_key():
            mode, var = self.mode, secrets.ENV_VARS[self.mode]
            how = (f"Press F2 (Settings and API key) to set one, or start buypower-tui with {var} set."
                   if self.face == "tui" else f"Run `buypower-tui key set --env {mode}` or set {var}.")
            problem = self.key_info.keyring_problem
            raise NoKey(f"There is no API key for {mode}. {how}" + (
                f"\n\nThe keyring could not be asked: {problem}" if problem else ""))
        return self.key_info.key

    def has_key(self) -> bool:
        if self.demo is None and self.key_info.key is None:
            self.refresh_key()  # the CLI asks only when a command needs it (a locked keyring may prompt)
        return self.demo is not None or self.key_info.key is not None

    def require_key(self) -> None:
        """NoKey (with how to set one) unless a key for this mode may be used here."""
        problem = self.settings.key_destination_problem
        if problem:
            raise NoKey(problem)
        self._client_key()

    def client(self):
        """A client for the current mode, keeping meter lookups in the store; NoKey says how to
        set a key, or why the base URL may not have this mode's key. Built in the event loop
        that will use it."""
        return self._new_client(self.store)

    def _new_client(self, store: Store | None):
        from buypower_tui.core.client import BuyPowerClient  # httpx and the rest: when first used

        problem = self.settings.key_destination_problem
        if problem:
            raise NoKey(problem)
        return BuyPowerClient.from_settings(self.settings, self._client_key(), store=store)

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[Any]:
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
        """The app is leaving (a hang-up): end the reads in flight now and start no more, so it
        does not linger for a request's whole deadline per row. A cut requery decides nothing:
        the row stays as it was."""
        self.closing = True
        for client, loop in list(self._readers):
            if not loop.is_closed():
                loop.call_soon_threadsafe(client.cut)

    def _stopping(self) -> bool:
        return self.closing

    # -- sheets -----------------------------------------------------------------------------------

    def import_sheet(self, path: Path, *, name: str | None = None, sheet: str | None = None,
                     fix_leading_zeros: bool = False, on_progress: Callable[[int], None] | None = None
                     ) -> ImportReport:
        return import_file(path, self.store, self.limits, name=name, mode=self.mode, sheet=sheet,
                           fix_leading_zeros=fix_leading_zeros, on_progress=on_progress)

    @contextlib.contextmanager
    def check_sheet(self, path: Path, sheet: str | None = None, *, numbered: bool = False,
                    fix_leading_zeros: bool = False) -> Iterator[SheetCheck]:
        """The same pipeline as import, into a throw-away store: one set of rules, flat memory.
        `numbered`: rows keep the numbers of the sheet's "row" column (a corrected export)."""
        with tempfile.TemporaryDirectory(prefix="buypower-validate-") as tmp:
            store = Store.open(f"sqlite:///{Path(tmp) / 'validate.db'}")
            try:
                yield SheetCheck(import_file(path, store, self.limits, sheet=sheet, numbered=numbered,
                                             fix_leading_zeros=fix_leading_zeros), store)
            finally:
                store.close()

    # -- asking BuyPower ----------------------------------------------------------------------------

    def lookup(self, batch_id: int, on_row: Callable[[int, int, int], None]) -> LookupReport:
        async def go() -> LookupReport:
            async with self._reader() as client:
                return await lookup_batch(self.store, client, batch_id, on_row)

        return asyncio.run(go())

    def plan(self, batch_id: int, *, accepting: frozenset[int] | bool = frozenset(), retrying: tuple[int, ...] = (),
             max_total=None, on_row: Callable[[int, int, int], None] | None = None) -> RunPlan:
        """What a run would send (after recovery and the lookup); changes nothing unconfirmed.
        `on_row` follows the lookup (and may stop it by raising)."""
        self.payable_batch(batch_id)

        async def go() -> RunPlan:
            async with self._reader() as client:
                return await plan_run(self.store, client, batch_id, self.policy, accepting=accepting,
                                      retrying=retrying, max_total=max_total, on_row=on_row, stop=self._stopping,
                                      claim=lock.try_claim)

        with self.money(batch_id) as lock:
            try:
                return asyncio.run(go())
            finally:  # the other batches the recovery took go back, or the run would hold them to its end
                lock.keep_only({batch_id})

    def record_left_out(self, plan: RunPlan) -> int:
        """A run that sends nothing (every row over --max-total, or a skipped duplicate): the rows
        it leaves out say so all the same (a run that sends does it when it approves). Returns
        how many rows were noted."""
        from buypower_tui.core.plan import record_left_out

        with self.money(plan.batch_id):
            return record_left_out(self.store, plan)

    def recover(self) -> RecoveryReport:
        """Start-up recovery; without a key, everything but the requery."""
        async def go() -> RecoveryReport:
            if not self.has_key():
                return await recover(self.store, None, policy=self.policy.requery, claim=lock.try_claim)
            async with self._reader() as client:
                return await recover(self.store, client, policy=self.policy.requery, stop=self._stopping,
                                     claim=lock.try_claim)

        with self.money() as lock:
            return asyncio.run(go())

    def requery(self, row_ids: list[int], *, recover_first: bool = False) -> RecoveryReport:
        """Ask BuyPower now about these rows (the operator asked: the budget is not spent);
        `recover_first`: settle what a crash left in flight before."""
        report = RecoveryReport()

        async def go() -> None:
            nonlocal report
            async with self._reader() as client:
                if recover_first:
                    report = await recover(self.store, client, policy=self.policy.requery, stop=self._stopping,
                                           claim=lock.try_claim)
                await requery_now(self.store, client, row_ids, report, policy=self.policy.requery,
                                  stop=self._stopping, claim=lock.try_claim)

        with self.money() as lock:
            asyncio.run(go())
        return report

    def requery_batch(self, batch_id: int | None, on_recovered: Callable[[RecoveryReport], None] | None = None
                      ) -> tuple[RecoveryReport, int]:
        """Recovery (`on_recovered` hears what it did), then every NEEDS_REVIEW row of the batch
        (all batches: None). Returns the report and how many of its `not_reached` came from
        the recovery."""
        report = RecoveryReport()

        async def go() -> int:
            nonlocal report
            async with self._reader() as client:
                report = await recover(self.store, client, policy=self.policy.requery, stop=self._stopping,
                                       claim=lock.try_claim)
                already = len(report.not_reached)
                if on_recovered is not None:
                    on_recovered(report)
                review = rows.ids_in(self.store, batch_id, (S.NEEDS_REVIEW,))
                await requery_now(self.store, client, review, report, policy=self.policy.requery,
                                  stop=self._stopping, claim=lock.try_claim)
                return already

        with self.money(*(() if batch_id is None else (batch_id,))) as lock:
            already = asyncio.run(go())
        return report, already

    def pending(self, batch_id: int) -> list[int]:
        return rows.ids_in(self.store, batch_id, (S.PENDING,))

    def unsettled(self, batch_id: int | None) -> tuple[list[int], list[int]]:
        """(NEEDS_REVIEW rows, rows BuyPower has not settled: pending, sending, marked failed by hand)."""
        return (rows.ids_in(self.store, batch_id, (S.NEEDS_REVIEW,)),
                rows.ids_in(self.store, batch_id, (S.PENDING, S.SENDING), operators_failed=True))

    def health(self) -> Health:
        """Every fact `health` and the dashboard show; a store that does not open is one of them."""
        async def go() -> Health:
            store, problem = None, None
            try:
                store = self.store
            except ConfigError as exc:
                problem = str(exc)
            if self.settings.key_destination_problem:
                raise ConfigError(self.settings.key_destination_problem)
            client = self._new_client(store) if self.has_key() else None
            try:
                return await check_health(store, client, self.key_source(), self.paths.data_dir, problem,
                                          low_wallet=self.settings.low_wallet_threshold)
            finally:
                if client is not None:
                    await client.aclose()

        return asyncio.run(go())

    def metrics(self) -> tuple[Health, str]:
        """The health facts and the store's figures as a Prometheus page (`metrics`)."""
        from buypower_tui.core import metrics  # only for this command

        h = self.health()
        facts = metrics.collect_store(self.store) if h.store_ok else None  # a store that did not open is not retried
        return h, metrics.exposition(h, facts, self.mode)

    # -- settling by hand ----------------------------------------------------------------------------

    def resolve(self, row_ids: list[int], note: str, state: str, token: str | None = None) -> Resolved:
        """NEEDS_REVIEW rows settled by the operator, with a note; never while a requery or a run
        asks BuyPower about them (the money lock)."""
        result = Resolved()
        with self.money(*self._batches_of(row_ids)):
            for row_id in row_ids:
                try:
                    manual.resolve_review(self.store, row_id, note, state, token)
                    result.done.append(rows.get(self.store, row_id))
                except rows.StateConflict as exc:  # settled meanwhile, or a token is there already
                    result.refused[row_id] = str(exc)
        return result

    def close_rows(self, row_ids: list[int], note: str) -> list[rows.RowView]:
        """Close rows that cannot be paid (FAILED by BuyPower's word, LOOKUP_FAILED, INVALID) with
        a note, all or none (closing.Refused names each row refused and why; ValueError: no
        note). Under the money lock: never while a run or a requery asks BuyPower about them."""
        with self.money(*self._batches_of(row_ids)):
            return closing.close_rows(self.store, row_ids, note)

    def reopen_rows(self, row_ids: list[int], note: str) -> list[rows.RowView]:
        """Closed rows back to the state each had before, all or none."""
        with self.money(*self._batches_of(row_ids)):
            return closing.reopen_rows(self.store, row_ids, note)

    def _batches_of(self, row_ids: list[int]) -> list[int]:
        """The batches these rows are in (a row gone is refused by what follows, as before)."""
        found = []
        for row_id in row_ids:
            with contextlib.suppress(rows.StateConflict):
                found.append(rows.get(self.store, row_id).batch_id)
        return sorted(set(found))

    def close(self) -> None:
        if self.demo is not None:
            self.demo.close()
        self.ctx.close()
