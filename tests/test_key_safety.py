"""The key goes only where it belongs: per environment, over HTTPS (or to a sandbox on this
machine), never in a message, and only into a keyring that keeps it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from buypower_tui.cli import main
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.outcomes import ConfigurationError
from buypower_tui.paths import AppPaths
from buypower_tui.ui.modals.error import ErrorModal
from tests.ui_support import demo_app, settle

LIVE = "0123456789abcdef" * 4
SANDBOX = "fedcba9876543210" * 4


@pytest.fixture
def capture():
    """A server that records every Authorization header it is sent (a key collector)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"balance": 1000}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v2", seen
    server.shutdown()
    server.server_close()


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_sandbox_url_never_receives_the_live_key(capture, capsys, monkeypatch):
    url, seen = capture
    monkeypatch.setenv("BUYPOWER_API_KEY", LIVE)
    code, out, _ = run(capsys, "--sandbox", url, "health")
    assert code == 1 and "no API key" in out
    assert all(LIVE not in h for h in seen)
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", SANDBOX)
    run(capsys, "--sandbox", url, "health")
    assert seen and all(h == f"Bearer {SANDBOX}" for h in seen)


@pytest.mark.parametrize("flags", [
    ("--live", "--base-url", "{url}"),  # plain HTTP, even to this machine
    ("--live", "--base-url", "https://api.buypower.ng.example.com/v2"),  # HTTPS, but not BuyPower
    ("--sandbox", "http://10.11.12.13/v2"),  # plain HTTP to another machine
])
def test_a_key_is_refused_in_one_line_where_it_must_not_go(capture, capsys, monkeypatch, flags):
    url, seen = capture
    monkeypatch.setenv("BUYPOWER_API_KEY", LIVE)
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", SANDBOX)
    code, _, err = run(capsys, *(f.format(url=url) for f in flags), "health", "--json")
    assert code == 2 and err.count("\n") == 1 and err.startswith("refused to send the")
    assert seen == []


def test_the_client_itself_never_sends_a_key_over_plain_http_to_another_host():
    async def go():
        async with BuyPowerClient("http://10.11.12.13/v2", SecretStr(LIVE), read_attempts=1) as client:
            await client.wallet_balance()

    with pytest.raises(ConfigurationError, match="plain HTTP"):
        asyncio.run(go())


@pytest.mark.parametrize("name,content", [
    (".env", f"BUYPOWER_API_KEY={LIVE}\n"),
    ("apikey.csv", f"{LIVE}\n"),
    ("keys.csv", "sk-not-hex-but-known,sandbox\n"),
])
def test_a_file_holding_the_key_never_shows_it(tmp_path, capsys, monkeypatch, name, content):
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", "sk-not-hex-but-known")
    path = tmp_path / name
    path.write_text(content)
    for command in ("import", "validate"):
        code, out, err = run(capsys, "--sandbox", command, str(path))
        assert code == 2 and "Columns found" in err
        assert LIVE not in out + err and "sk-not-hex-but-known" not in out + err


async def test_the_tui_masks_errors_and_toasts(tmp_path):
    app = demo_app(tmp_path, open_batch=False, recover=False)
    async with app.run_test(size=(120, 36)) as pilot:
        app.show_error("The file was not imported", f"Columns found: 'BUYPOWER_API_KEY={LIVE}'")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal) and LIVE not in app.screen.text and "***" in app.screen.text
        app.notify(f"key {LIVE}")
        await settle(pilot)
        assert all(LIVE not in str(n.message) for n in app._notifications)


def test_key_set_without_a_persistent_keyring_says_so(tmp_path):
    """No D-Bus, no keyring: the key must not go to a keyring that forgets it at exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "PYTHON_KEYRING", "BUYPOWER_"))}
    env.update(BUYPOWER_TUI_HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               XDG_DATA_HOME=str(tmp_path / "xdg-data"), DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    done = subprocess.run([sys.executable, "-m", "buypower_tui", "key", "set"], input=LIVE + "\n", env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "No usable OS keyring" in done.stderr and "stored" not in done.stdout
    assert "export BUYPOWER_API_KEY=" in done.stderr


def test_a_server_that_echoes_the_key_never_gets_it_stored():
    """A 400 whose message quotes our Authorization header: what is kept has the key masked."""
    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"status": False, "message": f"Invalid request for {self.headers['Authorization']}"})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def go():
        async with BuyPowerClient(f"http://127.0.0.1:{server.server_port}/v2", SecretStr(SANDBOX)) as client:
            return await client.vend("o-1", "62010000001", "EKO", Decimal(1000), "08031234567")

    try:
        result = asyncio.run(go())
    finally:
        server.shutdown()
        server.server_close()
    assert result.outcome == "PENDING" and "Bearer ***" in result.message  # words not known to be final
    assert SANDBOX not in result.message and SANDBOX not in json.dumps(result.response)


def test_a_key_pasted_into_a_sheet_is_never_stored_nor_exported(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", "sk-not-hex-but-known")
    sheet = tmp_path / "estate.csv"
    sheet.write_text(f"meter,disco,amount,phone,name\n04271892301,IKEJA,1000,08031234567,{LIVE}\n"
                     "04271892302,IKEJA,1000,08031234567,sk-not-hex-but-known\n")
    code, out, err = run(capsys, "--sandbox", "import", str(sheet))
    assert code == 1 and out.count("holds what looks like an API key; it was not kept") == 2
    code, out, _ = run(capsys, "--sandbox", "export", "1")
    db = b"".join(p.read_bytes() for p in AppPaths.resolve().data_dir.glob("buypower-tui.db*"))  # -wal too
    for key in (LIVE, "sk-not-hex-but-known"):
        assert key not in out and key.encode() not in db
