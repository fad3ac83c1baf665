"""The sandbox's ledger in a SQLite file, so that a restarted sandbox remembers what it paid.

BuyPower never forgets an order: after a restart a repeated orderId must still get 409 and
a requery must still find its token, or a crash test would see a second payment that the
real API would never make. FileLedger is the in-memory Ledger (reads stay in memory) that
writes each change through to the file, under the ledger's lock, before the answer leaves.
A SIGKILL therefore loses nothing that was answered. The file stays locked while it is
open: two sandboxes on one ledger would each believe they alone hold the money.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from buypower_tui.core.sandbox.fixtures import Customer, Price, SandboxConfig
from buypower_tui.core.sandbox.ledger import Ledger, Order, money

APPLICATION_ID = 0x42505342  # "BPSB": a file of ours, not any SQLite database
FORMAT = 1  # PRAGMA user_version of the layout below
_SCHEMA = """
CREATE TABLE orders (seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE rejected (order_id TEXT PRIMARY KEY, status INTEGER NOT NULL, message TEXT NOT NULL);
CREATE TABLE posts (order_id TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE requests (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE debts (meter TEXT PRIMARY KEY, amount TEXT NOT NULL);
CREATE TABLE wallet (id INTEGER PRIMARY KEY CHECK (id = 1), balance TEXT NOT NULL);
"""
_SAVE_POSTS = "INSERT INTO posts VALUES (?, ?) ON CONFLICT (order_id) DO UPDATE SET n = excluded.n"
_SAVE_REQUESTS = "INSERT INTO requests VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET n = excluded.n"
_SAVE_DEBT = "INSERT INTO debts VALUES (?, ?) ON CONFLICT (meter) DO UPDATE SET amount = excluded.amount"


class LedgerFileError(ValueError):
    """The ledger file cannot be used; the message names the file and what to do."""


class FileLedger(Ledger):
    """A Ledger whose every change is committed to `path` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], wallet: Decimal) -> None:
        super().__init__(wallet)
        self.path = Path(path)
        self._db: sqlite3.Connection | None = _connect(self.path)
        self._load()

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file (reads from memory still work; writes fail)."""
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _load(self) -> None:
        db = self._open_db()
        row = db.execute("SELECT balance FROM wallet").fetchone()
        if row is None:  # a new file: it starts with the configured wallet
            with self._tx() as tx:
                tx.execute("INSERT INTO wallet VALUES (1, ?)", (money(self._wallet),))
            return
        self._wallet = Decimal(row[0])
        self._orders = {k: _load_order(v) for k, v in db.execute("SELECT order_id, data FROM orders ORDER BY seq")}
        self._rejected = {k: (s, m) for k, s, m in db.execute("SELECT * FROM rejected ORDER BY rowid")}
        self._posts.update(dict(db.execute("SELECT * FROM posts ORDER BY rowid")))
        self._requests.update(dict(db.execute("SELECT * FROM requests ORDER BY rowid")))
        self._debts = {k: Decimal(v) for k, v in db.execute("SELECT * FROM debts ORDER BY rowid")}

    # -- writes: the in-memory change, then the same change committed ------------------------

    def reset(self, wallet: Decimal) -> None:
        with self.lock:
            super().reset(wallet)
            with self._tx() as tx:
                for table in ("orders", "rejected", "posts", "requests", "debts"):
                    tx.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                self._save_wallet(tx)

    def set_wallet(self, balance: Decimal) -> None:
        with self.lock:
            super().set_wallet(balance)
            with self._tx() as tx:
                self._save_wallet(tx)

    def count(self, kind: str) -> None:
        with self.lock:
            super().count(kind)
            with self._tx() as tx:
                tx.execute(_SAVE_REQUESTS, (kind, self._requests[kind]))

    def vend(self, order_id: str, fields: dict[str, Any], cfg: SandboxConfig,
             tokens: random.Random, faults: random.Random) -> Order:
        with self.lock:
            known = order_id in self._orders
            try:
                return super().vend(order_id, fields, cfg, tokens, faults)
            finally:  # a refusal changes the POST count and perhaps the rejected list too
                with self._tx() as tx:
                    tx.execute(_SAVE_POSTS, (order_id, self._posts[order_id]))
                    if order_id in self._rejected:
                        tx.execute("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?)",
                                   (order_id, *self._rejected[order_id]))
                    else:
                        tx.execute("DELETE FROM rejected WHERE order_id = ?", (order_id,))
                    order = self._orders.get(order_id)
                    if order is not None and not known:
                        tx.execute("INSERT INTO orders (order_id, data) VALUES (?, ?)", (order_id, _dump(order)))
                        self._save_wallet(tx)
                        meter = order.customer.meter
                        if meter in self._debts:
                            tx.execute(_SAVE_DEBT, (meter, str(self._debts[meter])))

    def requery(self, order_id: str, cooldown_s: float, now: float | None = None) -> tuple[str, Any]:
        with self.lock:
            verdict, detail = super().requery(order_id, cooldown_s, now)
            if isinstance(detail, Order):  # answered: its clock, pending count, status or refund moved
                with self._tx() as tx:
                    tx.execute("UPDATE orders SET data = ? WHERE order_id = ?", (_dump(detail), order_id))
                    self._save_wallet(tx)
            return verdict, detail

    def _save_wallet(self, tx: sqlite3.Connection) -> None:
        tx.execute("UPDATE wallet SET balance = ?", (money(self._wallet),))

    def _open_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise LedgerFileError(f"the ledger file {self.path} is closed")
        return self._db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._open_db()
        db.execute("BEGIN")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def open_ledger(config: SandboxConfig) -> Ledger:
    """The ledger a configuration asks for: in memory, or kept in config.ledger."""
    return FileLedger(config.ledger, config.wallet) if config.ledger else Ledger(config.wallet)


def _connect(path: Path) -> sqlite3.Connection:
    """Open (or create, 0600) a ledger file, lock it for this process and check it is ours."""
    if path.exists() and not path.is_file():
        raise LedgerFileError(f"the ledger {path} is not a regular file; give a file name for --ledger")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    except OSError as exc:
        raise LedgerFileError(f"cannot open the ledger file {path}: {exc.strerror or exc}; "
                              "give a file in a folder you can write") from None
    try:
        db.execute("PRAGMA locking_mode = EXCLUSIVE")  # the lock, once taken, is held until close()
        db.execute("BEGIN EXCLUSIVE")
        _check_or_create(db, path)  # before WAL: a file that is not ours is left as it was
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # durable against a killed process, which is the point
    except sqlite3.OperationalError as exc:
        db.close()
        if "locked" in str(exc):
            raise LedgerFileError(f"the ledger file {path} is in use by another sandbox; stop that one "
                                  "or give another --ledger FILE") from None
        raise LedgerFileError(f"cannot use the ledger file {path}: {exc}") from None
    except sqlite3.DatabaseError:
        db.close()
        raise LedgerFileError(f"{path} is not a sandbox ledger; give a new file name for --ledger") from None
    except LedgerFileError:
        db.close()
        raise
    return db


def _check_or_create(db: sqlite3.Connection, path: Path) -> None:
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    if app_id == 0 and not db.execute("SELECT 1 FROM sqlite_master").fetchone():
        for statement in _SCHEMA.strip().splitlines():  # not executescript(): it would commit first
            db.execute(statement)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {FORMAT}")
        return
    if app_id != APPLICATION_ID:
        raise LedgerFileError(f"{path} is a database but not a sandbox ledger; give a new file name for --ledger")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version != FORMAT:
        raise LedgerFileError(f"the ledger file {path} has format {version}, this sandbox reads {FORMAT}; "
                              "give a new file name for --ledger")


def _dump(order: Order) -> str:
    """An order as JSON: Decimals as strings, times as ISO text, `touched` on the wall clock."""
    data = dataclasses.asdict(order)
    data["touched"] = time.time() - (time.monotonic() - order.touched)  # the monotonic clock restarts
    return json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


def _load_order(text: str) -> Order:
    data = json.loads(text)
    data["customer"] = Customer(**_decimals(Customer, data["customer"]))
    data["price"] = Price(**_decimals(Price, data["price"]))
    data["created"] = datetime.fromisoformat(data["created"])
    data["touched"] = time.monotonic() - max(0.0, time.time() - data["touched"])
    return Order(**data)


def _decimals(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The Decimal fields of `cls` back from their strings (its annotations are text)."""
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return {k: Decimal(v) if v is not None and "Decimal" in types[k] else v for k, v in values.items()}
