"""Isolation for every test: a private home folder, an in-memory keyring, no key in the env."""

from __future__ import annotations

import time
from pathlib import Path

import keyring
import pytest

from buypower_tui.core.store import Store
from buypower_tui.memory_keyring import MemoryKeyring
from buypower_tui.paths import AppPaths


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("BUYPOWER_TUI_HOME", str(home))
    for var in list(__import__("os").environ):
        if var.startswith("BUYPOWER_") and var != "BUYPOWER_TUI_HOME":
            monkeypatch.delenv(var)
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> MemoryKeyring:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def paths() -> AppPaths:
    return AppPaths.resolve()


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(f"sqlite:///{tmp_path / 'test.db'}")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _close_log_handlers():
    """The CLI attaches a file handler to the root logger; detach it after each test."""
    import logging

    from buypower_tui.logs import PrivateRotatingFileHandler

    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, PrivateRotatingFileHandler)]:
        root.removeHandler(handler)
        handler.close()


@pytest.fixture
def lagos(monkeypatch: pytest.MonkeyPatch):
    """The machine's zone is WAT (UTC+1), as most operators' are: times are local with +01:00."""
    monkeypatch.setenv("TZ", "Africa/Lagos")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL server (tests/postgres.py), started when a test first asks."""
    from tests import postgres

    if not postgres.available():
        pytest.skip("PostgreSQL's initdb is not installed (.ci/run installs it)")
    with postgres.server() as url:
        yield url


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of an empty database of its own on that server."""
    from tests.postgres import fresh_database

    return fresh_database(pg_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A store's URL on each engine: the money tests run on both."""
    if request.param == "sqlite":
        from buypower_tui.paths import AppPaths

        return f"sqlite:///{AppPaths.resolve().db_file}"
    return request.getfixturevalue("pg_url")
