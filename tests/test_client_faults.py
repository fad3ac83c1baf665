"""Random fault mixes against the sandbox: the client's outcomes never contradict the ledger."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import stamina
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from buypower_tui.core.breaker import CircuitBreaker
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.outcomes import Outcome
from buypower_tui.core.sandbox import SandboxConfig, SandboxServer

METERS = ["12345678911", "45143922321", "04271892301", "55500000001", "55500000003", "55500000005",
          "55500000010", "55500000007"]


@st.composite
def fault_mixes(draw):
    rates = [draw(st.sampled_from([0.0, 0.1, 0.25])) for _ in range(4)]
    fail, timeout, drop, pending = rates
    meters = draw(st.lists(st.sampled_from(METERS), min_size=3, max_size=8))
    return dict(fail_rate=fail, timeout_rate=timeout, drop_rate=drop, pending_rate=pending), meters


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fault_mixes())
def test_outcomes_never_contradict_the_ledger(mix):
    faults, meters = mix
    stamina.set_testing(True, attempts=2)
    try:
        with SandboxServer(SandboxConfig(seed=3, requery_cooldown_s=0, hold_s=0.6, **faults)) as sandbox:
            results = asyncio.run(_vend_and_requery(sandbox, meters))
            ledger = {v["orderId"]: v for v in sandbox.ledger.vends()}
            for order, (first, second) in results.items():
                assert sandbox.ledger.posts(order) == 1  # one POST per vend() call, whatever happened
                for r in (first, second):
                    if r.outcome is Outcome.SUCCESS:  # never SUCCESS without the ledger's token
                        assert r.token and r.token == ledger[order]["token"]
                    if r.outcome is Outcome.FAILED:  # never FAILED for an order that was vended
                        assert order not in ledger or ledger[order]["status"] == "FAILED"
                if first.outcome is Outcome.NOT_SENT:
                    assert order not in ledger
    finally:
        stamina.set_testing(False)


async def _vend_and_requery(sandbox, meters):
    results = {}
    async with BuyPowerClient(sandbox.url, SecretStr(sandbox.key), rate_limit=0, read_timeout=0.3,
                              not_found_window=0, breaker=CircuitBreaker(threshold=1000)) as client:
        for meter in meters:
            order = str(uuid.uuid4())
            disco = "IKEJA" if meter == "04271892301" else "ABUJA"
            first = await client.vend(order, meter, disco, Decimal(1000), "08031234567")
            results[order] = (first, await client.requery(order))
    return results
