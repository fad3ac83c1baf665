"""Shared by the engine tests: a generated batch, a full in-process run, and the ledger proof."""

from __future__ import annotations

import random
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from buypower_tui.core import rows
from buypower_tui.core.models import RowState
from buypower_tui.core.store import Store

S = RowState


def write_batch(path: Path, n: int, seed: int = 1) -> Path:
    """n rows, each with its own generated meter (so a meter names a sheet row)."""
    rnd = random.Random(seed)
    meters = rnd.sample(range(10**10, 10**11 - 1), n)
    with path.open("w") as fh:
        fh.write("meter,disco,amount,phone\n")
        for m in meters:
            meter = str(m)
            if meter.endswith("0000"):  # the sandbox's "not found" meters
                meter = meter[:-1] + "1"
            fh.write(f"{meter},{rnd.choice(['IKEJA', 'EKO', 'ABUJA', 'KANO'])},"
                     f"{rnd.choice([500, 1000, 2500, 5000])},08031234567\n")
    return path


def assert_ledger_matches_store(ledger: dict, store: Store, batch_id: int | tuple[int, ...]) -> None:
    """The proof of exactly-once: the sandbox's record of what it paid against ours (the
    batches given are all the sandbox was asked to pay)."""
    batch_ids = (batch_id,) if isinstance(batch_id, int) else batch_id
    vends = ledger["vends"]
    by_order = {v["orderId"]: v for v in vends}
    assert len(by_order) == len(vends)  # no orderId vended twice
    stored = [r for b in batch_ids for r in store.rows(b)]
    ours = {r.order_id: r for r in stored if r.order_id}
    # No sheet row paid under two orderIds: a row holds one orderId, so every order that
    # took money must be the current orderId of some row (an orderId replaced after it was
    # paid, or never stored, would show up here).
    for v in vends:
        if v["status"] != "FAILED":
            assert v["orderId"] in ours, f"order {v['orderId']} took money but no row holds it: {v}"
            assert ours[v["orderId"]].meter == v["meter"]
    for v in vends:  # every success at BuyPower has its token here
        if v["status"] == "SUCCESS":
            row = ours[v["orderId"]]
            assert row.state == S.SUCCESS and row.token == v["token"], (row, v)
    for row in stored:  # and every success here is one at BuyPower
        if row.state == S.SUCCESS:
            assert by_order[row.order_id]["status"] == "SUCCESS" and by_order[row.order_id]["token"] == row.token
    successes = [v for v in vends if v["status"] == "SUCCESS"]
    ours_paid = [r for r in stored if r.state == S.SUCCESS]
    assert len(successes) == len(ours_paid)
    assert sum(Decimal(v["amount"]) for v in successes) == sum(r.amount for r in ours_paid)
    for b in batch_ids:  # statistics equal a recount
        recount: dict[str, int] = {}
        for r in stored:
            if r.batch_id == b:
                recount[r.state] = recount.get(r.state, 0) + 1
        assert store.stats(b).by_state == recount


def unsettled(store: Store, batch_id: int) -> list[int]:
    return rows.ids_in(store, batch_id, (S.VERIFIED, S.APPROVED, S.SENDING, S.PENDING, S.NOT_SENT, S.VALID))


@contextmanager
def cli_sandbox(monkeypatch, **config):
    """A sandbox BuyPower for CLI tests: its key in the environment, requeries without waits."""
    from buypower_tui.core.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(**{"requery_cooldown_s": 0, "delay": (0,), **config})) as server:
        monkeypatch.setenv("BUYPOWER_SANDBOX_API_KEY", server.key)
        monkeypatch.setenv("BUYPOWER_REQUERY_FIRST_WAIT", "0.1")
        monkeypatch.setenv("BUYPOWER_REQUERY_MAX_WAIT", "1")
        yield server


def cli(capsys, sandbox, *argv: str) -> tuple[int, str, str]:
    """The CLI against `sandbox`, in this process: (exit code, stdout, stderr)."""
    from buypower_tui.cli import main

    code = main(["--sandbox", sandbox.url, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
