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


@contextmanager
def server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of an empty database on a server of its own."""
    root = Path(tempfile.mkdtemp(prefix="buypower-pg-"))
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    data, port = root / "data", _free_port()
    if as_root:
        shutil.chown(root, "postgres")
    try:
        subprocess.run([*run_as, _bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                        "start"], check=True, capture_output=True, timeout=120)
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*run_as, _bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
