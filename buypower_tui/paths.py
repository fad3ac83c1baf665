"""Where buypower-tui keeps its files.

Every path comes from platformdirs, except that `BUYPOWER_TUI_HOME` puts them all under
one folder (tests, portable installs). Nothing is created at import: folders appear the
first time something is written to them, owner-only (0700), because they hold the
store of payments and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from buypower_tui import APP_NAME

HOME_ENV = "BUYPOWER_TUI_HOME"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    cache_dir: Path

    @classmethod
    def resolve(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> AppPaths:
        env = os.environ if environ is None else environ
        home = env.get(HOME_ENV, "").strip()
        if home:
            root = Path(home).expanduser().absolute()
            return cls(root / "config", root / "data", root / "logs", root / "cache")
        return cls(
            Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def db_file(self) -> Path:
        return self.data_dir / "buypower-tui.db"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "buypower-tui.log"


def ensure_dir(path: Path) -> Path:
    """Create `path` (owner-only) if missing and return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def create_private_file(path: Path) -> Path:
    """Create `path` as an empty 0600 file if missing, and tighten it if it exists.

    SQLite and logging create files with the process umask (usually 0644); creating
    them first with 0600 makes the database's -wal/-shm files inherit the same mode.
    """
    ensure_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path
