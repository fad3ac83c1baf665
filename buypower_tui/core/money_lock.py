"""The money lock: one process at a time pays or requeries from a store.

It belongs to the database, not to a home folder: two homes (or two operators) that open
the same `--db` must share it, or each would take the other's rows in flight for a
crash's leftovers. For a SQLite file it is a lock file beside the database; for PostgreSQL
it is an advisory lock of the server (PgMoneyLock), which every machine that shares the
database sees and which the server lets go when the holder's connection ends, a crash or a
SIGKILL included; for any other URL it is a file per URL in the data folder, which
serialises the processes of one machine only.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from buypower_tui.paths import create_private_file

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


class MoneyLockError(Exception):
    """The lock cannot be taken; str() says why and what to do."""


class MoneyLockBusy(MoneyLockError):
    """Another process holds the lock."""


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names (a path, or SQLite's URI form file:/path/to.db); None for
    an in-memory database or another engine."""
    database = url.database or ""
    if database.startswith("file:"):
        database = unquote(urlsplit(database).path)
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or "memory" in str(url.query):
        return None
    return Path(database)


def lock_path(url: URL, data_dir: Path) -> Path:
    if (database := sqlite_file(url)) is not None:
        return Path(os.path.realpath(database) + ".money-lock")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return data_dir / f"money-{digest}.lock"


class MoneyLock:
    """An exclusive, non-blocking flock; a held lock says who holds it (user@host, pid, since)."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path, self.holder = path, holder
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        try:
            fh = create_private_file(self.path).open("r+")
        except OSError as exc:  # a link or a device in its place, a folder we may not write
            raise MoneyLockError(f"cannot take the money lock {exc.filename or self.path}: "
                                 f"{exc.strerror or exc}; nothing was paid") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = fh.read().strip() or "another process"
            fh.close()
            raise MoneyLockBusy(f"another buypower-tui ({who}) is paying or requerying from this store; wait for "
                                "it to finish, or stop it (Ctrl+C stops after the rows in flight)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{self.holder}, pid {os.getpid()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> MoneyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go while a person reads and decides; take it back after (MoneyLockBusy if
        someone else took it meanwhile: then nothing of this plan may be paid)."""
        self.release()
        try:
            yield
        except BaseException:  # Ctrl+C at the prompt: that is what happened, whoever holds the lock now
            with suppress(MoneyLockError):
                self.acquire()
            raise
        self.acquire()


# The advisory lock's key, as PostgreSQL's two-int form (classid, objid): ours, and "the store".
_KEY = (0x42505455, 1)  # "BPTU"


class PgMoneyLock(MoneyLock):
    """A session-level advisory lock held on a connection of its own for as long as the lock
    is. Who holds it is said through that connection's application_name, which
    pg_stat_activity shows to every other session (no table to clean up after a crash)."""

    def __init__(self, engine: Any, holder: str) -> None:
        super().__init__(Path("."), holder)
        self.engine = engine
        self._conn: Any = None

    def acquire(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            conn = self.engine.connect()
        except SQLAlchemyError as exc:
            raise MoneyLockError(f"cannot take the money lock: the database did not answer ({exc.__class__.__name__}); "
                                 "nothing was paid") from None
        try:
            since = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
            name = f"buypower-tui money lock: {self.holder}, pid {os.getpid()}, since {since}"[:63]
            conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name})
            got = conn.execute(text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": _KEY[0], "b": _KEY[1]}).scalar()
            conn.commit()
            if not got:
                who = conn.execute(text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.classid = :a AND l.objid = :b AND l.granted"),
                    {"a": _KEY[0], "b": _KEY[1]}).scalar()
                conn.close()
                who = (who or "").removeprefix("buypower-tui money lock: ") or "another process"
                raise MoneyLockBusy(f"another buypower-tui ({who}) is paying or requerying from this store; wait "
                                    "for it to finish, or stop it (Ctrl+C stops after the rows in flight)")
        except SQLAlchemyError as exc:
            conn.close()
            raise MoneyLockError(f"cannot take the money lock: {exc.__class__.__name__}; nothing was paid") from None
        self._conn = conn

    def release(self) -> None:
        if self._conn is None:
            return
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        conn, self._conn = self._conn, None
        with suppress(SQLAlchemyError):  # a lost connection has let go of the lock already
            conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": _KEY[0], "b": _KEY[1]})
            conn.execute(text("SELECT set_config('application_name', '', false)"))
            conn.commit()
        with suppress(SQLAlchemyError):
            conn.invalidate()  # never back to the pool with a session-level lock or our name on it
            conn.close()
