"""Bad values and a full disk are one message that says what to do, never "unexpected error"."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pytest

from buypower_tui.cli import main


@pytest.mark.parametrize("argv,said", [
    (("run", "1", "--max-total", "nan"), "'nan' is not a naira amount"),
    (("run", "1", "--max-total", "-5"), "'-5' is not a naira amount"),
    (("--base-url", "http://[::1", "health"), "not a usable URL: Invalid IPv6 URL"),
    (("--sandbox", "--base-url", "http://127.0.0.1:99999/v2", "health"), "Port out of range"),
    (("run", "99999999999999999999"), "is not a batch id"),
    (("export", "99999999999999999999"), "is not a batch id"),
    (("resolve", "-3", "--rows", "2", "--as", "paid", "--note", "x"), "is not a batch id"),
])
def test_bad_values_are_refused_with_one_message(capsys, argv, said):
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse refuses a bad value itself, with the same exit code
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and said in err and "unexpected" not in err


def _small_disk() -> None:
    """In the child: files may not grow past 300 kB, as on a disk with that much space left."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_a_full_disk_says_so_and_never_points_at_a_log_that_was_not_written(tmp_path):
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True, mode=0o700)
    log = home / "logs" / "buypower-tui.log"
    log.write_text("x" * 400_000)  # already past what the disk can take: nothing more is written
    log.chmod(0o600)
    sheet = tmp_path / "big.csv"
    sheet.write_text("meter,disco,amount,phone\n"
                     + "".join(f"{10_000_000_000 + i},IKEJA,1000,08031234567\n" for i in range(20_000)))
    env = dict(os.environ, BUYPOWER_TUI_HOME=str(home))
    done = subprocess.run([sys.executable, "-m", "buypower_tui", "import", str(sheet)], env=env,
                          preexec_fn=_small_disk, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "cannot write to the disk" in done.stderr and "Free some space" in done.stderr
    assert "details are in" not in done.stderr.lower() and "unexpected" not in done.stderr
    assert log.stat().st_size == 400_000
