"""The money lock: one process at a time pays or requeries a batch.

It belongs to the database, not to a home folder: two homes (or two operators) that open
the same `--db` must share it, or each would take the other's rows in flight for a
crash's leftovers. For a SQLite file it is a lock file beside the database, which holds
the whole store; for PostgreSQL it is an advisory lock of the server per batch
(PgMoneyLock), which every machine that shares the database sees and which the server lets
go when the holder's connection ends, a crash or a SIGKILL included; for any other URL it
is a file per URL in the data folder, which serialises the processes of one machine only.

What spans batches (start-up recovery, requery of every batch) takes the batches it can and
leaves those another process holds to it (`try_claim`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import select
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

    def try_claim(self, batch_id: int) -> str | None:
        """Hold `batch_id` too, for as long as the lock; when another process holds it, who
        does (and nothing is taken). The file lock holds the whole store: every batch is ours."""
        return None

    def keep_only(self, batch_ids: set[int]) -> None:
        """Let go of every batch but these (what a recovery took on the way, before a run)."""

    def claim(self, batch_id: int) -> None:
        """`try_claim`, or MoneyLockBusy naming who holds the batch."""
        if (who := self.try_claim(batch_id)) is not None:
            raise MoneyLockBusy(f"another buypower-tui ({who}) is paying or requerying batch {batch_id}; wait for "
                                "it to finish, or stop it (Ctrl+C stops after the rows in flight)")

    def held(self) -> bool:
        """Whether the lock is still ours: a file lock is, for as long as its file is open."""
        return self._fh is not None

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


# The advisory locks' keys, in PostgreSQL's two-int form (classid, objid): one per batch
# ("BPTB", batch id), and the approval's ("BPTA", 0), which serialises the duplicate check
# with the approval it allows.
BATCH_KEY = 0x42505442
APPROVAL_KEY = 0x42505441
_PREFIX = "buypower-tui: "
# The server pids of this process's own lock sessions: what it holds is not "another's".
OUR_SESSIONS: set[int] = set()
# The holders of this database's advisory locks of one class, and who they are.
_HOLDERS = ("SELECT l.objid, a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.classid = :k AND l.objsubid = 2 AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def pg_holders(conn: Any, key: int = BATCH_KEY) -> dict[int, tuple[str, int]]:
    """objid -> (who holds it, as its holder said, and the server's pid of that session)."""
    from sqlalchemy import text

    found = conn.execute(text(_HOLDERS), {"k": key}).all()
    return {int(objid): ((name or "").removeprefix(_PREFIX) or "another process", pid) for objid, name, pid in found}


def pg_batches_held(engine: Any) -> dict[int, str]:
    """The batches other processes hold (this one's own sessions left out), and who."""
    with engine.connect() as conn:
        found = pg_holders(conn)
    return {b: who for b, (who, pid) in found.items() if pid not in OUR_SESSIONS}


class PgMoneyLock(MoneyLock):
    """Session-level advisory locks, one per batch, held on a connection of its own for as long
    as the lock is: several processes (machines) pay different batches at once, never the same
    one. The server lets go of them when that connection ends, a crash or a SIGKILL included.
    Who holds them is said through that connection's application_name, which pg_stat_activity
    shows to every other session (no table to clean up after a crash)."""

    def __init__(self, engine: Any, holder: str) -> None:
        super().__init__(Path("."), holder)
        self.engine = engine
        self._conn: Any = None
        self._claimed: list[int] = []  # taken again after `released`
        self._pid: int | None = None  # the server's pid of the lock's session

    def acquire(self) -> None:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            conn = self.engine.connect()
            # PostgreSQL keeps 63 bytes of it: who and the pid first, the time in short
            name = f"{_PREFIX}{self.holder}, pid {os.getpid()}, since {datetime.now(UTC):%b %d %H:%M} UTC"[:63]
            conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": name})
            self._pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            conn.commit()
        except SQLAlchemyError as exc:
            raise MoneyLockError(f"cannot take the money lock: the database did not answer ({exc.__class__.__name__}); "
                                 "nothing was paid") from None
        self._conn = conn
        OUR_SESSIONS.add(self._pid)
        claimed, self._claimed = self._claimed, []
        try:
            for batch_id in claimed:
                self.claim(batch_id)
        except MoneyLockError:
            self.release()
            raise

    def try_claim(self, batch_id: int) -> str | None:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        if batch_id in self._claimed:
            return None
        try:
            got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k, :b)"),
                                     {"k": BATCH_KEY, "b": batch_id}).scalar()
            self._conn.commit()
            if got:
                self._claimed.append(batch_id)
                return None
            who = pg_holders(self._conn).get(batch_id)
            self._conn.commit()
        except SQLAlchemyError as exc:
            raise MoneyLockError(f"cannot take the money lock: {exc.__class__.__name__}; nothing was paid") from None
        return who[0] if who else "another process, just now"

    def held(self) -> bool:
        """Whether the server still has our batches' locks: a restart, a cut connection or an
        administrator's pg_terminate_backend lets go of them, and then another process may pay
        or requery those batches. Asked before each row is marked SENDING, so without a round
        trip: an idle session's socket has nothing to read until the server ends it (it says
        why, then closes); only then is the server asked. An error is a no."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        if self._conn is None:
            return False
        try:
            readable, _, _ = select.select([self._conn.connection.dbapi_connection.fileno()], [], [], 0)
            if not readable:
                return True
            found = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :k AND objsubid = 2 "
                "AND pid = pg_backend_pid() AND granted AND objid = ANY(:ids)"),
                {"k": BATCH_KEY, "ids": self._claimed}).scalar()
            self._conn.commit()
        except (SQLAlchemyError, OSError, ValueError):  # ValueError: a closed socket's fileno
            return False
        return found == len(self._claimed)

    def keep_only(self, batch_ids: set[int]) -> None:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        for batch_id in [b for b in self._claimed if b not in batch_ids]:
            with suppress(SQLAlchemyError):  # a lost connection has let go already (`held` says so)
                self._conn.execute(text("SELECT pg_advisory_unlock(:k, :b)"), {"k": BATCH_KEY, "b": batch_id})
                self._conn.commit()
            self._claimed.remove(batch_id)

    def release(self) -> None:
        if self._conn is None:
            return
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        conn, self._conn = self._conn, None
        OUR_SESSIONS.discard(self._pid)
        with suppress(SQLAlchemyError):  # a lost connection has let go of the locks already
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
            conn.execute(text("SELECT set_config('application_name', '', false)"))
            conn.commit()
        with suppress(SQLAlchemyError):
            conn.invalidate()  # never back to the pool with a session-level lock or our name on it
            conn.close()


@contextmanager
def pg_approval(engine: Any, timeout_s: float = 30.0) -> Iterator[None]:
    """One approval at a time in this database: the duplicate check (same meter paid or in
    flight in any batch) and the approval it allows are one step for every other process,
    so two operators approving batches that share a meter cannot both pass the check. Waits
    (a check and an approval take well under a second) up to `timeout_s`."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    try:
        conn = engine.connect()
        conn.execute(text(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'"))
        conn.execute(text("SELECT pg_advisory_lock(:k, 0)"), {"k": APPROVAL_KEY})
        conn.commit()
    except OperationalError as exc:
        if "lock timeout" in str(exc.orig):
            raise MoneyLockBusy(f"another operator's approval held the approval lock for {timeout_s:.0f} s; "
                                "nothing was approved: try again") from None
        raise MoneyLockError(f"cannot take the approval lock: {exc.__class__.__name__}; nothing was paid") from None
    except SQLAlchemyError as exc:
        raise MoneyLockError(f"cannot take the approval lock: {exc.__class__.__name__}; nothing was paid") from None
    try:
        yield
    finally:
        with suppress(SQLAlchemyError):
            conn.invalidate()  # ends the session, and with it the lock
            conn.close()
