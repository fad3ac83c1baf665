"""The demo's world: isolated, with every kind of row the operator must handle."""

from __future__ import annotations

import httpx

from buypower_tui.core.demo import start_demo
from buypower_tui.core.sandbox import FIXTURE_METERS


def test_demo_batch_has_invalid_rows_duplicates_and_fault_meters(tmp_path):
    demo = start_demo(tmp_path / "demo-home")
    try:
        st = demo.store.stats(demo.batch_id)
        assert 45 <= st.rows <= 55
        assert st.invalid == 7 and st.duplicates == 2
        rows = {r.meter_raw: r for r in demo.store.rows(demo.batch_id)}
        assert rows["4271892311"].errors[0]["field"] == "meter"  # lost its leading zero
        assert rows["45143922321"].name == "[/x] markup in a name"
        shapes = {FIXTURE_METERS[m].behaviour: rows[m] for m in rows if m in FIXTURE_METERS}
        for behaviour in ("key-change", "bonus-token", "13-digit-meter", "prepaid-with-debt"):  # §13's shapes
            assert shapes[behaviour].state == "VALID", behaviour
        assert shapes["13-digit-meter"].meter == "0159006592509" and shapes["13-digit-meter"].disco == "IBADAN"
        batch = demo.store.batch(demo.batch_id)
        assert batch.mode == "sandbox" and batch.imported_at is not None
        answer = httpx.get(f"{demo.sandbox.url}/wallet/balance",
                           headers={"Authorization": f"Bearer {demo.key}"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["balance"] == 1_000_000
        assert all(p.parent == tmp_path / "demo-home" for p in (tmp_path / "demo-home").iterdir())
    finally:
        demo.close()
