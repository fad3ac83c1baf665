"""A hang-up (SSH closed) in the middle of a TUI run stops it after the rows in flight, and the
process leaves: no one is watching, so nothing more is sent."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from buypower_tui.cli import main
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.engine_helpers import assert_ledger_matches_store, write_batch

ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[@-_][0-?]*[ -/]*[@-~]?")


class Tui:
    """The real `buypower-tui` on a terminal of its own (a pty), read continuously."""

    def __init__(self, *argv: str) -> None:
        master, slave = pty.openpty()
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="40")
        self.proc = subprocess.Popen([sys.executable, "-m", "buypower_tui", *argv], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.master, self.screen = master, ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.screen = (self.screen + ANSI.sub("", chunk.decode(errors="replace")))[-200_000:]

    def wait_for(self, text: str, timeout: float = 90) -> None:
        end = time.monotonic() + timeout
        while text not in self.screen:
            assert time.monotonic() < end and self.proc.poll() is None, f"{text!r} never showed"
            time.sleep(0.1)

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=9)) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        monkeypatch.setenv("BUYPOWER_CONCURRENCY", "1")
        monkeypatch.setenv("BUYPOWER_RATE_LIMIT", "0")
        yield server


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_a_hang_up_mid_run_stops_after_the_rows_in_flight(sandbox, tmp_path, capsys, sig):
    assert main(["--sandbox", sandbox.url, "import", str(write_batch(tmp_path / "b.csv", 40))]) == 0
    capsys.readouterr()
    tui = Tui("--sandbox", sandbox.url)
    try:
        tui.wait_for("1 batch(es)")  # the batches screen, its store open, its cursor on the one batch
        tui.press("\r")  # open it
        tui.wait_for("valid total")
        tui.press("v")
        tui.wait_for("type VEND")
        sandbox.update_config(latency_ms=300)  # 0.3 s a vend, one at a time: the hang-up lands mid-run
        tui.press("VEND\r")
        end = time.monotonic() + 60
        while len(sandbox.ledger.vends()) < 3:
            assert time.monotonic() < end, "the run never started"
            time.sleep(0.05)
        tui.proc.send_signal(sig)
        hung_up_at = len(sandbox.ledger.vends())
        code = tui.proc.wait(timeout=30)  # it leaves, instead of paying on with no one watching
    finally:
        if tui.proc.poll() is None:
            tui.proc.kill()
        os.close(tui.master)
    assert code == 129
    paid = len(sandbox.ledger.vends())
    assert paid <= hung_up_at + 1  # at most the row that was in flight
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        states = [r.state for r in store.rows(1)]
        assert states.count("APPROVED") == 40 - paid and "SENDING" not in states  # the rest waits, approved
        assert_ledger_matches_store(sandbox.ledger.snapshot(), store, 1)
    finally:
        store.close()
