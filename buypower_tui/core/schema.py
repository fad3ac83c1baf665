"""Which schema a store has, and bringing it to the app's: Alembic, run in-process.

An operator's store holds tokens that were paid for, so opening one never loses it: a store
older than the app is copied (`<name>.before-<revision>.db`, by SQLite's online backup) and
then upgraded in place; a store newer than the app is refused before anything writes to it;
a store made by 0.1.0 (no alembic_version table, our tables) is stamped as revision 0001,
never made again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from buypower_tui.core import models  # noqa: F401 - the tables, for create_all
from buypower_tui.core.money_lock import sqlite_file
from buypower_tui.core.store_version import (  # noqa: F401 - named here too
    FIRST,
    HEAD,
    StoreVersionUnclear,
    sqlite_revision,
    the_one_revision,
)
from buypower_tui.paths import create_private_file

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# PostgreSQL: the advisory lock (transaction-level) every opener takes before it looks at the
# schema, so that one upgrades and the others find the work done. ("bp-schema" as a number.)
SCHEMA_LOCK = 0x62702D736368656D


class StoreTooNew(OSError):
    """The store was upgraded by a newer buypower-tui; it is left untouched."""

    def __init__(self, where: str, revision: str) -> None:
        super().__init__(f"{where} is at schema revision {revision}, newer than this buypower-tui knows "
                         f"(its newest is {head()}): upgrade buypower-tui to open it. Nothing was changed.")


@dataclass(frozen=True)
class Upgrade:
    """What opening a store did to its schema (None when it was already at head)."""

    before: str | None  # None: the store was new
    after: str
    backup: Path | None = None

    def describe(self) -> str:
        if self.before is None:
            return f"new store created at schema revision {self.after}"
        copy = f"; its copy from before is {self.backup}" if self.backup else ""
        return f"store upgraded from schema revision {self.before} to {self.after}{copy}"


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # only to create, upgrade or describe a store

    config = Config()
    config.set_main_option("script_location", "buypower_tui:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


# Alembic's commands run env.py through module-global proxies (alembic.context, alembic.op):
# two stores opened at once in one process (the TUI's import and merge workers each open a
# throw-away store) would take each other's, so one command at a time.
_ALEMBIC = threading.Lock()


def _command(name: str, connection: Connection, revision: str) -> None:
    from alembic import command

    with _ALEMBIC:
        getattr(command, name)(_config(connection), revision)


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    return HEAD


def known(revision: str) -> bool:
    return revision == HEAD or revision in {s.revision for s in _script().walk_revisions()}


def pending(revision: str | None) -> list[str]:
    """The migrations that bring `revision` to head, oldest first."""
    if revision == head():
        return []
    steps = _script().iterate_revisions(head(), revision or "base")
    return [s.revision for s in reversed(list(steps))]


def describe(revision: str) -> str:
    """The first line of a migration's docstring."""
    return (_script().get_revision(revision).doc or "").strip().splitlines()[0]


def revision_of(connection: Connection, where: str = "the store") -> str | None:
    """The store's revision; FIRST for a store made before migrations (our tables, no version)."""
    if not inspect(connection).has_table("alembic_version"):
        return FIRST if inspect(connection).has_table("recipient") else None
    found = [str(v) for (v,) in connection.execute(text("SELECT version_num FROM alembic_version"))]
    return the_one_revision(where, found)


def revision_at(url: str) -> str | None:
    """The store's revision, without changing anything (None: no store there yet)."""
    if (path := sqlite_file(make_url(url))) is not None:
        return sqlite_revision(path) if path.exists() else None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return revision_of(connection, url) if inspect(connection).has_table("recipient") else None
    finally:
        engine.dispose()


def check_not_newer(where: str, revision: str | None) -> None:
    if revision is not None and not known(revision):
        raise StoreTooNew(where, revision)


def create(connection: Connection) -> None:
    """A new store, at head: the tables as the models say, stamped (a test proves that the
    migrations from 0001 make the same schema)."""
    SQLModel.metadata.create_all(connection)
    _command("stamp", connection, head())


def bring_up_to_date(engine: Engine, where: str, sqlite_file: Path | None = None) -> Upgrade | None:
    """Create, stamp or upgrade the store so that it is at head; refuse one from the future.

    One transaction that first takes the store for itself (BEGIN IMMEDIATE on SQLite, an
    advisory lock on PostgreSQL) and only then reads the schema: of several processes opening
    the same old store at once, one upgrades and the others find the work done."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        if not inspect(connection).has_table("recipient"):
            create(connection)
            return Upgrade(None, head())
        revision = revision_of(connection, where)
        check_not_newer(where, revision)
        if revision == head():
            return None
        # the copy reads the last commit from its own connection while this one holds the write lock
        backup = backup_sqlite(sqlite_file, revision) if sqlite_file is not None else None
        if not inspect(connection).has_table("alembic_version"):
            _command("stamp", connection, FIRST)  # a 0.1.0 store: recognised, never made again
        _command("upgrade", connection, "head")
    return Upgrade(revision, head(), backup)


def backup_sqlite(path: Path, revision: str) -> Path:
    """A consistent copy of the store by SQLite's online backup, beside it, 0600."""
    target = path.with_name(f"{path.stem}.before-{revision}{path.suffix or '.db'}")
    if target.exists():  # an earlier attempt at this very upgrade: keep the first copy, make another
        n = 2
        while (candidate := target.with_name(f"{target.stem}-{n}{target.suffix}")).exists():
            n += 1
        target = candidate
    # written under another name and renamed when whole: a kill mid-copy never leaves a partial
    # copy under the name an operator would restore from
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    create_private_file(partial)
    with closing(sqlite3.connect(path, timeout=30)) as source, closing(sqlite3.connect(partial)) as copy:
        source.backup(copy)
    os.replace(partial, target)
    return target
