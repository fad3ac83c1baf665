"""A throw-away PostgreSQL server for the tests: initdb in a temporary folder, a free port,
trust authentication on 127.0.0.1 only; stopped and removed afterwards.

PostgreSQL refuses to run as root: as root the server runs as the `postgres` OS user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    return _bin("initdb") is not None and _bin("pg_ctl") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running throw-away server: its URL, and a way to stop and start it again (a restart
    drops every connection, as a crash or a network cut would)."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port, self.data = root, port, root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        self._run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _ctl(self, *argv: str, check: bool = True) -> None:
        subprocess.run([*self._run_as, _bin("pg_ctl"), "-D", str(self.data), *argv], check=check,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, check: bool = True) -> None:
        """At once (`-m immediate`): every backend is killed, nothing is waited for."""
        self._ctl("-m", "immediate", "-w", "stop", check=check)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop at once, stay down `down_for` seconds (connections are refused meanwhile), start."""
        self.stop()
        time.sleep(down_for)
        self.start()


def fresh_database(server_url: str) -> str:
    """The URL of a new, empty database of its own on the server at `server_url`."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"t{uuid.uuid4().hex[:12]}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def running_server() -> Iterator[Server]:
    """A server of its own, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="buypower-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    handle = Server(root, _free_port())
    try:
        subprocess.run([*handle._run_as, _bin("initdb"), "-D", str(handle.data), "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        handle.start()
        try:
            yield handle
        finally:
            handle.stop(check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of an empty database on a server of its own."""
    with running_server() as handle:
        yield handle.url
