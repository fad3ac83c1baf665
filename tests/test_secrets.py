"""The API key: env -> keyring -> none; never argv, never a file, never in a log."""

from __future__ import annotations

import io
import logging
import os
import stat

import keyring
import keyring.backends.fail
import pytest

from buypower_tui import secrets
from buypower_tui.cli import main
from buypower_tui.core.store import Store
from buypower_tui.logs import mask
from buypower_tui.paths import AppPaths

KEY = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4


def key_cmd(monkeypatch, capsys, *argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_set_status_clear_through_the_keyring(monkeypatch, capsys, memory_keyring):
    code, out, _ = key_cmd(monkeypatch, capsys, "key", "set", "--env", "sandbox", stdin=KEY + "\n")
    assert code == 0 and "…cdef" in out and KEY not in out
    assert memory_keyring.passwords == {("buypower-tui", "sandbox"): KEY}

    code, out, _ = key_cmd(monkeypatch, capsys, "key", "status", "--env", "sandbox")
    assert "from the OS keyring (buypower-tui/sandbox), ending in …cdef" in out and KEY not in out
    code, out, _ = key_cmd(monkeypatch, capsys, "key", "status", "--env", "live")
    assert "not set for live" in out

    monkeypatch.setenv("BUYPOWER_API_KEY", OTHER)  # the live key: it never serves the sandbox
    code, out, _ = key_cmd(monkeypatch, capsys, "key", "status", "--env", "sandbox")
    assert "from the OS keyring (buypower-tui/sandbox)" in out
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", OTHER)
    code, out, _ = key_cmd(monkeypatch, capsys, "key", "status", "--env", "sandbox")
    assert "from the environment (BUYPOWER_SANDBOX_API_KEY), ending in …3210" in out
    monkeypatch.delenv("BUYPOWER_SANDBOX_API_KEY")

    code, out, _ = key_cmd(monkeypatch, capsys, "key", "clear", "--env", "sandbox")
    assert code == 0 and "removed" in out and memory_keyring.passwords == {}
    code, out, _ = key_cmd(monkeypatch, capsys, "key", "clear", "--env", "sandbox")
    assert code == 0 and "no sandbox key was stored" in out


def test_key_shape_is_checked_unless_forced(monkeypatch, capsys, memory_keyring):
    code, _, err = key_cmd(monkeypatch, capsys, "key", "set", stdin="not-a-key\n")
    assert code == 2 and "64 hexadecimal characters" in err and memory_keyring.passwords == {}
    code, _, _ = key_cmd(monkeypatch, capsys, "key", "set", "--force", stdin="not-a-key\n")
    assert code == 0 and memory_keyring.passwords == {("buypower-tui", "live"): "not-a-key"}
    code, _, err = key_cmd(monkeypatch, capsys, "key", "set", stdin="")
    assert code == 2 and "no key was given" in err


def test_key_is_never_taken_from_argv_nor_echoed(monkeypatch, capsys, memory_keyring):
    for odd in (KEY, "not-hex-but-secret"):
        code, out, err = key_cmd(monkeypatch, capsys, "key", "set", odd)
        assert code == 2 and "never taken from the command line" in err
        assert odd not in out + err and memory_keyring.passwords == {}


def test_ctrl_d_at_the_prompt_is_no_key(monkeypatch, capsys):
    class ClosedTTY:
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", ClosedTTY())
    monkeypatch.setattr("getpass.getpass", lambda prompt: (_ for _ in ()).throw(EOFError()))
    assert main(["key", "set"]) == 2
    assert "no key was given" in capsys.readouterr().err


def test_a_short_key_is_never_shown(monkeypatch, capsys):
    key_cmd(monkeypatch, capsys, "key", "set", "--force", stdin="abcd\n")
    code, out, _ = key_cmd(monkeypatch, capsys, "key", "status")
    assert "abcd" not in out and "too short to show" in out


def test_validate_does_not_touch_the_keyring(monkeypatch, capsys, memory_keyring):
    class Untouchable(type(memory_keyring)):
        def get_password(self, service, username):
            raise AssertionError("validate asked the keyring")

    keyring.set_keyring(Untouchable())
    assert main(["validate", "--sample"]) == 0


def test_no_keyring_backend_explains_the_two_ways_out(monkeypatch, capsys):
    keyring.set_keyring(keyring.backends.fail.Keyring())
    code, out, err = key_cmd(monkeypatch, capsys, "key", "set", stdin=KEY + "\n")
    assert code == 2
    assert "dbus-run-session" in err and "gnome-keyring" in err and "BUYPOWER_API_KEY" in err
    assert KEY not in out + err and "Traceback" not in err
    # status and the rest keep working, and say why the keyring could not be asked
    code, out, _ = key_cmd(monkeypatch, capsys, "key", "status")
    assert code == 0 and "not set for live" in out and "keyring unavailable" in out
    monkeypatch.setenv("BUYPOWER_API_KEY", KEY)
    assert secrets.resolve_key("live").source == "env"
    # and nothing was written anywhere as a fallback
    home = AppPaths.resolve()
    for root in (home.config_dir, home.data_dir, home.cache_dir):
        if root.exists():
            for path in root.rglob("*"):
                assert KEY not in path.read_text(errors="ignore") if path.is_file() else True


def test_key_is_a_secretstr_whose_repr_hides_it(monkeypatch):
    monkeypatch.setenv("BUYPOWER_API_KEY", KEY)
    info = secrets.resolve_key("live")
    assert KEY not in repr(info) and KEY not in str(info.key)
    assert info.key.get_secret_value() == KEY


@pytest.mark.parametrize("text,hidden,kept", [
    ("Authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Authorization=***"),
    ("{'authorization': 'Token sk_live_x'}", "sk_live_x", "'authorization': '***'"),
    (f"key {KEY} in text", KEY, "key *** in text"),
    ("headers={'Authorization': 'Bearer abc.def'}", "abc.def", "'Authorization': '***'"),
    ("Authorization: Bearer sometoken", "sometoken", "Authorization: ***"),
    ("sent Bearer sometoken to", "sometoken", "Bearer ***"),
    ("token 1234-5678-9012-3456-7890 ok", "5678-9012-3456", "1234-****-****-****-7890"),
    ("token 12345678901234567890 ok", "567890123456", "1234************7890"),
])
def test_mask(text, hidden, kept):
    masked = mask(text)
    assert hidden not in masked and kept in masked


def test_meters_and_phones_are_not_masked():
    assert mask("meter 04271892301 phone 08031234567") == "meter 04271892301 phone 08031234567"


def test_files_are_0600_and_the_key_never_reaches_the_log(monkeypatch, capsys, tmp_path):
    oddkey = "my-key-is-not-hex-shaped-but-still-secret"
    monkeypatch.setenv("BUYPOWER_API_KEY", oddkey)
    sample = tmp_path / "s.csv"
    sample.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n")
    assert main(["import", str(sample)]) == 0

    log = logging.getLogger("buypower_tui.test")
    try:
        raise RuntimeError(f"call failed with Authorization: Bearer {oddkey}, key {oddkey}, "
                           f"other {KEY}, token 1234-5678-9012-3456-7890")
    except RuntimeError:
        log.exception("request to BuyPower with key %s failed", oddkey)
    log.error("plain %s", KEY)
    for handler in logging.getLogger().handlers:
        handler.flush()

    paths = AppPaths.resolve()
    text = paths.log_file.read_text()
    assert "RuntimeError" in text and "request to BuyPower with key *** failed" in text
    assert oddkey not in text and KEY not in text and "5678-9012-3456" not in text
    for path in [paths.log_file, paths.db_file, *paths.data_dir.glob("*.db-*")]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert stat.S_IMODE(os.stat(paths.data_dir).st_mode) == 0o700


def test_wal_and_shm_files_are_0600_while_open(tmp_path):
    db = tmp_path / "x" / "store.db"
    store = Store.open(f"sqlite:///{db}")
    with store.session() as s:
        s.connection().exec_driver_sql("SELECT 1")
        side_files = [db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(p.exists() for p in side_files)
        for path in [db, *side_files]:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    store.close()
