"""The month on one page (issue 14, point 5): `buypower-tui report`, its files, and the wallet's
movement from the runs' own reconciliations. Paid against the sandbox; its ledger is the proof."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import update

from buypower_tui.cli import main
from buypower_tui.core.models import Recipient
from buypower_tui.core.report import month_report
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.engine_helpers import cli, cli_sandbox

OK1, OK2, OK3, MAINTENANCE = "45143922351", "45143922352", "45143922353", "55500000007"


@pytest.fixture
def sandbox(monkeypatch):
    with cli_sandbox(monkeypatch, seed=21) as server:
        yield server


def store() -> Store:
    return Store.open(f"sqlite:///{AppPaths.resolve().db_file}")


def month_now() -> str:
    return f"{datetime.now().astimezone():%Y-%m}"


@pytest.fixture
def paid_month(sandbox, capsys, tmp_path):
    """Batch 1: two rows paid (Sunrise), one failed for good and closed, one failed (Lakeview)."""
    sheet = tmp_path / "march.csv"
    sheet.write_text("meter,disco,amount,phone,Estate,Block\n"
                     f"{OK1},ABUJA,1000,08031234567,Sunrise,A\n"
                     f"{OK2},ABUJA,2500,08031234567,Sunrise,B\n"
                     f"{MAINTENANCE},ABUJA,1500,08031234567,Lakeview,A\n"
                     f"55500000002,ABUJA,1200,08031234567,Lakeview,C\n")
    assert cli(capsys, sandbox, "import", str(sheet))[0] == 0
    code, out, err = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 1 and "2 SUCCESS" in out and "2 FAILED" in out, out + err
    assert cli(capsys, sandbox, "close", "1", "--rows", "4", "--note", "meter under maintenance")[0] == 0
    return sandbox


def test_report_per_disco_and_per_kept_column_with_the_wallet_from_the_run(paid_month, capsys):
    code, out, _ = cli(capsys, paid_month, "report")
    assert code == 0
    lines = out.splitlines()
    abuja = next(line for line in lines if line.startswith("ABUJA"))
    assert abuja.split()[:7] == ["ABUJA", "2", "₦3,500.00", "1", "₦1,200.00", "0", "—"], abuja
    assert abuja.split()[-1] == "1"  # closed
    assert "wallet: 1 run in" in out and "it went down by ₦3,500.00, and their rows paid ₦3,500.00" in out
    assert "less left the wallet" not in out and "more left the wallet" not in out
    assert f"rows paid in {month_now()} (SUCCESS, by their payment time): ₦3,500.00" in out

    code, out, _ = cli(capsys, paid_month, "report", "--by", "ESTATE")  # a kept column, any case
    assert code == 0
    sunrise = next(line for line in out.splitlines() if line.startswith("Sunrise"))
    lakeview = next(line for line in out.splitlines() if line.startswith("Lakeview"))
    assert sunrise.split()[1:3] == ["2", "₦3,500.00"] and lakeview.split()[1:5] == ["0", "—", "1", "₦1,200.00"]
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1:3] == ["2", "₦3,500.00"]

    code, _, err = cli(capsys, paid_month, "report", "--by", "Flat")
    assert code == 2 and (f"report: no row of {month_now()} has a column 'Flat'; group by one of: disco, batch, "
                          "Estate, Block") in err, err


def test_each_row_counts_in_the_month_it_was_paid_per_day_too(paid_month):
    db = store()
    try:
        with db.session() as s:  # the first row was paid on 28 February (local noon: any zone keeps the day)
            s.exec(update(Recipient).where(Recipient.row_number == 2).values(
                paid_at=datetime(2026, 2, 28, 12, tzinfo=UTC)))
            s.commit()
        now = month_report(db, mode="sandbox")
        february = month_report(db, "2026-02", by="batch", mode="sandbox")
    finally:
        db.close()
    assert (now.total.paid, now.total.paid_kobo) == (1, 250_000)
    assert (february.total.paid, february.total.paid_kobo, february.total.failed) == (1, 100_000, 0)
    assert february.groups[0].group == "1 march"
    assert len(february.per_day) == 28 and february.per_day[-1] == (date(2026, 2, 28), 100_000)
    assert sum(k for _, k in february.per_day[:-1]) == 0
    assert february.per_disco == [("ABUJA", 100_000)]
    assert february.wallet.runs == 0  # the run was this month
    assert now.wallet.moved == Decimal("3500") and now.wallet.paid_by_runs == Decimal("3500")


def test_report_files_csv_and_xlsx_keep_text_as_text(paid_month, capsys, tmp_path):
    db = store()
    try:
        with db.session() as s:  # a hostile group name from a sheet
            s.exec(update(Recipient).where(Recipient.row_number == 2).values(
                extras={"Estate": "=HYPERLINK(\"http://x\",\"y\")", "Block": "A"}))
            s.commit()
    finally:
        db.close()
    csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
    assert cli(capsys, paid_month, "report", "--by", "estate", "-o", str(csv_path))[0] == 0
    text = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert text[0] == "Estate,paid,paid_naira,failed,failed_naira,pending,pending_naira,closed"
    assert "'=HYPERLINK" in text[1] or "'=HYPERLINK" in text[2]
    assert text[-1] == "TOTAL,2,3500.00,1,1200.00,0,0.00,1"
    code, _, err = cli(capsys, paid_month, "report", "--by", "estate", "-o", str(xlsx_path))
    assert code == 0 and f"wrote the report for {month_now()} to {xlsx_path}" in err
    wb = openpyxl.load_workbook(xlsx_path)
    assert wb.sheetnames == ["by Estate", "per day", "per disco", "wallet"]
    table = [[c.value for c in row] for row in wb["by Estate"].iter_rows()]
    hostile = next(row for row in table if "HYPERLINK" in str(row[0]))
    assert hostile[0].startswith("'=") and wb["by Estate"].cell(table.index(hostile) + 1, 1).data_type == "s"
    assert table[-1][:3] == ["TOTAL", 2, 3500]
    wallet = {row[0].value: row[1].value for row in wb["wallet"].iter_rows(min_row=2)}
    assert wallet["runs"] == 1 and wallet["difference"] == 0
    assert (xlsx_path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize(("argv", "message"), [
    (("--month", "2026-13"), "'2026-13' is not a month: write it as YYYY-MM"),
    (("--month", "1999-12"), "'1999-12' is not a month we could have paid in"),
    (("-o", "r.pdf"), "r.pdf is neither .csv nor .xlsx; name the file e.g. r.xlsx"),
])
def test_a_bad_month_or_file_is_refused_with_what_to_give(sandbox, capsys, argv, message):
    code, _, err = cli(capsys, sandbox, "report", *argv)
    assert code == 2 and message in err, err


def test_an_empty_month_says_so_and_exits_0(sandbox, capsys):
    code, out, _ = cli(capsys, sandbox, "report", "--month", "2025-01")
    assert code == 0 and "nothing was paid, failed, pending or closed in 2025-01" in out
    with pytest.raises(SystemExit) as usage:
        main(["report", "--by"])
    assert usage.value.code == 2


def test_a_live_report_leaves_sandbox_money_out(paid_month, capsys):
    """One store holds both modes' batches; each report is one wallet's."""
    assert main(["--live", "report"]) == 0
    out = capsys.readouterr().out
    assert "nothing was paid, failed, pending or closed" in out and "₦3,500.00" not in out
    assert "went down" not in out  # the sandbox wallet's run is not the live wallet's
    code, out, _ = cli(capsys, paid_month, "report")
    assert "sandbox batches only" in out.splitlines()[0] and "₦3,500.00" in out


def test_rows_still_pending_when_the_run_ended_explain_the_wallet_difference(monkeypatch, capsys, tmp_path):
    """Both rows pending at the run's end: the wallet went down by both, the run paid nothing;
    BuyPower settles them later (one paid, one failed and refunded), outside any run."""
    with cli_sandbox(monkeypatch, seed=21) as sandbox:
        sheet = tmp_path / "p.csv"
        sheet.write_text("meter,disco,amount,phone\n55500000001,ABUJA,1100,08031234567\n"
                         "55500000002,ABUJA,1200,08031234567\n")
        assert cli(capsys, sandbox, "import", str(sheet))[0] == 0
        assert cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")[0] == 3
        code, out, _ = cli(capsys, sandbox, "report")
    assert code == 0
    assert "it went down by ₦2,300.00, and their rows paid ₦0.00" in out, out
    assert ("wallet: ₦2,300.00 more left the wallet than those rows paid; rows still pending when those runs ended "
            "came to ₦2,300.00: BuyPower settles such rows after the run (pays them, or fails and refunds them), "
            "which may account for it; else a top-up") in out


def _run_ended_at(store: Store, at: datetime) -> None:
    """A sandbox batch and its run's event, as Runner leaves them."""
    from buypower_tui.core.models import Batch, Event
    from buypower_tui.core.run_log import NOTE

    with store.session() as s:
        batch = Batch(name="b", mode="sandbox", created_at=at, imported_at=at)
        s.add(batch)
        s.commit()
        s.add(Event(batch_id=batch.id, operator="x", at=at, note=NOTE,
                    details={"run": {"balance_before": "10000", "balance_after": "9000", "paid": "1000"}}))
        s.commit()


@pytest.mark.parametrize(("utc", "month", "other"), [
    (datetime(2026, 12, 1, 7, 30, tzinfo=UTC), "2026-11", "2026-12"),  # 30 Nov 23:30 PST
    (datetime(2026, 4, 1, 7, 30, tzinfo=UTC), "2026-04", "2026-03"),  # 1 Apr 00:30 PDT
])
def test_a_run_counts_in_its_local_month_across_a_clock_change(store, monkeypatch, utc, month, other):
    import time

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        _run_ended_at(store, utc)
        assert month_report(store, month, mode="sandbox").wallet.runs == 1
        assert month_report(store, other, mode="sandbox").wallet.runs == 0
        assert month_report(store, "2026-03", mode="sandbox").utc_offset == "-08:00/-07:00"  # DST began 8 March
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_kept_column_named_like_a_built_in_grouping_can_be_chosen(paid_month, capsys):
    db = store()
    try:
        with db.session() as s:
            s.exec(update(Recipient).values(extras={"Batch": "North"}))
            s.commit()
        report = month_report(db, mode="sandbox")
        by_column = month_report(db, by="column:batch", mode="sandbox")
    finally:
        db.close()
    assert report.groupings == ["disco", "batch", "column:Batch"]
    assert [g.group for g in by_column.groups] == ["North"] and by_column.by == "column:Batch"
    code, out, _ = cli(capsys, paid_month, "report", "--by", "batch")
    assert code == 0 and any(line.startswith("1 march") for line in out.splitlines())
