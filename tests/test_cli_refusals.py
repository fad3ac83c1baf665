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
    (("run", "1", "--wait-pending", "nan"), "'nan' is not a number of seconds"),
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


def test_export_to_an_empty_file_name_is_refused_not_printed(capsys, tmp_path):
    sheet = tmp_path / "s.csv"
    sheet.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n")
    assert main(["import", str(sheet)]) == 0
    capsys.readouterr()
    assert main(["export", "1", "-o", ""]) == 2  # an unset $OUT in a cron line
    captured = capsys.readouterr()
    assert captured.out == "" and "empty file name" in captured.err


def test_terminal_control_codes_in_a_sheet_never_reach_the_terminal(capsys, tmp_path):
    sheet = tmp_path / "esc.csv"
    sheet.write_text("meter,disco,amount,phone,\x1b]52;c;cHduZWQ=\x07notes\n04271892301,IKEJA,1000,08031234567,x\n")
    assert main(["validate", str(sheet)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b]52" in out  # shown, escaped: not an OSC 52 clipboard write
    assert main(["import", str(sheet), "--name", "\x1b[2Jwiped"]) == 0
    assert main(["batches"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def _foreign_db(path, sql: str) -> bytes:
    import sqlite3

    with sqlite3.connect(path) as db:
        db.executescript(sql)
    return path.read_bytes()


@pytest.mark.parametrize("uri", [False, True])
def test_another_programs_tables_named_like_ours_are_refused_untouched(capsys, tmp_path, uri):
    path = tmp_path / "theirs.db"
    before = _foreign_db(path, "create table batch(x); create table recipient(y);")
    mode = path.stat().st_mode
    url = f"sqlite:///file:{path}?uri=true" if uri else f"sqlite:///{path}"
    assert main(["--db", url, "batches"]) == 2
    assert "not a buypower-tui store, and was left untouched" in capsys.readouterr().err
    assert path.read_bytes() == before and path.stat().st_mode == mode


def test_a_store_that_lost_its_history_is_called_damaged(capsys, tmp_path):
    import sqlite3

    assert main(["batches"]) == 0
    from buypower_tui.paths import AppPaths

    db = AppPaths.resolve().db_file
    with sqlite3.connect(db) as conn:
        conn.execute("drop table event")
    capsys.readouterr()
    assert main(["batches"]) == 2
    assert "damaged buypower-tui store: its event table is missing" in capsys.readouterr().err


def test_formulas_behind_blanks_line_breaks_or_in_full_width_are_neutralised():
    from buypower_tui.core.export import safe_cell

    for cell in (" =1+1", "\n=cmd|' /C calc'!A0", "\uff1d1+1", "\u3000+SUM(1)"):
        assert safe_cell(cell) == "'" + cell
    for cell in ("-5.00", "1234-5678-9012-3456-7890", "  Ade", "62010000001"):
        assert safe_cell(cell) == cell


def test_file_names_in_the_pickers_are_text_without_control_codes(tmp_path):
    from buypower_tui.ui.widgets.file_tree import FileTree

    label = FileTree.process_label(None, "\x1b[31m[b]red\u202e.csv")  # type: ignore[arg-type] - uses no state
    assert label.plain == "\\x1b[31m[b]red⟨U+202E⟩.csv"
