"""What every command shares: paths, settings, the key, the store, the client, output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from buypower_tui import secrets
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.money_lock import MoneyLock
from buypower_tui.core.rules import Limits
from buypower_tui.core.schema import StoreTooNew, StoreVersionUnclear
from buypower_tui.core.store import NotAStore, Store, safe_url
from buypower_tui.logs import add_secret, mask_message, setup_logging
from buypower_tui.paths import AppPaths, NotARegularFile
from buypower_tui.settings import ConfigError, LoadedSettings, Settings, load_settings

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_PENDING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class Context:
    """What every command needs: paths, effective settings; the key and the store on demand."""

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

    def client(self) -> BuyPowerClient:
        """A client for the current mode; ConfigError (exit 2) when there is no key for it, or
        when the base URL is not a place this mode's key may go."""
        client = self.client_if_key(self.store)
        if client is None:
            mode, info = self.settings.mode, self.key()
            raise ConfigError(f"no API key for {mode}: run `buypower-tui key set --env {mode}` or set "
                              f"{secrets.ENV_VARS[mode]}"
                              + (f" (keyring: {info.keyring_problem})" if info.keyring_problem else ""))
        return client

    def client_if_key(self, store: Store | None) -> BuyPowerClient | None:
        """A client (keeping meter lookups in `store`, if any), or None when there is no key
        (commands that can report without one)."""
        problem = self.settings.key_destination_problem
        if problem:
            raise ConfigError(problem)
        info = self.key()
        if info.key is None:
            return None
        return BuyPowerClient.from_settings(self.settings, info.key, store=store)

    def money_lock(self) -> MoneyLock:
        """One process at a time pays or requeries from this store (whichever home opened it):
        a second `run` (or a `requery` during a run) would take the first one's in-flight rows
        for crash leftovers."""
        return self.store.money_lock(self.paths.data_dir)

    @property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def out(text: str = "") -> None:
    print(mask_message(text), flush=True)


def err(text: str) -> None:
    print(mask_message(text), file=sys.stderr, flush=True)

