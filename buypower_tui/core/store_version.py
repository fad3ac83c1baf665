"""Which schema revision a SQLite store has, read with the standard library alone: the TUI
asks before it starts (a store already at HEAD is opened after the first frame), and
schema.py asks the same way before it changes anything."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

FIRST = "0001"  # the schema of 0.1.0, which stores made before migrations have
# The newest migration. Said here so that opening a store that is up to date (every start but
# the first after an upgrade) never imports Alembic; a test holds it to Alembic's own head.
HEAD = "0006"


class StoreVersionUnclear(OSError):
    """The store's version table is empty or holds several revisions: which schema it has cannot
    be known, so it is neither upgraded nor used."""

    def __init__(self, where: str, found: list[str]) -> None:
        what = "is empty" if not found else f"holds {len(found)} revisions ({', '.join(found)})"
        super().__init__(f"{where}: its schema version table (alembic_version) {what}, so its schema cannot be "
                         "known. Nothing was changed. Restore its copy (<name>.before-<revision>.db) or set the "
                         "one right revision in that table by hand.")


def the_one_revision(where: str, found: list[str]) -> str:
    """The version table's one revision; none or several: the store's schema cannot be known."""
    if len(found) != 1:
        raise StoreVersionUnclear(where, found)
    return found[0]


def sqlite_revision(path: Path) -> str | None:
    """The revision of a SQLite store, read without our settings (a look that changes nothing)."""
    # mode=rw, not ro: a read-only reader of a WAL database leaves its -wal and -shm behind
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=5)) as db:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in tables:
            return FIRST if "recipient" in tables else None
        found = [str(v) for (v,) in db.execute("SELECT version_num FROM alembic_version")]
    return the_one_revision(str(path), found)
