"""What every command shares: paths, settings, the key, the store, the client, output."""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from buypower_tui import secrets
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.rules import Limits
from buypower_tui.core.store import Store, safe_url
from buypower_tui.logs import setup_logging
from buypower_tui.paths import AppPaths, create_private_file
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
        env_key = os.environ.get(secrets.ENV_VAR, "").strip()
        try:
            self._mask = setup_logging(self.paths.log_file, self.settings.log_level, (env_key,) if env_key else ())
        except OSError as exc:
            raise ConfigError(f"cannot write the log file {self.paths.log_file} ({exc.strerror}); "
                              f"check that folder, or set BUYPOWER_TUI_HOME to a writable one.") from None
        self._key: secrets.KeyInfo | None = None
        self._store: Store | None = None

    def mask_secret(self, value: str) -> None:
        """Never let this value reach the log (a key that did not come from `key()`)."""
        self._mask.add_secret(value)

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
            except (SQLAlchemyError, OSError, ImportError) as exc:
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                raise ConfigError(f"cannot open the database {safe_url(self.database_url)}: {reason}. "
                                  "Check --db or database_url (`buypower-tui config` shows it).") from None
        return self._store

    def client(self) -> BuyPowerClient:
        """A client for the current mode; ConfigError (exit 2) when there is no key for it."""
        info = self.key()
        if info.key is None:
            raise ConfigError(f"no API key for {self.settings.mode}: run `buypower-tui key set --env "
                              f"{self.settings.mode}` or set {secrets.ENV_VAR}"
                              + (f" (keyring: {info.keyring_problem})" if info.keyring_problem else ""))
        return BuyPowerClient.from_settings(self.settings, info.key, store=self.store)

    @contextmanager
    def money_lock(self) -> Iterator[None]:
        """One process at a time pays or requeries from this store: a second `run` (or a
        `requery` during a run) would take the first one's in-flight rows for crash leftovers."""
        path = create_private_file(self.paths.data_dir / "money.lock")
        with path.open("r+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = fh.read().strip() or "another process"
                raise ConfigError(f"another buypower-tui ({holder}) is paying or requerying from this store; "
                                  "wait for it to finish, or stop it (Ctrl+C stops after the rows in flight)") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @property
    def limits(self) -> Limits:
        return Limits.from_settings(self.settings)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def out(text: str = "") -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)

