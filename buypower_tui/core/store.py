"""The SQLite (or any SQLAlchemy) store: engine set-up, batches, rows, events, statistics.

SQLite is opened in WAL mode with synchronous=FULL so that a committed state change
survives a crash or power cut, and every transaction starts with BEGIN IMMEDIATE so that
a read-then-write never fails half-way with SQLITE_BUSY (see reliability-notes §5).
"""

from __future__ import annotations

import getpass
import os
import pwd
import select as io_select
import socket
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, func, insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col, create_engine, select

from buypower_tui.core import approval, schema
from buypower_tui.core.models import Batch, Event, Recipient, RowState, from_kobo, utcnow
from buypower_tui.core.money_lock import MoneyLock, PgMoneyLock, lock_path, pg_approval, pg_batches_held, sqlite_file
from buypower_tui.paths import create_private_file, ensure_dir, existing_file


def operator_name() -> str:
    """Who did it, for the event history and two-person approval: OS user@host. The user the
    process runs as (its uid's name), not $USER or $LOGNAME, which anyone may set to another's."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a name (containers): the login name, if any
        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - still record something honest
            user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def safe_url(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: it holds no password structure to hide
        return url


class NotAStore(OSError):
    """The database path holds something other than a buypower-tui store; it is left untouched."""


# Every table of a store, with columns that only ours have: another program's `batch` table is
# not ours (it would get our tables added, then fail).
OUR_COLUMNS = {"batch": {"id", "name", "mode", "imported_at"},
               "recipient": {"id", "batch_id", "row_number", "state", "meter", "amount_kobo", "order_id", "token"},
               "event": {"id", "recipient_id", "batch_id", "operator", "old_state", "new_state"},
               "meterlookup": {"meter", "disco", "vend_type", "info"}}


def make_engine(url: str) -> tuple[Engine, schema.Upgrade | None]:
    """The engine of a store at the app's schema (created, stamped or upgraded: schema.py),
    and what was done to get it there."""
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if (path := sqlite_file(parsed)) is not None:  # a plain path or a file: URI alike
        _prepare_sqlite_file(path)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":  # a server over a network: never wait without end
        # TCP keepalives and tcp_user_timeout (libpq's, in ms): a network cut ends a connection
        # in about 30 s, so that a run stops sending rather than wait on it for ever
        options = {"pool_pre_ping": True, "pool_timeout": 10, "connect_args": {
            "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
            "keepalives_count": 3, "tcp_user_timeout": 30_000}}
    engine = create_engine(url, **options)
    if is_sqlite:
        _sqlite_pragmas(engine)
    try:
        return engine, schema.bring_up_to_date(engine, str(path) if path else safe_url(url), path)
    except BaseException:
        engine.dispose()
        raise


def _prepare_sqlite_file(path: Path) -> None:
    """An existing file must be one of our stores; a new path becomes a complete, empty store
    at once, so that an empty file can only mean damage (a crash between creating the file
    and its tables would otherwise leave one behind)."""
    if existing_file(path) is None:  # raises NotARegularFile for a link, a device, a folder, a FIFO
        _create_store_file(path)
    _check_is_store(path)
    schema.check_not_newer(str(path), schema.sqlite_revision(path))  # before anything writes to it
    create_private_file(path)  # 0600, as SQLite's -wal/-shm files will be


def is_store_file(path: Path) -> bool:
    """False: nothing there yet. True: one of our stores. Raises NotAStore / NotARegularFile
    for anything else there (an empty file, a foreign database, a link, a device)."""
    if existing_file(path) is None:
        return False
    _check_is_store(path)
    return True


def _check_is_store(path: Path) -> None:
    remedy = "restore the store from a backup, or choose another --db (a new path makes a new store)"
    if path.stat().st_size == 0:
        raise NotAStore(f"{path} is an empty file (0 bytes), not a buypower-tui store (truncated?): {remedy}")
    try:  # a plain look, without our pragmas: a foreign database is not changed by it
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=5)) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            ours = {t: {c[1] for c in db.execute(f"PRAGMA table_info({t})")} for t in OUR_COLUMNS if t in tables}
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname != "SQLITE_NOTADB":
            raise OSError(str(exc)) from None
        raise NotAStore(f"{path} is not a SQLite database, so not a buypower-tui store: {remedy}") from None
    foreign = [t for t, columns in ours.items() if not columns >= OUR_COLUMNS[t]]
    if not ours or foreign:
        what = f"tables of its own ({', '.join(sorted(tables)[:5])})" if tables else "no tables"
        raise NotAStore(f"{path} is a SQLite database with {what}, not a buypower-tui store, and was left "
                        "untouched: choose another --db (a new path makes a new store)")
    if missing := sorted(set(OUR_COLUMNS) - set(ours)):
        raise NotAStore(f"{path} is a damaged buypower-tui store: its {', '.join(missing)} table is missing "
                        f"(the history of payments would be lost). It was left untouched: {remedy}")


def _create_store_file(path: Path) -> None:
    """Build the tables in a private temporary file beside `path`, then link it into place
    (a link never replaces a store another process made meanwhile)."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    os.close(fd)
    try:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(tmp)
            conn.execute("PRAGMA synchronous=OFF")  # one fsync below instead of one per table
            return conn

        engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)
        with engine.begin() as connection:
            schema.create(connection)
        engine.dispose()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        with suppress(FileExistsError):  # another process made it first: checked as any existing file
            os.link(tmp, path)
    finally:
        with suppress(OSError):
            os.unlink(tmp)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        # SQLite's lower() folds ASCII only: searches fold names like "Émile" or "Straße" with Python's rules
        dbapi_conn.create_function("casefold", 1, _casefold, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _idle_and_open(conn: Connection) -> bool:
    """An idle connection's socket has nothing to read until the server ends the session (it says
    why, then closes): checked so, without a round trip, before a kept connection is used again.
    A restarted or terminated session is then replaced before anything is sent on it, as the
    pool's ping would have; a connection cut without a word is still found by its first
    statement (and TCP's timeouts)."""
    try:
        readable, _, _ = io_select.select([conn.connection.dbapi_connection.fileno()], [], [], 0)
    except (SQLAlchemyError, OSError, ValueError, AttributeError):  # closed, invalidated
        return False
    return not readable


def _casefold(text: str | None) -> str | None:
    return text.casefold() if isinstance(text, str) else text


@dataclass
class Store:
    engine: Engine
    upgraded: schema.Upgrade | None = None  # what opening it did to its schema (told once, at start)
    _kept: threading.local = field(default_factory=threading.local, init=False, repr=False)

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(*make_engine(url))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection on which each statement commits on its own (PostgreSQL's one-statement
        transitions, rows.py): the one this thread keeps (`keep_connection`), else the pool's."""
        if not getattr(self._kept, "wanted", False):
            with self.engine.connect() as conn:
                yield conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        conn = getattr(self._kept, "conn", None)
        if conn is not None and not _idle_and_open(conn):  # the server ended it (a restart, a kill)
            self.release_connection()
            self._kept.wanted, conn = True, None
        if conn is None:  # checked out (and pinged) once, then no pool and no ping per statement
            conn = self._kept.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield conn
        except SQLAlchemyError:  # maybe lost: the next statement gets a new one from the pool
            self.release_connection()
            self._kept.wanted = True
            raise

    def keep_connection(self) -> None:
        """From now on this thread keeps one connection for `autocommit` (a run's store thread:
        a pool's checkout and ping cost as much as the statement) until `release_connection`."""
        self._kept.wanted = True

    def release_connection(self) -> None:
        conn, self._kept.conn, self._kept.wanted = getattr(self._kept, "conn", None), None, False
        if conn is not None:
            with suppress(SQLAlchemyError):
                conn.close()

    @cached_property
    def operator(self) -> str:
        """Who does what this process does, for every event and the money lock: on PostgreSQL
        the database role it logs in as (each operator has their own login, so the history names
        the person, whoever the OS user is), else the OS user; @ this machine."""
        if self.engine.dialect.name != "postgresql":
            return operator_name()
        with self.engine.connect() as conn:
            role = conn.exec_driver_sql("SELECT current_user").scalar()
        return f"{role}@{socket.gethostname()}"

    def money_lock(self, data_dir: Path) -> MoneyLock:
        """The lock a process holds while it pays or requeries from this database."""
        if self.engine.dialect.name == "postgresql":
            return PgMoneyLock(self.engine, self.operator)
        return MoneyLock(lock_path(self.engine.url, data_dir), self.operator)

    def approval(self) -> AbstractContextManager[None]:
        """Hold for a duplicate check and the approval it allows. On PostgreSQL, one at a time in
        the database (batches are paid at once there); a SQLite store's money lock already
        holds the whole store."""
        return pg_approval(self.engine) if self.engine.dialect.name == "postgresql" else nullcontext()

    def batches_held(self) -> dict[int, str]:
        """Batches another process is paying or requerying now (PostgreSQL), and who: batch id
        -> "operator, pid, since". Empty for a SQLite store, whose lock holds the whole store."""
        if self.engine.dialect.name != "postgresql":
            return {}
        return pg_batches_held(self.engine)

    # -- batches -------------------------------------------------------------------

    def create_batch(self, name: str, source_file: str | None, mode: str) -> Batch:
        with self.session() as s:
            batch = Batch(name=name, source_file=source_file, mode=mode, prepared_by=approval.encode([self.operator]),
                          prepared_at=utcnow())  # who prepared it (core/approval.py)
            s.add(batch)
            s.flush()
            s.add(Event(batch_id=batch.id, operator=self.operator,
                        note=f"batch created from {source_file or 'nothing'}"))
            s.commit()
            return batch

    def db_value(self, column: str, value: Any) -> Any:
        """`value` as `insert_rows` wants it for `column` of the recipient table."""
        if value is None or self.engine.dialect.name != "sqlite":
            return value
        dialect = self.engine.dialect
        proc = Recipient.__table__.c[column].type.dialect_impl(dialect).bind_processor(dialect)
        return proc(value) if proc else value

    def insert_rows(self, columns: Sequence[str], rows: list[tuple[Any, ...]], *, durable: bool = True) -> None:
        """Bulk insert of rows whose values went through `db_value`, in one transaction.

        On SQLite the rows go straight to the driver's executemany: SQLAlchemy's per-value
        processing tripled the time of a 100,000-row import. `durable=False` relaxes fsync
        for this transaction only: imported rows can be imported again, unlike a money
        state change, and WAL stays consistent either way.
        """
        if not rows:
            return
        table = Recipient.__table__
        if self.engine.dialect.name != "sqlite":
            with self.engine.begin() as conn:
                conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
            return
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        raw = self.engine.raw_connection()  # PRAGMA synchronous cannot change inside a transaction
        try:
            cur = raw.cursor()
            if not durable:
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany(sql, rows)
                cur.execute("COMMIT")
            except BaseException:
                if raw.driver_connection.in_transaction:  # a failed COMMIT (disk full) has rolled back already
                    cur.execute("ROLLBACK")
                raise
            finally:
                if not durable:
                    cur.execute("PRAGMA synchronous=FULL")
                cur.close()
        finally:
            raw.close()

    def rows_with_order(self, batch_id: int) -> int:
        """Rows that have an orderId: they may have moved money."""
        with self.session() as s:
            return s.exec(select(func.count()).where(Recipient.batch_id == batch_id,
                                                     col(Recipient.order_id).is_not(None))).one()

    def delete_batch(self, batch_id: int) -> None:
        """Delete a batch, its rows and its events; refused once any row has an orderId,
        because such a row may have moved money and its history must stay."""
        with self.session() as s:  # the check and the delete in one transaction
            # FOR UPDATE: on PostgreSQL no other process approves (or pays) a row of it between the
            # check and the delete: an approval waits, then finds the rows gone (SQLite's BEGIN
            # IMMEDIATE holds the whole store already)
            s.exec(select(Recipient.id).where(Recipient.batch_id == batch_id).with_for_update()).all()
            paid = s.exec(select(func.count()).where(Recipient.batch_id == batch_id,
                                                     col(Recipient.order_id).is_not(None))).one()
            if paid:
                raise ValueError(f"batch {batch_id} has {paid} rows with an orderId; it cannot be deleted")
            for table in (Event, Recipient):
                s.exec(delete(table).where(table.batch_id == batch_id))
            s.exec(delete(Batch).where(Batch.id == batch_id))
            s.commit()

    def finish_import(self, batch_id: int, note: str) -> None:
        with self.session() as s:
            batch = s.get(Batch, batch_id)
            batch.imported_at = batch.prepared_at = utcnow()
            batch.prepared_by = approval.encode([self.operator])  # who prepared it
            s.add(batch)
            s.add(Event(batch_id=batch_id, operator=self.operator, new_state="IMPORTED", note=note))
            s.commit()

    def batches(self) -> list[Batch]:
        with self.session() as s:
            return list(s.exec(select(Batch).order_by(col(Batch.id))))

    def batch(self, batch_id: int) -> Batch | None:
        with self.session() as s:
            return s.get(Batch, batch_id)

    # -- rows ----------------------------------------------------------------------

    def rows(self, batch_id: int, *, only_invalid: bool = False, chunk: int = 2000) -> Iterator[Recipient]:
        """Rows of a batch in sheet order, read in chunks so memory stays flat."""
        last = 0
        while True:
            with self.session() as s:
                q = select(Recipient).where(Recipient.batch_id == batch_id, Recipient.row_number > last)
                if only_invalid:
                    q = q.where(Recipient.state == RowState.INVALID)
                page = list(s.exec(q.order_by(col(Recipient.row_number)).limit(chunk)))
            if not page:
                return
            yield from page
            last = page[-1].row_number

    def duplicate_meters(self, batch_id: int) -> dict[str, int]:
        """Meters that appear more than once in the batch, with their counts (a row the operator
        closed is no longer a recipient: it makes no twin)."""
        with self.session() as s:
            q = (select(Recipient.meter, func.count())
                 .where(Recipient.batch_id == batch_id, col(Recipient.meter).is_not(None),
                        Recipient.state != RowState.CLOSED)
                 .group_by(Recipient.meter).having(func.count() > 1))
            return {m: n for m, n in s.exec(q)}

    def stats(self, batch_id: int) -> BatchStats:
        return self.stats_for([batch_id]).get(batch_id, BatchStats())

    def stats_for(self, batch_ids: Iterable[int]) -> dict[int, BatchStats]:
        """Counts by state and totals, computed from the rows (never stored as counters)."""
        ids = list(batch_ids)
        out: dict[int, BatchStats] = {i: BatchStats() for i in ids}
        if not ids:
            return out
        with self.session() as s:
            q = (select(Recipient.batch_id, Recipient.state, func.count(),
                        func.coalesce(func.sum(Recipient.amount_kobo), 0))
                 .where(col(Recipient.batch_id).in_(ids))
                 .group_by(Recipient.batch_id, Recipient.state))
            for batch_id, state, n, kobo in s.exec(q):
                st = out[batch_id]
                st.by_state[state] = n
                st.kobo_by_state[state] = int(kobo)
            dup = (select(Recipient.batch_id, Recipient.meter)
                   .where(col(Recipient.batch_id).in_(ids), col(Recipient.meter).is_not(None))
                   .group_by(Recipient.batch_id, Recipient.meter).having(func.count() > 1)
                   .subquery())
            q2 = (select(Recipient.batch_id, func.count())
                  .join(dup, (dup.c.batch_id == Recipient.batch_id) & (dup.c.meter == Recipient.meter))
                  .where(~col(Recipient.duplicate_accepted))  # accepted: no longer a warning
                  .group_by(Recipient.batch_id))
            for batch_id, n in s.exec(q2):
                out[batch_id].duplicates = n
            q3 = (select(Recipient.batch_id, func.count())
                  .where(col(Recipient.batch_id).in_(ids), col(Recipient.warnings).is_not(None),
                         Recipient.state != RowState.CLOSED)  # closed: its warnings no longer matter
                  .group_by(Recipient.batch_id))
            for batch_id, n in s.exec(q3):
                out[batch_id].other_warnings = n
        return out


PAYABLE = (RowState.VALID, RowState.VERIFIED, RowState.APPROVED, RowState.NOT_SENT)


@dataclass
class BatchStats:
    by_state: dict[str, int] = field(default_factory=dict)
    kobo_by_state: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # rows whose meter appears more than once in the batch, not yet accepted
    other_warnings: int = 0

    @property
    def rows(self) -> int:
        return sum(self.by_state.values())

    @property
    def invalid(self) -> int:
        """Rows to fix before they can be paid: broken rules, or a meter BuyPower does not know."""
        return sum(self.by_state.get(s, 0) for s in (RowState.INVALID, RowState.LOOKUP_FAILED))

    @property
    def valid(self) -> int:
        """Rows that pass every check and are still to be paid."""
        return sum(self.by_state.get(s, 0) for s in PAYABLE)

    @property
    def warnings(self) -> int:
        return self.duplicates + self.other_warnings

    @property
    def closed(self) -> int:
        """Rows the operator closed: they will not be paid, and do not count as failed."""
        return self.by_state.get(RowState.CLOSED, 0)

    @property
    def done(self) -> bool:
        """Every row is paid or closed: nothing is left to pay, fix or settle."""
        return self.rows > 0 and self.by_state.get(RowState.SUCCESS, 0) + self.closed == self.rows

    @property
    def total_valid(self) -> Decimal:
        return from_kobo(sum(self.kobo_by_state.get(s, 0) for s in PAYABLE))

    @property
    def total_paid(self) -> Decimal:
        return from_kobo(self.kobo_by_state.get(RowState.SUCCESS, 0))
