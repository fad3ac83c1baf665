"""`buypower-tui metrics` and `health --quiet` (issue 16): the health facts as Prometheus reads them,
after a real run against the sandbox, parsed with prometheus_client's own parser; the file written
for node_exporter's textfile collector is never seen half-written."""

from __future__ import annotations

import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from buypower_tui.cli import main
from buypower_tui.core.metrics import Exposition, collect_store
from buypower_tui.core.models import Recipient, RowState
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from buypower_tui.services.operations import Services
from tests.engine_helpers import cli, cli_sandbox

OK1, OK2, FAILS = "45143922351", "45143922352", "55500000002"


@pytest.fixture
def sandbox(monkeypatch):
    with cli_sandbox(monkeypatch, seed=21) as server:
        yield server


@pytest.fixture
def paid(sandbox, capsys, tmp_path):
    """Batch 1, paid: two rows SUCCESS (₦1,000 and ₦2,500), one FAILED for good."""
    sheet = tmp_path / "march.csv"
    sheet.write_text("meter,disco,amount,phone\n"
                     f"{OK1},ABUJA,1000,08031234567\n{OK2},IKEJA,2500,08031234567\n{FAILS},ABUJA,1200,08031234567\n")
    assert cli(capsys, sandbox, "import", str(sheet))[0] == 0
    code, out, err = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 1 and "2 SUCCESS" in out and "1 FAILED" in out, out + err
    return sandbox


def store() -> Store:
    return Store.open(f"sqlite:///{AppPaths.resolve().db_file}")


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample, by name and labels; each family has its HELP and TYPE and our prefix."""
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("buypower_") and family.type in ("gauge", "counter"), family
        assert family.documentation, f"{family.name} has no HELP"
        for s in family.samples:
            samples[s.name, frozenset(s.labels.items())] = s.value
    for line in text.splitlines():  # HELP and TYPE before each family's samples, as 0.0.4 wants
        if not line.startswith("#"):
            name = line.split("{")[0].split()[0]
            assert f"# TYPE {name} " in text and f"# HELP {name} " in text, name
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def test_metrics_after_a_sandbox_run_carry_the_stores_and_buypowers_figures(paid, capsys):
    code, out, err = cli(capsys, paid, "metrics")
    assert code == 0 and err == "", err
    samples = parse(out)
    db = store()
    try:
        counts = db.stats(1).by_state
        successes = [r for r in db.rows(1) if r.state == RowState.SUCCESS]
        tokens = [r.token for r in db.rows(1) if r.token]
    finally:
        db.close()
    for state in RowState:  # every state, 0 included, equal to the store's own count
        assert value(samples, "buypower_rows", state=str(state)) == counts.get(state, 0), state
    assert value(samples, "buypower_rows", state="SUCCESS") == 2
    paid_naira = sum(r.amount for r in successes)
    ledger = paid.ledger.snapshot()
    assert paid_naira == Decimal(3500) == sum(Decimal(v["amount"]) for v in ledger["vends"] if v["status"] == "SUCCESS")
    assert value(samples, "buypower_paid_today_naira", mode="sandbox") == float(paid_naira)
    assert value(samples, "buypower_paid_this_month_naira", mode="sandbox") == float(paid_naira)
    assert value(samples, "buypower_paid_naira_total", mode="sandbox") == float(paid_naira)
    assert value(samples, "buypower_paid_rows_total", mode="sandbox") == 2
    assert value(samples, "buypower_paid_today_naira", mode="live") == 0  # the other wallet is never added in
    assert value(samples, "buypower_runs_total", mode="sandbox") == 1
    assert abs(value(samples, "buypower_last_run_timestamp_seconds", mode="sandbox") - time.time()) < 120
    assert value(samples, "buypower_last_run_timestamp_seconds", mode="live") == 0  # none yet
    assert value(samples, "buypower_wallet_naira", mode="sandbox") == float(paid.ledger.wallet) == 1_000_000 - 3500
    assert value(samples, "buypower_health_status", status="healthy") == 1
    assert value(samples, "buypower_health_status", status="down") == 0
    assert value(samples, "buypower_store_up") == value(samples, "buypower_api_up") == 1
    assert value(samples, "buypower_breaker_state", state="closed") == 1
    assert value(samples, "buypower_breaker_state", state="half_open") == 0
    assert 0 < value(samples, "buypower_api_latency_seconds") < 15
    assert value(samples, "buypower_pending_rows") == value(samples, "buypower_needs_review_rows") == 0
    assert value(samples, "buypower_disco_up", disco="ABUJA") == 1
    db_file = AppPaths.resolve().db_file  # closed now: its -wal folded in, never more than it was
    assert db_file.stat().st_size <= value(samples, "buypower_store_size_bytes") < 50_000_000
    for secret in (paid.key, OK1, OK2, FAILS, *tokens):  # nothing sensitive in a file mode 0644
        assert secret not in out


def test_today_and_this_month_are_the_machines_local_days(paid, monkeypatch):
    """At +14:00 a row paid at 23:59:59 local yesterday is not today's, though it is the same UTC
    day as one paid at 00:00 local today; a day that starts a month does so for the month too."""
    with monkeypatch.context() as zone:
        zone.setenv("TZ", "Pacific/Kiritimati")
        time.tzset()
        now = datetime(2026, 3, 1, 10, 0).astimezone()  # 10:00 on 1 March, local
        midnight = datetime(2026, 2, 28, 10, 0, tzinfo=UTC)  # 00:00 on 1 March, local
        db = store()
        try:
            with db.session() as s:
                s.exec(update(Recipient).where(Recipient.row_number == 2).values(
                    paid_at=midnight - timedelta(seconds=1)))  # ₦1,000
                s.exec(update(Recipient).where(Recipient.row_number == 3).values(paid_at=midnight))  # ₦2,500
                s.commit()
            facts = collect_store(db, now)
        finally:
            db.close()
    time.tzset()
    assert facts is not None
    assert facts.paid_today_kobo == {"live": 0, "sandbox": 250_000}
    assert facts.paid_month_kobo == {"live": 0, "sandbox": 250_000}
    assert facts.paid_total_kobo == {"live": 0, "sandbox": 350_000}


def test_the_file_is_replaced_whole_under_a_concurrent_reader(sandbox, tmp_path):
    folder = tmp_path / "textfile_collector"
    folder.mkdir()
    target = folder / "buypower.prom"
    argv = ["--sandbox", sandbox.url, "metrics", "-o", str(target)]
    assert main(argv) == 0
    seen, bad = [0], []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            text = target.read_text()
            try:
                samples = parse(text)
                assert text.endswith("\n") and ("buypower_store_size_bytes", frozenset()) in samples
                assert ("buypower_health_status", frozenset({("status", "healthy")})) in samples
            except Exception as exc:  # noqa: BLE001 - any of them is a partial file
                bad.append(f"{exc!r}: {text[-200:]!r}")
            seen[0] += 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(25):
            assert main(argv) == 0
    finally:
        done.set()
        reader.join()
    assert not bad, bad[:3]
    assert seen[0] > 25  # the reader read all along
    assert [p.name for p in folder.iterdir()] == ["buypower.prom"]  # no temporary file left behind
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # node_exporter reads it as its own user


def test_a_file_that_cannot_be_written_is_refused_and_leaves_nothing(sandbox, capsys, tmp_path):
    code, _, err = cli(capsys, sandbox, "metrics", "-o", str(tmp_path / "no" / "such" / "buypower.prom"))
    assert code == 2 and "metrics: nothing was written" in err
    folder = tmp_path / "a-folder.prom"
    folder.mkdir()
    code, _, err = cli(capsys, sandbox, "metrics", "-o", str(folder))
    assert code == 2 and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder.prom", "home"] and not any(folder.iterdir())
    code, _, err = cli(capsys, sandbox, "metrics", "-o", "")
    assert code == 2 and "empty file name" in err


def test_health_quiet_says_nothing_and_its_code_says_all(sandbox, capsys, monkeypatch, tmp_path):
    assert cli(capsys, sandbox, "health", "--quiet") == (0, "", "")
    not_a_store = tmp_path / "notes.db"
    not_a_store.write_text("not a database\n")
    assert cli(capsys, sandbox, "--db", f"sqlite:///{not_a_store}", "health", "--quiet") == (2, "", "")
    code, out, _ = cli(capsys, sandbox, "--db", f"sqlite:///{not_a_store}", "metrics")  # the same code, said
    samples = parse(out)
    assert code == 2 and value(samples, "buypower_store_up") == 0
    assert value(samples, "buypower_health_status", status="down") == 1
    assert not any(name == "buypower_rows" for name, _ in samples)  # not known: not written as 0
    monkeypatch.delenv("BUYPOWER_SANDBOX_API_KEY")
    assert cli(capsys, sandbox, "health", "--quiet") == (1, "", "")  # no key: degraded
    code, out, _ = cli(capsys, sandbox, "metrics")
    samples = parse(out)
    assert code == 1 and value(samples, "buypower_api_key_present") == 0
    assert ("buypower_api_up", frozenset()) not in samples  # not asked
    assert not any(name == "buypower_wallet_naira" for name, _ in samples)  # not read: absent, not 0
    monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", sandbox.key)
    sandbox.stop()
    assert cli(capsys, sandbox, "health", "--quiet") == (2, "", "")  # BuyPower unreachable: down
    code, out, _ = cli(capsys, sandbox, "metrics")
    assert code == 2 and value(parse(out), "buypower_api_up") == 0
    with pytest.raises(SystemExit):  # one or the other
        main(["health", "--quiet", "--json"])
    capsys.readouterr()
    bad = tmp_path / "bad.toml"
    bad.write_text("concurrency = [\n")  # a config file that does not parse: said without --quiet
    assert cli(capsys, sandbox, "--config", str(bad), "health")[0] == 2
    assert cli(capsys, sandbox, "--config", str(bad), "health", "--quiet") == (2, "", "")
    monkeypatch.setattr(Services, "health", lambda self: 1 / 0)  # a bug: a crash is no "degraded"
    assert cli(capsys, sandbox, "health")[0] == 1
    assert cli(capsys, sandbox, "health", "--quiet") == (2, "", "")


def test_metrics_on_a_postgresql_store(sandbox, pg_url, capsys, tmp_path):
    """The same queries on PostgreSQL; the store's size is the database's own figure."""
    sheet = tmp_path / "pg.csv"
    sheet.write_text(f"meter,disco,amount,phone\n{OK1},ABUJA,1000,08031234567\n{FAILS},ABUJA,1200,08031234567\n")
    assert cli(capsys, sandbox, "--db", pg_url, "import", str(sheet))[0] == 0
    assert cli(capsys, sandbox, "--db", pg_url, "run", "1", "--yes")[0] == 1
    code, out, err = cli(capsys, sandbox, "--db", pg_url, "metrics")
    samples = parse(out)
    assert code == 0, err
    assert value(samples, "buypower_rows", state="SUCCESS") == value(samples, "buypower_rows", state="FAILED") == 1
    assert value(samples, "buypower_paid_today_naira", mode="sandbox") == 1000
    assert value(samples, "buypower_paid_naira_total", mode="sandbox") == 1000
    assert abs(value(samples, "buypower_last_run_timestamp_seconds", mode="sandbox") - time.time()) < 120
    assert value(samples, "buypower_store_size_bytes") > 1_000_000  # an empty PostgreSQL database is ~7 MB


def test_label_values_and_help_from_elsewhere_are_escaped():
    """A DISCO name comes from BuyPower: a quote, a backslash or a newline in it must not break the page."""
    e = Exposition()
    e.add("buypower_disco_up", "gauge", "1 if up\\ or\nnot", [({"disco": 'A"B\\C\nD'}, 1), ({"disco": "E"}, 0)])
    e.gauge("buypower_wallet_naira", "absent when not known", None)
    e.gauge("buypower_api_latency_seconds", "a float", 0.0125)
    (family, latency) = text_string_to_metric_families(e.text())
    assert [s.labels["disco"] for s in family.samples] == ['A"B\\C\nD', "E"]
    assert family.documentation == "1 if up\\ or\nnot" and latency.samples[0].value == 0.0125
