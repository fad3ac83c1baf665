"""Files as an operator (or an attacker) meets them: exports over links, devices and folders,
formulas and escape sequences in cells, truncated or foreign databases, the home folder's mode."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import sqlite3
import stat
import unicodedata
from pathlib import Path

import pytest

from buypower_tui.cli import main
from buypower_tui.core.outcomes import format_token
from buypower_tui.core.sandbox import FIXTURE_METERS, SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
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
    if path.suffix == ".xlsx":  # text cells: a CSV cell holding a CR is refused as a quote left open
        import openpyxl

        wb = openpyxl.Workbook()
        for r, row in enumerate([HEADER, *rows], 1):
            for c, value in enumerate(row, 1):
                cell = wb.active.cell(r, c, value)
                cell.data_type = "s"  # text as typed, not a formula: what a sheet's formula-looking names are
        wb.save(path)
        return path
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


# -- point 8: exports are written as the user expects and nothing else ---------------------------

def test_export_refuses_a_link_and_leaves_its_target_alone(tmp_path, capsys, batch):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    precious.chmod(0o644)
    link = tmp_path / "tokens.csv"
    link.symlink_to(precious)
    code, _, err = run(capsys, "export", batch, "-o", str(link))
    assert code == 2 and "symbolic link" in err and "nothing was written" in err
    assert precious.read_text() == "keep me\n" and mode_of(precious) == 0o644 and link.is_symlink()


def test_export_to_a_folder_says_it_is_a_folder(tmp_path, capsys, batch):
    folder = tmp_path / "exports"
    folder.mkdir()
    code, _, err = run(capsys, "export", batch, "-o", str(folder))
    assert code == 2 and "a folder" in err and "give a file name inside it" in err
    assert "unexpected" not in err and list(folder.iterdir()) == []


def test_export_replaces_a_regular_file_whole_and_private(tmp_path, capsys, batch, permissive_umask):
    target = tmp_path / "tokens.csv"
    target.write_text("an old export\n")
    target.chmod(0o644)
    code, _, err = run(capsys, "export", batch, "-o", str(target))
    assert code == 0, err
    assert mode_of(target) == 0o600 and target.read_text().startswith("sheet_row,meter,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estate.csv", "home", "tokens.csv"]  # no temp file left
    new = tmp_path / "new" / "tokens.csv"  # a folder that is not there is not made (a typo, say)
    code, _, err = run(capsys, "export", batch, "-o", str(new))
    assert code == 2 and f"there is no folder {new.parent}; nothing was written" in err and not new.parent.exists()
    new.parent.mkdir()
    assert run(capsys, "export", batch, "-o", str(new))[0] == 0  # a new file: private
    assert mode_of(new) == 0o600


def test_devices_are_neither_written_nor_chmodded(tmp_path, capsys, batch):
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except PermissionError:
        pytest.skip("creating a device node needs root")
    node.chmod(0o666)
    code, _, err = run(capsys, "export", batch, "-o", str(node))
    assert code == 2 and "character device" in err and mode_of(node) == 0o666
    code, _, err = run(capsys, "--db", f"sqlite:///{node}", "batches")
    assert code == 2 and "character device" in err and mode_of(node) == 0o666


def test_a_fifo_is_refused_without_waiting_for_a_reader(tmp_path, capsys, batch):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    assert run(capsys, "export", batch, "-o", str(fifo))[0] == 2
    code, _, err = run(capsys, "--db", f"sqlite:///{fifo}", "batches")
    assert code == 2 and "FIFO" in err and mode_of(fifo) == 0o644


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


def test_export_to_stdout_shows_control_characters_escaped(tmp_path, capsys):
    path = sheet(tmp_path, [["\x1b[2J\x1b]0;owned\x0712345678910", "EKO\u009b31m", "1000", "08031234567", "", "Ade"]])
    run(capsys, "import", str(path))
    code, out, _ = run(capsys, "export", "1")
    assert code == 0
    assert "\\x1b[2J\\x1b]0;owned\\x0712345678910" in out and "EKO\\x9b31m" in out
    assert not [c for c in out.replace("\r\n", "") if unicodedata.category(c) == "Cc"]


async def test_the_editors_invalid_rows_export_is_private_and_refuses_a_link(tmp_path, permissive_umask):
    from buypower_tui.ui.modals.error import ErrorModal
    from tests.ui_support import SIZE, demo_app, settle

    out, precious = tmp_path / "to-fix.csv", tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    precious.chmod(0o644)
    (tmp_path / "link.csv").symlink_to(precious)
    app = demo_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x", "ctrl+a", "ctrl+k", *str(out), "enter")
        await settle(pilot)
        assert mode_of(out) == 0o600 and len(list(csv.DictReader(out.open()))) == 7
        await pilot.press("x", "ctrl+a", "ctrl+k", *str(tmp_path / "link.csv"), "enter")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal) and "symbolic link" in app.screen.text
    assert precious.read_text() == "keep me\n" and mode_of(precious) == 0o644
    app.services.close()


# -- point 9: CSV injection -------------------------------------------------------------------

def test_formula_cells_from_the_sheet_are_neutralised_in_every_export(tmp_path, capsys):
    rows = [[f"6201000000{i}", "EKO", "1000", "08031234567", "", name] for i, name in enumerate(FORMULAS, 1)]
    rows.append(["=cmd|' /C calc'!A0", "@EKO", "-5", "08031234567", "", "-Bad"])  # invalid: meter, disco, amount
    code, _, err = run(capsys, "import", str(sheet(tmp_path, rows, "estate.xlsx")))
    assert code == 1, err
    out = tmp_path / "tokens.csv"
    assert run(capsys, "export", "1", "-o", str(out))[0] == 0
    exported = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    for line in exported:
        assert not line["customer_name"].startswith(("=", "+", "-", "@", "\t", "\r")), line
    assert [line["customer_name"] for line in exported[:2]] == ["'" + FORMULAS[0], "'+SUM(1,2)"]
    assert [line["meter"] for line in exported[:6]] == [f"6201000000{i}" for i in range(1, 7)]  # digits untouched
    assert exported[0]["amount"] == "1000.00" and exported[6]["meter"] == "'=cmd|' /C calc'!A0"

    from buypower_tui.core.export import export_invalid  # the editor's `x`

    fix = tmp_path / "to-fix.csv"
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        assert export_invalid(store, 1, fix) == 1
    finally:
        store.close()
    (line,) = csv.DictReader(fix.open(encoding="utf-8", newline=""))
    assert line["meter"] == "'=cmd|' /C calc'!A0" and line["disco"] == "'@EKO" and line["name"] == "'-Bad"
    assert line["amount"] == "-5"  # a plain number stays a number


def test_formula_cells_from_buypower_are_neutralised_and_tokens_stay_exact(tmp_path, capsys, monkeypatch):
    meter = "12345678910"  # the sandbox's ABUJA meter, whose customer name BuyPower now sends as a formula
    monkeypatch.setitem(FIXTURE_METERS, meter, dataclasses.replace(FIXTURE_METERS[meter], name="=1+1"))
    path = sheet(tmp_path, [[meter, "ABUJA", "1000", "08031234567", "", "Ade"],
                            ["62010000001", "EKO", "2000", "08031234567", "", "Funmi"]])
    with SandboxServer(SandboxConfig(seed=3, requery_cooldown_s=0, delay=(0,))) as server:
        monkeypatch.setenv("BUYPOWER_API_KEY", server.key)
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        assert main(["--sandbox", server.url, "import", str(path)]) == 0
        assert main(["--sandbox", server.url, "run", "1", "--yes"]) == 0
    capsys.readouterr()
    out = tmp_path / "tokens.csv"
    assert run(capsys, "--sandbox", "export", "1", "-o", str(out))[0] == 0
    exported = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        stored = {r.row_number: r for r in store.rows(1)}
    finally:
        store.close()
    assert exported[0]["customer_name"] == "'=1+1" and exported[1]["customer_name"] == "FUNMILAYO ADEBISI"
    for line in exported:
        row = stored[int(line["sheet_row"])]
        assert line["state"] == "SUCCESS" and line["meter"] == row.meter
        assert line["token"] == format_token(row.token) and line["receipt_no"] == (row.receipt_no or "")
        assert line["order_id"] == row.order_id and line["amount"] == f"{row.amount:.2f}"


# -- point 14: databases that are not ours, and the home folder's mode --------------------------------

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
