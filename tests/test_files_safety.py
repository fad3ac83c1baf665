"""Files as an operator (or an attacker) meets them: exports over links, devices and folders,
formulas and escape sequences in cells, truncated or foreign databases, the home folder's mode."""

from __future__ import annotations

import csv
import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from buypower_tui.cli import main
from buypower_tui.paths import AppPaths

HEADER = ["Meter Number", "Disco", "Amount (NGN)", "Phone Number", "Meter Type", "Customer Name"]
FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+SUM(1,2)", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sheet(tmp_path: Path, rows: list[list[str]], name: str = "estate.csv") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return path


@pytest.fixture
def batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Batch 1: two valid rows and an invalid one."""
    path = sheet(tmp_path, [["04271892301", "IKEJA", "1000", "08031234567", "", "Tunde"],
                            ["62010000001", "EKO", "2500.50", "08031234567", "", "Funmi"],
                            ["=1+2", "EKO", "-5", "08031234567", "", "Bad"]])
    assert run(capsys, "import", str(path))[0] == 1
    return "1"


@pytest.fixture
def permissive_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_link_in_place_of_the_log_or_the_database_is_refused(tmp_path, capsys):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    precious.chmod(0o644)
    paths = AppPaths.resolve()
    paths.log_dir.mkdir(parents=True)
    paths.log_file.symlink_to(precious)
    code, _, err = run(capsys, "batches")
    assert code == 2 and "log file" in err and "symbolic link" in err
    paths.log_file.unlink()
    link_db = tmp_path / "store.db"
    link_db.symlink_to(precious)
    code, _, err = run(capsys, "--db", f"sqlite:///{link_db}", "batches")
    assert code == 2 and "symbolic link" in err
    assert precious.read_text() == "keep me\n" and mode_of(precious) == 0o644


def test_a_truncated_store_is_refused_not_started_afresh(tmp_path, capsys, batch):
    db = AppPaths.resolve().db_file
    for leftover in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    db.write_bytes(b"")
    code, out, err = run(capsys, "batches")
    assert code == 2 and "empty file (0 bytes)" in err and "backup" in err and "--db" in err
    assert db.stat().st_size == 0 and out == ""


def test_a_foreign_or_non_sqlite_file_is_refused_untouched(tmp_path, capsys):
    foreign = tmp_path / "contacts.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE contacts (name TEXT, phone TEXT)")
        db.execute("INSERT INTO contacts VALUES ('Ada', '08031234567')")
    db.close()
    before = digest(foreign)
    code, _, err = run(capsys, "--db", f"sqlite:///{foreign}", "batches")
    assert code == 2 and "contacts" in err and "not a buypower-tui store" in err and "untouched" in err
    assert digest(foreign) == before
    with sqlite3.connect(foreign) as db:
        assert [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["contacts"]
    db.close()
    text = tmp_path / "notes.db"
    text.write_text("not a database at all\n" * 50)
    code, _, err = run(capsys, "--db", f"sqlite:///{text}", "batches")
    assert code == 2 and "not a SQLite database" in err and text.read_text() == "not a database at all\n" * 50


def test_a_new_database_path_makes_a_store_and_it_opens_again(tmp_path, capsys):
    db = tmp_path / "stores" / "march.db"
    for _ in range(2):
        code, _, err = run(capsys, "--db", f"sqlite:///{db}", "batches")
        assert code == 0, err
    assert mode_of(db) == 0o600 and sorted(p.name for p in db.parent.iterdir()) == ["march.db"]


def test_the_home_folder_and_its_parents_are_created_owner_only(tmp_path, capsys, monkeypatch, permissive_umask):
    home = tmp_path / "new" / "deeper" / "home"
    monkeypatch.setenv("BUYPOWER_TUI_HOME", str(home))
    tmp_path.chmod(0o755)
    code, _, err = run(capsys, "batches")
    assert code == 0, err
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper", home, home / "data", home / "logs"):
        assert mode_of(folder) == 0o700, folder
    assert mode_of(tmp_path) == 0o755  # a folder that was there is not ours to chmod
