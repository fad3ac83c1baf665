"""A success that cannot be right is kept but parked for review (issue 10, point 13): an all-zero
token, negative units, or far more paid than the row's amount. BuyPower's answers come from the
real sandbox through a stdlib proxy that alters them for chosen meters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from buypower_tui.cli import main
from buypower_tui.core.outcomes import Outcome, VendResult
from buypower_tui.core.plausibility import doubts
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer
from buypower_tui.core.store import Store
from buypower_tui.paths import AppPaths
from tests.hostile_server import HostileServer

ZERO, NEGATIVE, OVERPAID, HONEST = "45143922321", "12345678911", "23456789012", "34567890123"


@pytest.fixture
def sandbox(monkeypatch):
    with SandboxServer(SandboxConfig(seed=13, requery_cooldown_s=0, delay=(0,))) as server:
        for var in ("BUYPOWER_API_KEY", "BUYPOWER_SANDBOX_API_KEY"):  # the sandbox's key, before and after point 5
            monkeypatch.setenv(var, server.key)
        yield server


def odd_answers(sandbox: SandboxServer):
    """What a confused BuyPower says about the meters above, on /vend and on requery alike."""
    def tamper(path: str, body: dict) -> dict:
        data = (body.get("result") or body).get("data")
        if not isinstance(data, dict) or "orderId" not in data:
            return body
        meter = next(v["meter"] for v in sandbox.ledger.vends() if v["orderId"] == data["orderId"])
        if meter == ZERO:
            data["token"] = "0000-0000-0000-0000-0000"
            data["parcels"] = [{"type": "TOKEN", "content": "0" * 20}]
        elif meter == NEGATIVE:
            data["units"] = -4.4
        elif meter == OVERPAID:
            data["totalAmountPaid"] = 10_000
        elif meter == HONEST:
            data["totalAmountPaid"] = 1_005  # within the rounding slack (1 %)
        return body
    return tamper


def stored(batch_id: int) -> dict:
    store = Store.open(f"sqlite:///{AppPaths.resolve().db_file}")
    try:
        return {r.meter: r for r in store.rows(batch_id)}
    finally:
        store.close()


def cli(capsys, url, *argv):
    code = main(["--sandbox", url, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_implausible_success_is_stored_but_needs_review_until_it_looks_right(sandbox, capsys, tmp_path):
    sheet = tmp_path / "odd.csv"
    sheet.write_text("meter,disco,amount,phone\n"
                     + "".join(f"{m},ABUJA,1000,08031234567\n" for m in (ZERO, NEGATIVE, OVERPAID, HONEST)))
    with HostileServer(sandbox.url, tamper=odd_answers(sandbox)) as proxy:
        assert cli(capsys, proxy.url, "import", str(sheet))[0] == 0
        code, out, err = cli(capsys, proxy.url, "run", "1", "--yes")
        assert code == 1 and "3 NEEDS_REVIEW" in out and "1 SUCCESS" in out, err
        rows = stored(1)
        assert {m: r.state for m, r in rows.items()} == {ZERO: "NEEDS_REVIEW", NEGATIVE: "NEEDS_REVIEW",
                                                         OVERPAID: "NEEDS_REVIEW", HONEST: "SUCCESS"}
        assert "token is all zeros" in rows[ZERO].provider_message and rows[ZERO].token == "0" * 20
        assert "units are negative" in rows[NEGATIVE].provider_message and str(rows[NEGATIVE].units) == "-4.4"
        assert "far above the row's ₦1,000.00" in rows[OVERPAID].provider_message
        for row in rows.values():  # the money moved: everything BuyPower said is kept
            assert row.token and row.receipt_no and row.response and row.response["data"]["orderId"] == row.order_id
        assert all(v["status"] == "SUCCESS" for v in sandbox.ledger.vends()) and len(sandbox.ledger.vends()) == 4

        # A requery that still says something odd leaves the rows parked.
        code, out, _ = cli(capsys, proxy.url, "requery", "1")
        assert code == 1 and "3 now NEEDS_REVIEW" in out
        # They still count as money that may have moved: the same meter and amount must be accepted.
        again = tmp_path / "again.csv"
        again.write_text(f"meter,disco,amount,phone\n{OVERPAID},ABUJA,1000,08031234567\n")
        cli(capsys, proxy.url, "import", str(again))
        code, _, err = cli(capsys, proxy.url, "run", "2", "--yes")
        assert code == 2 and "still in flight elsewhere" in err and len(sandbox.ledger.vends()) == 4

        proxy.tamper = None  # BuyPower now answers sanely: the requery settles them
        code, out, _ = cli(capsys, proxy.url, "requery", "1")
    assert code == 0 and "3 now SUCCESS" in out
    tokens = {v["orderId"]: v["token"] for v in sandbox.ledger.vends()}
    assert all(r.state == "SUCCESS" and r.token == tokens[r.order_id] for r in stored(1).values())


@pytest.mark.parametrize("amount,total,flagged", [
    ("1000", "1000", False), ("1000", "1010", False), ("1000", "1010.01", True), ("1000", "10000", True),
    ("50", "51", False), ("50", "51.01", True),  # small amounts: at least ₦1 of slack
])
def test_far_above_means_past_rounding(amount, total, flagged):
    result = VendResult(outcome=Outcome.SUCCESS, order_id="o", token="1" * 20, units=Decimal("1.2"),
                        total_paid=Decimal(total))
    assert bool(doubts(result, Decimal(amount))) is flagged
