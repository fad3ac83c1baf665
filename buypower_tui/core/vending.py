"""The runner: sends a batch's approved rows, requeries pending ones, reports progress.

Money rules it keeps (design.md): the row is committed SENDING before its POST leaves; each
POST is followed by exactly one stored outcome; PENDING is requeried, never re-POSTed
under a new orderId; NOT_SENT is sent again under the same orderId; at most one vend per
meter is in flight; the breaker only pauses sending and never decides a row's fate. Stop
means "after the rows in flight": a request ends with its answer or at its deadline (the
client's), never half-way; only `cut()` (a second Ctrl+C) ends them at once, as PENDING.

A store that stops answering (a write or a read fails: a server restarted, killed or cut off,
which also drops PostgreSQL's money lock) stops the run at once: no row is POSTed unless its
SENDING was committed, the POSTs in flight end, and their answers are stored if the store
answers again by then; what could not be stored stays as the store has it (SENDING) for
recovery to requery. Nothing is guessed. `run()` then raises StoreUnavailable. So does a
money lock found lost (`lock_held`) before a row's SENDING: another process may pay now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from buypower_tui.core import rows, run_endings, run_log
from buypower_tui.core.breaker import BreakerOpen, BreakerState
from buypower_tui.core.client import BuyPowerClient, NotSent
from buypower_tui.core.models import Recipient, RowState, utcnow
from buypower_tui.core.outcomes import ApiError, ConfigurationError, VendResult
from buypower_tui.core.run_progress import PendingRow, Progress, RunOptions, RunResult, StoreUnavailable
from buypower_tui.core.store import Store
from buypower_tui.core.times import clock_time

log = logging.getLogger(__name__)
S = RowState
STORE_LOST, LOCK_LOST = run_endings.STORE_LOST, run_endings.LOCK_LOST
EMIT_EVERY_S = 0.2
REQUERY_PASS_S = 0.2
READ_AHEAD = 64  # PostgreSQL: rows read at once before their SENDING (one read, not one per row)
PENDING_SHOWN = 50  # the pending rows a Progress names during the wait (the soonest requeried first)


class Runner:
    def __init__(self, store: Store, client: BuyPowerClient, batch_id: int, options: RunOptions,
                 on_progress: Callable[[Progress], None] | None = None, only: Collection[int] | None = None,
                 lock_held: Callable[[], bool] | None = None) -> None:
        """`only`: the rows the operator confirmed (RunPlan.to_send); no other row of the batch is
        sent, even one with an orderId (an unaccepted duplicate waits for its own decision).
        None sends every APPROVED / NOT_SENT row of the batch (tests, benches).
        `lock_held`: asked on the store's thread right before each row's SENDING is committed;
        False (or an error) means the money lock is gone (on PostgreSQL its session ended: a
        restart, a network cut, pg_terminate_backend, while the store itself may answer again
        at once): the run stops as when the store stops answering. Keep it cheap."""
        self.store, self.client, self.batch_id, self.opt = store, client, batch_id, options
        self.lock_held = lock_held
        self.only = None if only is None else frozenset(only)
        self.on_progress = on_progress
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()
        self._meter_locks: dict[str, asyncio.Lock] = {}
        self._resume = asyncio.Event()
        self._resume.set()
        self._stopping = False
        self._reading: asyncio.Future | None = None  # the requery waiting for BuyPower, if one is
        self._probe_lock = asyncio.Lock()
        self._started = time.monotonic()
        self._balance_read_at = utcnow()  # rows of other batches paid since moved the wallet too (team mode)
        self._balance_after_at = utcnow()  # ... until the balance after the run was read
        self._to_send: set[int] = set()  # rows this run sends
        self._answered: set[int] = set()  # of those, rows whose POST got an answer (`sent`)
        self._tried: set[int] = set()  # rows POSTed by this run, whatever the answer
        self._resent = 0  # POSTs of a row already POSTed by this run
        self._wait_ends: float | None = None  # monotonic: when the wait for pending rows ends
        self._wait_ends_at: datetime | None = None  # the same, on the wall clock (for the screens)
        self._wait_over = False  # the wait ended: nothing more is requeried or queued again
        self._waiting: str | None = None
        self._last_error: str | None = None
        self._fatal: str | None = None
        self._succeeded: list[int] = []
        self._paid = Decimal(0)  # successes of rows POSTed by this run: the wallet's expected move
        self._posted: set[int] = set()
        self._last_emit = 0.0
        self._held: asyncio.TimerHandle | None = None  # a report held back by the rate of reports
        self._in_flight = 0
        self._meter_of: dict[int, str] = {}  # row id -> meter, for the per-meter locks
        self._queued: list[int] = []  # the rows to send, in the order first queued
        self._place: dict[int, int] = {}  # row id -> its place there
        self._known: dict[int, rows.RowView] = {}  # rows read ahead of their SENDING (store thread only)
        self._changed = asyncio.Event()  # a row finished: the requery loop looks again
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer",
                                      initializer=store.keep_connection)
        self._halted_by: str | None = None  # STORE_LOST or LOCK_LOST: sending stopped
        self._store_error: str | None = None  # and what the store (or the lock) said
        self._unstored: set[int] = set()  # rows POSTed whose answer could not be stored: still SENDING there
        self._unsent: set[int] = set()  # rows marked SENDING, never POSTed, that could not be put back
        self._over = False  # the last report (finished) was made
        self._counts: dict[str, int] = {}  # the last counts the store gave (for reports once it is gone)

    # -- control (from the UI, signal handlers) -----------------------------------------------------

    def pause(self) -> None:
        self._resume.clear()
        self._emit(force=True)

    def resume(self) -> None:
        self._resume.set()
        self._emit(force=True)

    def stop(self) -> None:
        """Stop after the rows in flight: nothing new is sent or requeried. A requery waiting for
        BuyPower is given up now (a read: the row stays PENDING); a POST ends with its answer."""
        self._stopping = True
        self._resume.set()
        if self._reading is not None:
            self._reading.cancel()

    def cut(self) -> None:
        """Stop now: end the requests in flight at once. Their rows become PENDING (each request
        may have reached BuyPower) and are requeried later; none is sent again under a new order."""
        self.stop()
        self.client.cut()

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- the run --------------------------------------------------------------------------------

    async def run(self, balance_before: Decimal | None = None, read_at: datetime | None = None) -> RunResult:
        """`balance_before`: the wallet balance the pre-flight read, if it just did (at `read_at`)."""
        result = RunResult(progress=self._progress(False), balance_before=balance_before)
        if read_at is not None:
            self._balance_read_at = read_at
        if balance_before is None:
            try:
                result.balance_before = await self.client.wallet_balance()
            except (ApiError, BreakerOpen, ConfigurationError) as exc:
                log.warning("balance before the run unknown: %s", exc)
        try:
            for row in self.store.rows(self.batch_id):
                if row.state in rows.SENDABLE and self._confirmed(row.id):
                    self._meter_of[row.id] = row.meter or ""
                    self._place[row.id] = len(self._queued)
                    self._queued.append(row.id)
                    self._queue.put_nowait(row.id)
        except SQLAlchemyError as exc:
            self._meter_of.clear()
            self._lose_store(exc)
        self._to_send = set(self._meter_of)
        # Two workers more than the client's request cap: while some wait for BuyPower, the
        # extra ones do the row's database work, so the cap stays full. Requests in flight
        # are still capped by the client at `concurrency`.
        workers = [asyncio.create_task(self._worker()) for _ in range(max(1, self.opt.concurrency) + 2)]
        requeries = asyncio.create_task(self._requery_loop())
        try:
            await requeries
            for _ in workers:
                self._queue.put_nowait(None)  # one "the run is over" for each worker
            await asyncio.gather(*workers)
        finally:
            for task in [*workers, requeries]:
                task.cancel()  # a no-op when they ended normally; stops them after an exception
            self._db.submit(self.store.release_connection)
            self._db.shutdown(wait=True)
        result.succeeded = self._succeeded
        result.error = self._fatal
        try:
            # A stopped run waits at most one request's deadline for the balance (not the read's
            # retries): whoever stopped it, maybe because BuyPower hangs, wants it to end.
            async with asyncio.timeout(self.client.deadline if self._stopping else None):
                result.balance_after = await self.client.wallet_balance()
                self._balance_after_at = utcnow()
        except (ApiError, BreakerOpen, ConfigurationError, TimeoutError) as exc:
            log.warning("balance after the run unknown: %s", exc or "no answer in time")
        try:
            result.reconciliation = self._reconcile(result)
        except SQLAlchemyError as exc:
            self._lose_store(exc)
            result.reconciliation = None
        try:  # kept for the month's report; the run itself is over and recorded row by row
            run_log.record_run(self.store, self.batch_id, result.balance_before, result.balance_after,
                               self._paid, len(self._succeeded), self._posted)
        except Exception as exc:  # noqa: BLE001 - a report's figure is not worth failing a finished run
            log.warning("the run's wallet figures were not kept for the report: %s", exc)
        result.progress = self._progress(True)
        self._over = True
        self._emit(force=True, finished=True)
        if self._halted_by is not None:
            result.error = self._store_message()
            raise StoreUnavailable(result.error, result)
        return result

    async def _worker(self) -> None:
        while True:
            await self._resume.wait()
            if self._stopping:
                return
            row_id = await self._queue.get()
            if row_id is None:  # the requery loop says the run is over
                return
            self._in_flight += 1
            try:
                if not await self._breaker_closed():
                    if not self._wait_over:  # stopping: it stays in the queue, unsent
                        self._queue.put_nowait(row_id)
                    continue
                lock = self._meter_locks.setdefault(self._meter_of[row_id], asyncio.Lock())
                async with lock:  # at most one vend in flight per meter
                    await self._send_one(row_id)
            finally:
                self._in_flight -= 1
                self._changed.set()

    async def _send_one(self, row_id: int) -> None:
        if self._halted_by is not None:  # the store stopped answering: nothing more is sent
            return
        try:
            row = await self._write(self._mark_sending, row_id)
            self._posted.add(row_id)
        except rows.StateConflict as exc:  # another process moved it: not ours to send
            log.info("skipped: %s", exc)
            if row_id not in self._answered:
                self._to_send.discard(row_id)
            return
        except SQLAlchemyError as exc:  # SENDING not known to be committed: it is never POSTed
            self._lose_store(exc)
            return
        except _LockLost as exc:  # not marked: it stays as it was
            self._halt(LOCK_LOST, str(exc))
            return
        try:
            result = await self.client.vend(row.order_id, row.meter, row.disco, row.amount, row.phone,
                                            vend_type=row.vend_type or "PREPAID", name=row.name, email=row.email,
                                            go_ahead=lambda: not self._stopping)
        except NotSent as exc:  # stop was pressed while it queued behind the cap: it stays approved
            self._posted.discard(row_id)
            await self._unsend(row_id, str(exc))
            return
        except BreakerOpen as exc:  # refused before anything was sent
            if await self._unsend(row_id, str(exc)) and not self._wait_over:
                self._queue.put_nowait(row_id)
            return
        except ConfigurationError as exc:  # a 401: BuyPower did not process it
            await self._unsend(row_id, str(exc))
            self._fail_run(str(exc))
            return
        except Exception as exc:  # a bug: leave the row SENDING for recovery to requery
            log.exception("vend of row %s", row_id)
            self._fail_run(f"unexpected error while sending row {row.row_number}: {exc}")
            return
        if row_id in self._tried:
            self._resent += 1
        self._tried.add(row_id)
        state = await self._store_result(row_id, result, requery=False, known=row)
        if state != S.NOT_SENT:
            self._answered.add(row_id)
        elif not self._stopping and not self._wait_over:
            self._queue.put_nowait(row_id)  # the request never left: again, same orderId
        self._emit()

    async def _write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a store write on the one store thread: SQLite's commit (an fsync) releases the
        GIL there, so other rows' requests go on meanwhile; one thread keeps writes in order."""
        return await asyncio.get_running_loop().run_in_executor(self._db, partial(fn, *args, **kwargs))

    def _mark_sending(self, row_id: int) -> rows.RowView:
        """On the store's thread: the lock is asked, then the row is committed SENDING."""
        if self.lock_held is not None:
            try:
                held = self.lock_held()
            except Exception as exc:  # noqa: BLE001 - a lock that cannot say it is held is not held
                raise _LockLost(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
                                ) from exc
            if not held:
                raise _LockLost("its database session ended")
        if row_id not in self._known and row_id in self._place:  # this row and the next ones: one read
            at = self._place[row_id]
            self._known = rows.versions(self.store, self._queued[at:at + READ_AHEAD])
        return rows.mark_sending(self.store, row_id, known=self._known.pop(row_id, None))

    async def _unsend(self, row_id: int, reason: str) -> bool:
        """SENDING -> APPROVED / NOT_SENT: the POST never left. False when the store did not
        answer: the row stays SENDING there, and recovery finds BuyPower never received it."""
        try:
            await self._write(rows.unsend, self.store, row_id, reason)
        except SQLAlchemyError as exc:
            self._unsent.add(row_id)
            self._lose_store(exc)
            return False
        return True

    def _lose_store(self, exc: SQLAlchemyError) -> None:
        """The store stopped answering: stop sending now (the POSTs in flight end with their
        answers, stored if it answers again by then). On PostgreSQL a lost server has also let
        go of the money lock, so another process may start paying: nothing more goes out."""
        said = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        self._halt(STORE_LOST, f"{type(getattr(exc, 'orig', None) or exc).__name__}: {said[0] if said else ''}")

    def _halt(self, what: str, detail: str) -> None:
        if self._halted_by is not None:
            return
        self._halted_by, self._store_error = what, detail[:200]
        log.error("%s (batch %s): %s; sending stopped", what, self.batch_id, self._store_error)
        self._last_error = self._halted(False)
        self.stop()
        with contextlib.suppress(RuntimeError):  # told at once (not from inside a report being made)
            asyncio.get_running_loop().call_soon(self._emit, True)

    def _halted(self, finished: bool) -> str | None:
        if self._halted_by is None:
            return None
        if finished:
            return self._store_message()
        return f"{run_endings.why(self._halted_by, self._store_error)}: sending stopped; the rows in flight end"

    def _store_message(self) -> str:
        return run_endings.halted_message(self._halted_by, self._store_error, sent=len(self._tried),
                                          unstored=len(self._unstored), unsent=len(self._unsent))

    async def _store_result(self, row_id: int, result: VendResult, *, requery: bool,
                            known: rows.RowView | None = None) -> str:
        try:
            row = await self._write(rows.record_result, self.store, row_id, result, requery=requery,
                                    policy=self.opt.requery, known=known)
        except rows.StateConflict as exc:  # settled meanwhile by someone else: theirs stands
            log.warning("result of row %s not stored: %s", row_id, exc)
            try:
                return rows.get(self.store, row_id).state
            except SQLAlchemyError as lost:
                self._lose_store(lost)
                return S.SENDING
        except SQLAlchemyError as exc:  # not stored: the row stays as the store has it, for recovery
            self._lose_store(exc)
            log.warning("the answer for row %s was not stored (%s): %s; recovery requeries it", row_id,
                        result.outcome.value, result.message[:200])
            if not requery:
                self._unstored.add(row_id)
            return S.SENDING if not requery else S.PENDING
        if row.state == S.SUCCESS:
            self._succeeded.append(row_id)
            if row_id in self._posted:  # paid by a POST of this run (not settled from an earlier one)
                self._paid += row.amount
        elif row.state in (S.FAILED, S.NEEDS_REVIEW, S.PENDING):
            said = row.provider_message or result.message
            # a 202's message can be "Successful transaction": PENDING — that read as paid
            self._last_error = (f"row {row.row_number}: PENDING, not settled yet (BuyPower said: {said})"
                                if row.state == S.PENDING else f"row {row.row_number}: {row.state} — {said}")
        return row.state

    def _confirmed(self, row_id: int) -> bool:
        return self.only is None or row_id in self.only

    def _fail_run(self, message: str) -> None:
        self._fatal = self._last_error = message
        self.stop()

    async def _breaker_closed(self) -> bool:
        """Wait while the breaker is open; probe it (a read) when half-open. Not past the end
        of the wait for pending rows: a row sent again then stays NOT_SENT (v sends it)."""
        while not self._stopping and not self._wait_over:
            snap = self.client.breaker.snapshot()
            if snap.state is BreakerState.CLOSED:
                self._set_waiting(None)
                return True
            if snap.state is BreakerState.OPEN:
                at = clock_time(snap.next_probe_at or time.time())
                self._set_waiting(f"BuyPower unavailable (circuit open): retrying at {at}")
                await asyncio.sleep(max(0.05, min(1.0, (snap.next_probe_at or 0) - time.time())))
                continue
            async with self._probe_lock:
                if self.client.breaker.state is BreakerState.HALF_OPEN:
                    self._set_waiting("BuyPower unavailable: probing with a status check")
                    await self.client.probe()
        return False

    def _set_waiting(self, reason: str | None) -> None:
        if reason != self._waiting:
            self._waiting = reason
            self._emit(force=True)

    async def _requery_loop(self) -> None:
        try:
            await self._requery_passes()
        except SQLAlchemyError as exc:  # the store stopped answering: the run ends
            self._lose_store(exc)

    async def _requery_passes(self) -> None:
        """Requery due PENDING rows while sending goes on. Once every row has been sent (nothing
        queued, nothing in flight), the wait for pending rows starts, once, and lasts
        `wait_pending` seconds: due rows are requeried, and a row a requery finds BuyPower never
        received is sent again under its orderId, which does not start the wait again. It ends
        sooner when no row is pending, or when every pending row's next requery falls after it.
        A requery in flight when it ends is given up (a read: the row stays PENDING and due, for
        the failed/pending view or the next start); a POST in flight ends with its answer."""
        last_pass = -1.0
        while not self._stopping:
            await self._resume.wait()
            # While rows are being sent each one that finishes wakes this loop; nothing falls due
            # that often (requeries are seconds apart), so the store is asked at most every
            # REQUERY_PASS_S then, and at once when the last row in flight is done.
            since = time.monotonic() - last_pass
            if since < REQUERY_PASS_S and not (self._queue.empty() and self._in_flight == 0):
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), REQUERY_PASS_S - since)
                continue
            last_pass = time.monotonic()
            # on the store thread: a read on the event loop would hold up every request meanwhile
            for row_id in await self._write(rows.due_requeries, self.store, self.batch_id):
                if self._stopping or self._wait_passed():
                    break
                await self._requery_one(row_id)
            if self._stopping:
                return
            idle = self._queue.empty() and self._in_flight == 0
            starts = idle and self._wait_ends is None
            if starts:
                self._wait_ends = time.monotonic() + self.opt.wait_pending
                self._wait_ends_at = datetime.now(UTC) + timedelta(seconds=self.opt.wait_pending)
            nxt = await self._write(rows.next_due, self.store, self.batch_id)  # None: no row is pending
            if nxt is not None and nxt.tzinfo is None:
                nxt = nxt.replace(tzinfo=UTC)  # SQLite hands UTC back without its zone
            if self._wait_passed() or (idle and self._wait_ends_at is not None
                                       and (nxt is None or nxt > self._wait_ends_at)):
                self._wait_over = True  # rows queued again are still sent; none is queued after this
                self._emit(force=True)
                return
            if starts:
                self._emit(force=True)
            wait = 0.2 if nxt is None else (nxt - datetime.now(UTC)).total_seconds()
            if self._wait_ends is not None:
                wait = min(wait, self._wait_ends - time.monotonic())
            self._changed.clear()
            with contextlib.suppress(TimeoutError):  # until a row is done or a requery is due
                await asyncio.wait_for(self._changed.wait(), min(max(wait, 0.02), 0.2))

    def _wait_passed(self) -> bool:
        return self._wait_ends is not None and time.monotonic() >= self._wait_ends

    async def _requery_one(self, row_id: int) -> None:
        row = rows.get(self.store, row_id)
        if row.state not in rows.REQUERYABLE and not rows.is_operator_failed(row):
            return
        left = None if self._wait_ends is None else max(self._wait_ends - time.monotonic(), 0.0)
        self._reading = reading = asyncio.ensure_future(
            self.client.requery(row.order_id, vend_type=row.vend_type or "PREPAID", sent_at=row.sent_at))
        try:
            async with asyncio.timeout(left):  # the wait's end: a read, given up
                result = await reading
        except TimeoutError:
            log.info("requery of row %s given up: the wait for pending rows ended", row.row_number)
            return
        except asyncio.CancelledError:
            if reading.cancelled() and self._stopping and not asyncio.current_task().cancelling():
                log.info("requery of row %s given up: the run was stopped", row.row_number)
                return  # stop() cancelled the read alone
            raise
        except BreakerOpen:
            return  # try again on a later pass
        except ConfigurationError as exc:
            self._fail_run(str(exc))
            return
        finally:
            self._reading = None
        state = await self._store_result(row_id, result, requery=True)
        if state == S.NOT_SENT and not self._stopping and self._confirmed(row_id):
            self._to_send.add(row_id)  # it never reached BuyPower: send it again, same orderId
            self._meter_of[row_id] = row.meter or ""
            self._queue.put_nowait(row_id)
        self._emit()

    # -- reporting ------------------------------------------------------------------------------

    def _progress(self, finished: bool) -> Progress:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        sent = len(self._answered & self._to_send)
        rate = sent / elapsed
        left = max(len(self._to_send) - sent, 0)
        waiting = self._wait_ends_at is not None and not finished and not self._wait_over
        pending: tuple[PendingRow, ...] = ()
        if self._halted_by != STORE_LOST:
            try:
                self._counts = dict(self.store.stats(self.batch_id).by_state)
                pending = self._pending_rows() if waiting else ()
            except SQLAlchemyError as exc:
                self._lose_store(exc)
        return Progress(
            counts=dict(self._counts), to_send=len(self._to_send), sent=sent,
            vends_per_s=rate, eta_s=(left / rate) if rate > 0 else None,
            breaker=self.client.breaker.snapshot(), waiting=self._waiting, last_error=self._last_error,
            paused=not self._resume.is_set(), finished=finished, resent=self._resent,
            wait_ends_at=self._wait_ends_at if waiting else None, pending=pending,
            halted=self._halted(finished))

    def _pending_rows(self) -> tuple[PendingRow, ...]:
        """The batch's PENDING rows and their next requery, soonest first (one small query)."""
        with self.store.session() as s:
            found = s.exec(select(Recipient.row_number, Recipient.meter, Recipient.next_requery_at)
                           .where(Recipient.batch_id == self.batch_id, Recipient.state == S.PENDING)
                           .order_by(col(Recipient.next_requery_at), col(Recipient.row_number))
                           .limit(PENDING_SHOWN)).all()
        return tuple(PendingRow(n, meter or "", at if at is None or at.tzinfo else at.replace(tzinfo=UTC))
                     for n, meter, at in found)

    def _emit(self, force: bool = False, finished: bool = False) -> None:
        """At most five reports a second; one held back is sent when the 0.2 s are up, so the
        last change before a quiet spell is never left unreported (screens only listen)."""
        if self.on_progress is None or (self._over and not finished):  # nothing after the last report
            return
        wait = self._last_emit + EMIT_EVERY_S - time.monotonic()
        if not force and wait > 0:
            if self._held is None:
                self._held = asyncio.get_running_loop().call_later(wait, self._emit_held)
            return
        if self._held is not None:
            self._held.cancel()
            self._held = None
        self._last_emit = time.monotonic()
        self.on_progress(self._progress(finished))

    def _emit_held(self) -> None:
        self._held = None
        self._emit(force=True)

    def _reconcile(self, result: RunResult) -> str | None:
        return run_endings.reconcile(self.store, self.batch_id, result, self._paid, self._posted,
                                     self._balance_read_at, self._balance_after_at)


class _LockLost(Exception):
    """`lock_held` said no (or could not say): the row is not marked, nothing more is sent."""
