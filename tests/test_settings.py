"""Settings layering and the one clear message for a bad config."""

from __future__ import annotations

from decimal import Decimal

import pytest

from buypower_tui.cli import main
from buypower_tui.paths import AppPaths
from buypower_tui.settings import LIVE_URL, SANDBOX_URL, ConfigError, load_settings


def write_config(text: str):
    paths = AppPaths.resolve()
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    return paths


def test_defaults_are_those_of_the_issue(paths):
    s = load_settings(paths, environ={}).settings
    assert (s.mode, s.effective_base_url) == ("live", LIVE_URL)
    assert (s.connect_timeout, s.read_timeout, s.concurrency, s.rate_limit) == (5, 60, 4, 5)
    assert (s.breaker_threshold, s.breaker_cooldown, s.breaker_half_open_probes) == (5, 60, 3)
    assert (s.requery_first_wait, s.requery_max_wait, s.requery_budget_s) == (120, 1800, 6 * 3600)
    assert (s.amount_min, s.amount_max) == (Decimal(100), Decimal(100000))
    assert s.prepaid_meter_lengths == [11, 13]  # buypower-api.md §13: 13-digit IBADAN meters
    assert (s.postpaid_min_length, s.postpaid_max_length) == (6, 16)
    assert (s.duplicate_window_days, s.default_phone) == (7, "")


def test_file_then_env_then_flags(tmp_path):
    paths = write_config('mode = "sandbox"\nconcurrency = 2\nprepaid_meter_lengths = [11, 13]\n'
                         'default_phone = "+234 803 123 4567"\n')
    loaded = load_settings(paths, environ={})
    s = loaded.settings
    assert (s.mode, s.effective_base_url, s.concurrency) == ("sandbox", SANDBOX_URL, 2)
    assert s.prepaid_meter_lengths == [11, 13] and s.default_phone == "08031234567"
    assert loaded.sources["concurrency"] == f"file {paths.config_file}"

    env = {"BUYPOWER_CONCURRENCY": "8", "BUYPOWER_PREPAID_METER_LENGTHS": "11,12"}
    loaded = load_settings(paths, environ=env)
    assert loaded.settings.concurrency == 8 and loaded.settings.prepaid_meter_lengths == [11, 12]
    assert loaded.sources["concurrency"] == "env BUYPOWER_CONCURRENCY"

    loaded = load_settings(paths, flags={"concurrency": 3, "base_url": "http://127.0.0.1:9/v2/"}, environ=env)
    assert loaded.settings.concurrency == 3 and loaded.sources["concurrency"] == "flag"
    assert loaded.settings.effective_base_url == "http://127.0.0.1:9/v2"


@pytest.mark.parametrize("text,expected", [
    ("concurrency = \n", ["is not valid TOML", "line 1"]),
    ("concurency = 4\n", ["unknown key 'concurency'", "Did you mean 'concurrency'?"]),
    ('concurrency = "many"\n', ["key 'concurrency' = 'many' has the wrong type (text)", "a whole number from 1 to 64"]),
    ('concurrency = "4"\n', ["key 'concurrency' = '4' has the wrong type (text)"]),
    ("concurrency = true\n", ["key 'concurrency' = True has the wrong type (true/false)"]),
    ('amount_min = "100"\n', ["key 'amount_min' = '100' has the wrong type"]),
    ('prepaid_meter_lengths = [11, "13"]\n', ["key 'prepaid_meter_lengths'", "wrong type (a list)"]),
    ("prepaid_meter_lengths = [11.0]\n", ["key 'prepaid_meter_lengths'", "wrong type (a list)"]),
    ('verify_signature = "yes"\n', ["key 'verify_signature'", "true or false"]),
    ('database_url = "notaurl"\n', ["key 'database_url' = 'notaurl' is not allowed", "sqlite:///"]),
    ("concurrency = 0\n", ["key 'concurrency' = 0 is not allowed", "greater than or equal to 1"]),
    ("amount_min = 500\namount_max = 200\n", ["amount_min = 500 (file ", "is above amount_max = 200 (file ",
                                               "Allowed: amount_min <= amount_max"]),
    ("requery_first_wait = 4000\n", ["requery_first_wait = 4000 (file ", "requery_max_wait = 1800.0 (default)"]),
    ('default_phone = "12345"\n', ["key 'default_phone' = '12345'", "not a Nigerian mobile number"]),
    ('api_key = "abc"\n', ["the API key never goes in a file", "buypower-tui key set"]),
    ('mode = "production"\n', ["key 'mode' = 'production'", "live or sandbox"]),
    ("[api]\nconcurrency = 3\n", ["[api] is a table"]),
])
def test_bad_config_gives_one_clear_message_and_exit_2(capsys, text, expected):
    paths = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_settings(paths, environ={})
    message = str(info.value)
    assert str(paths.config_file) in message or "Settings are inconsistent" in message
    for part in expected:
        assert part in message
    assert main(["config"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.strip()


def test_bad_env_var_names_the_variable(paths, monkeypatch, capsys):
    monkeypatch.setenv("BUYPOWER_READ_TIMEOUT", "-1")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "Environment variable BUYPOWER_READ_TIMEOUT = '-1' is not allowed" in err
    assert "seconds, above 0" in err


def test_config_command_prints_files_and_effective_settings(capsys, monkeypatch):
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", "ab" * 32)
    write_config("requery_budget_s = 7\n")
    assert main(["--sandbox", "config"]) == 0
    out = capsys.readouterr().out
    paths = AppPaths.resolve()
    for where in (paths.config_file, paths.log_file, paths.db_file, paths.data_dir):
        assert str(where) in out
    assert "requery_budget_s           7.0" in out and "mode                       sandbox" in out
    assert "…abab" in out and "ab" * 32 not in out


def test_paths_follow_buypower_tui_home_and_nothing_is_created_at_import(isolated_home):
    import importlib

    import buypower_tui.cli

    importlib.reload(buypower_tui.cli)
    assert not isolated_home.exists()
    paths = AppPaths.resolve()
    assert paths.config_file == isolated_home / "config" / "config.toml"
    assert paths.db_file.parent == isolated_home / "data"
    assert paths.log_file.parent == isolated_home / "logs"
    assert paths.cache_dir == isolated_home / "cache"


def test_paths_come_from_platformdirs_without_override(monkeypatch):
    import platformdirs

    monkeypatch.delenv("BUYPOWER_TUI_HOME")
    paths = AppPaths.resolve()
    assert str(paths.config_dir) == platformdirs.user_config_dir("buypower-tui", appauthor=False)
    assert str(paths.log_dir) == platformdirs.user_log_dir("buypower-tui", appauthor=False)


def test_a_config_file_that_is_not_utf8_is_one_clear_message(capsys):
    paths = AppPaths.resolve()
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_bytes("concurrency = 4\n".encode("utf-16"))
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and "Traceback" not in err


def test_an_explicit_config_path_must_exist(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "missing.toml"), "config"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_database_passwords_are_not_shown(capsys):
    assert main(["--db", "postgresql://user:S3cretPw@db.example/x", "config"]) == 0
    out = capsys.readouterr().out
    assert "S3cretPw" not in out and "postgresql://user:***@db.example/x" in out


def test_a_database_that_cannot_be_opened_is_exit_2(tmp_path, capsys):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    for url in (f"sqlite:///{garbage}", "postgresql://u:pw@127.0.0.1:1/x", "mysql://u@localhost/x"):
        assert main(["--db", url, "batches"]) == 2
        err = capsys.readouterr().err
        assert "cannot open the database" in err and "pw@" not in err and "Traceback" not in err


def test_a_setting_an_older_version_had_is_said_once_and_not_refused(capsys, monkeypatch):
    """0.1's `requery_budget` (a count) became `requery_budget_s` (a time): a config file or env
    var that still names it must not stop the app from starting after an upgrade."""
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", "ab" * 32)
    monkeypatch.setenv("BUYPOWER_REQUERY_BUDGET", "5")
    write_config("requery_budget = 7\nconcurrency = 2\n")
    assert main(["--sandbox", "config"]) == 0
    captured = capsys.readouterr()
    assert "key 'requery_budget' is no longer used: the requery budget is now a time: requery_budget_s" \
        in captured.err
    assert "Environment variable BUYPOWER_REQUERY_BUDGET is no longer used" in captured.err
    assert "not settings and are ignored" not in captured.out  # said once, with the reason
    assert "requery_budget_s           21600.0" in captured.out and "concurrency                2 " in captured.out
