"""Where the application layer starts: paths, effective settings, the key and the store on demand."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from buypower_tui import secrets
from buypower_tui.console import err
from buypower_tui.core.store_version import HEAD, sqlite_revision
from buypower_tui.logs import add_secret, setup_logging
from buypower_tui.paths import AppPaths, NotARegularFile
from buypower_tui.settings import ConfigError, LoadedSettings, Settings, load_settings

if TYPE_CHECKING:
    from buypower_tui.core.store import Store


class Context:
    """What every operation needs: paths, effective settings; the key and the store on demand."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.paths = AppPaths.resolve()
        flags = {"mode": args.mode, "base_url": args.base_url, "database_url": args.db,
                 "log_level": args.log_level}
        self.loaded: LoadedSettings = load_settings(
            self.paths, flags, config_file=Path(args.config) if args.config else None)
        self.settings: Settings = self.loaded.settings
        for notice in self.loaded.notices:  # a setting an older version had: said, not refused
            err(f"warning: {notice}")
        env_keys = tuple(k for k in map(secrets.env_key, secrets.ENVIRONMENTS) if k)
        try:
            self._mask = setup_logging(self.paths.log_file, self.settings.log_level, env_keys)
        except OSError as exc:
            raise ConfigError(f"cannot write the log file {self.paths.log_file} ({exc.strerror}); "
                              f"check that folder, or set BUYPOWER_TUI_HOME to a writable one.") from None
        self._key: secrets.KeyInfo | None = None
        self._store: Store | None = None
        # Opening an older store upgrades it: one line on stderr says so (the TUI shows a toast
        # instead, and `db upgrade` prints it itself).
        self.announce_upgrade = True

    def mask_secret(self, value: str) -> None:
        """Never let this value reach the log or a message (a key that did not come from `key()`)."""
        add_secret(value)

    def key(self, env: str | None = None) -> secrets.KeyInfo:
        """Ask the keyring only when a command needs the key (a locked keyring may prompt)."""
        env = env or self.settings.mode
        info = secrets.resolve_key(env)
        if info.key is not None:
            self.mask_secret(info.key.get_secret_value())
        return info

    @property
    def database_url(self) -> str:
        return self.settings.database_url or f"sqlite:///{self.paths.db_file}"

    @property
    def store(self) -> Store:
        if self._store is None:
            # SQLAlchemy when the store is first asked for: the TUI draws its first frame before
            from sqlalchemy.exc import SQLAlchemyError

            from buypower_tui.core.schema import StoreTooNew, StoreVersionUnclear
            from buypower_tui.core.store import NotAStore, Store, safe_url

            try:
                self._store = Store.open(self.database_url)
            except (NotAStore, NotARegularFile, StoreTooNew, StoreVersionUnclear) as exc:  # each says what to do
                raise ConfigError(f"cannot open the database: {exc}") from None
            except (SQLAlchemyError, OSError, ImportError) as exc:
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                raise ConfigError(f"cannot open the database {safe_url(self.database_url)}: {reason}. "
                                  "Check --db or database_url (`buypower-tui config` shows it).") from None
            done = self._store.upgraded
            if done is not None and done.before is not None and self.announce_upgrade:
                err(done.describe())
        return self._store

    def store_is_current(self) -> bool:
        """A plain SQLite store already at the app's schema, or none yet: read with sqlite3
        alone, so the TUI can open it after its first frame. Anything else (another engine,
        an older store to upgrade, a file that is not a store) is opened before, where a
        refusal is an exit code and not a crash."""
        url = self.database_url
        if not url.startswith("sqlite:///") or "?" in url:
            return False
        path = Path(unquote(url[len("sqlite:///"):]))
        try:
            if not path.exists():
                return path.parent.is_dir()
            return path.is_file() and sqlite_revision(path) == HEAD
        except (sqlite3.Error, OSError):  # StoreVersionUnclear is an OSError too
            return False

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

