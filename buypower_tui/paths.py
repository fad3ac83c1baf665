"""Where buypower-tui keeps its files.

Every path comes from platformdirs, except that `BUYPOWER_TUI_HOME` puts them all under
one folder (tests, portable installs). Nothing is created at import: folders appear the
first time something is written to them, owner-only (0700), because they hold the
store of payments and logs. Files are written only as regular files: a link, device or FIFO
in their place is refused, never written through nor chmodded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import platformdirs

from buypower_tui import APP_NAME

HOME_ENV = "BUYPOWER_TUI_HOME"
T = TypeVar("T")


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


class NotARegularFile(OSError):
    """The path exists and is not a plain file (a folder, a link, a device, a FIFO): we neither
    write through it nor change its mode. `strerror` says what it is, as for any OSError."""

    def __init__(self, path: Path, mode: int) -> None:
        hint = "; give a file name inside it" if stat.S_ISDIR(mode) else ""
        super().__init__(errno.EINVAL, f"{file_kind(mode)}, not a regular file{hint}", str(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class NoFolder(FileNotFoundError):
    """The folder a file was to be written in is not there (or is not a folder): a file the
    operator named (an export, a report) is never written by making folders they did not ask
    for, from a typo. `strerror` says which; str() adds that nothing was written."""

    def __init__(self, path: Path) -> None:
        folder = path.parent
        why = f"{folder} is not a folder" if folder.exists() else f"there is no folder {folder}"
        super().__init__(errno.ENOENT, why, str(path))

    def __str__(self) -> str:
        return f"{self.strerror}; nothing was written"


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "something else")


def existing_file(path: Path) -> os.stat_result | None:
    """The path's own status (a link is not followed) when it is a regular file; None when
    nothing is there; NotARegularFile for anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(path, st.st_mode)
    return st


def ensure_dir(path: Path) -> Path:
    """Create `path` and any missing parent owner-only (0700), whatever the umask; a folder
    that already exists is left as it is (it is not ours to chmod)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # made meanwhile by someone else: theirs
            continue
        os.chmod(folder, 0o700)  # mkdir's mode passes through the umask; this folder is ours
    return path


def create_private_file(path: Path) -> Path:
    """Make sure `path` is a regular 0600 file (created empty if missing) and return it.

    SQLite and logging create files with the process umask (usually 0644); creating them
    first with 0600 makes the database's -wal/-shm files inherit the same mode. A link, a
    device or a FIFO at `path` is refused (NotARegularFile) and never opened or chmodded;
    an existing file is tightened only when it is ours.
    """
    ensure_dir(path.parent)
    existing_file(path)  # refuse before opening: opening a device or a FIFO can act on it
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd, created = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600), True
    except FileExistsError:
        fd, created = os.open(path, flags), False
    try:
        st = os.fstat(fd)  # what we actually opened, should the path have been swapped meanwhile
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(path, st.st_mode)
        if created or (st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077):
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def replace_file(path: Path, write: Callable[[IO[Any]], T], *, binary: bool = False,
                 make_folders: bool = True) -> T:
    """Write a file as a whole: `write(fh)` fills a new 0600 temporary file in the same folder
    (UTF-8 text, or bytes when `binary`: a workbook), which then takes the place of `path` by
    a rename.

    So a reader never sees half a file, a link at `path` is never followed (and is refused up
    front, as is anything but a regular file or a new path), and an existing file is replaced,
    not chmodded. Returns what `write` returns. A missing folder is made (owner-only), unless
    `make_folders` is False: then NoFolder, and nothing is written (a file the operator named).
    """
    if make_folders:
        ensure_dir(path.parent)
    elif not path.parent.is_dir():
        raise NoFolder(path)
    existing_file(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            result = write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # rename replaces a link itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return result
