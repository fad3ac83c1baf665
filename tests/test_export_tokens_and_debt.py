"""A sandbox run of meters past the key change, with a bonus token and with debt, then
`buypower-tui export` and `batches` as an operator in Lagos reads them (issue 11, points 2, 3, 5)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from buypower_tui.cli import main
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer

KCT, BONUS, DEBT, KCT_AND_BONUS, PLAIN, IBADAN_13 = (
    "55500000011", "55500000012", "55500000013", "55500000015", "12345678910", "0159006592509")


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=5, requery_cooldown_s=0, delay=(0,), pending_requeries=1)) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        yield server


def cli(capsys, sandbox, *argv):
    code = main(["--sandbox", sandbox.url, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def grouped(digits: str) -> str:
    return "-".join(digits[i:i + 4] for i in range(0, 20, 4))


def paid_batch(capsys, sandbox, tmp_path) -> None:
    sheet = tmp_path / "estate.csv"
    sheet.write_text("meter,disco,amount,phone\n" + "".join(
        f"{m},{disco},2000,08031234567\n" for m, disco in (
            (KCT, "ABUJA"), (BONUS, "ABUJA"), (DEBT, "ABUJA"), (KCT_AND_BONUS, "ABUJA"), (PLAIN, "ABUJA"),
            (IBADAN_13, "IBADAN"))))
    assert cli(capsys, sandbox, "import", str(sheet))[0] == 0
    code, out, err = cli(capsys, sandbox, "run", "1", "--yes")
    assert code == 0 and "6 SUCCESS" in out, err


def test_export_has_every_token_in_typing_order_the_debt_split_and_local_times(sandbox, capsys, tmp_path, lagos):
    paid_batch(capsys, sandbox, tmp_path)
    target = tmp_path / "tokens.csv"
    assert cli(capsys, sandbox, "export", "1", "-o", str(target))[0] == 0
    header = next(csv.reader(target.open()))
    at = header.index("token")
    assert header[at - 2:at + 2] == ["kct1", "kct2", "token", "bonus_token"]
    assert {"amount_generated", "tax", "debt_amount", "debt_remaining", "paid_at", "vend_time"} <= set(header)
    rows = {r["meter"]: r for r in csv.DictReader(target.open())}
    orders = {v["meter"]: sandbox.ledger.order(v["orderId"]) for v in sandbox.ledger.vends()}

    for meter, row in rows.items():
        order = orders[meter]
        extra = {p["type"]: grouped(p["content"]) for p in order.extra_parcels}
        assert (row["kct1"], row["kct2"], row["token"], row["bonus_token"]) == (
            extra.get("KCT1", ""), extra.get("KCT2", ""), grouped(order.token), extra.get("BONUS", "")), meter
    assert rows[KCT]["kct1"] and rows[KCT]["kct2"] and not rows[KCT]["bonus_token"]
    assert rows[BONUS]["bonus_token"] and not rows[BONUS]["kct1"]
    assert all(rows[KCT_AND_BONUS][c] for c in ("kct1", "kct2", "token", "bonus_token"))

    debt = rows[DEBT]  # 2,000 = 1,860.47 + 139.53 VAT; a quarter of the 1,860.47 repays the debt
    assert [debt[c] for c in ("amount_generated", "tax", "debt_amount", "debt_remaining", "units")] == \
        ["1860.47", "139.53", "465.12", "785.38", "6.66"]
    plain = rows[PLAIN]  # /vend sends numbers: no debt is "0", not an empty cell
    assert [plain[c] for c in ("amount_generated", "tax", "debt_amount", "debt_remaining", "units")] == \
        ["1860.47", "139.53", "0", "0", "8.88"]
    assert rows[IBADAN_13]["customer_name"] == "ADEWALE KOLAWOLE OYELARAN"

    now = datetime.now(UTC)
    for row in rows.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+01:00", row["paid_at"]), row["paid_at"]
        assert abs(datetime.fromisoformat(row["paid_at"]) - now) < timedelta(minutes=5)
        # BuyPower's own time, as /vend sent it (WAT, no zone): never converted
        assert row["vend_time"] == orders[row["meter"]].vend_time and "+" not in row["vend_time"]

    code, out, _ = cli(capsys, sandbox, "export", "1")  # to the terminal: the same columns
    assert code == 0 and list(csv.DictReader(io.StringIO(out)))[0]["kct1"] == rows[KCT]["kct1"]


def test_batches_says_its_times_are_local_and_names_the_offset(sandbox, capsys, tmp_path, lagos):
    paid_batch(capsys, sandbox, tmp_path)
    code, out, _ = cli(capsys, sandbox, "batches", "--json")
    created = json.loads(out.splitlines()[0])["created_at"]
    assert created.endswith("+01:00")
    assert abs(datetime.fromisoformat(created) - datetime.now(UTC)) < timedelta(minutes=5)
    code, out, _ = cli(capsys, sandbox, "batches")
    assert code == 0 and "created (+01:00)" in out.splitlines()[0]
    assert created[:16].replace("T", " ") in out.splitlines()[1]  # the same local time, the offset in the header
