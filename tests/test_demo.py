"""The demo's world: isolated, with every kind of row the operator must handle."""

from __future__ import annotations

import httpx
import pytest

from buypower_tui.core.demo import start_demo, write_demo_sheet
from buypower_tui.core.importing import import_file
from buypower_tui.core.models import RowState
from buypower_tui.core.names import names_differ
from buypower_tui.core.rules import Limits
from buypower_tui.core.sandbox import FIXTURE_METERS
from buypower_tui.core.sandbox.fixtures import lookup
from buypower_tui.core.store import Store


def test_demo_batch_has_invalid_rows_duplicates_and_fault_meters(tmp_path):
    demo = start_demo(tmp_path / "demo-home")
    try:
        st = demo.store.stats(demo.batch_id)
        assert 45 <= st.rows <= 55
        assert st.invalid == 7 and st.duplicates == 2
        rows = {r.meter_raw: r for r in demo.store.rows(demo.batch_id)}
        assert rows["4271892311"].errors[0]["field"] == "meter"  # lost its leading zero
        assert rows["45143922321"].name == "[/x] markup in a name: Ngozi Abubakar"  # NGOZI ZAINAB ABUBAKAR
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


@pytest.mark.parametrize("seed", [1, 2])
def test_demo_names_agree_with_the_sandboxs_customers_but_one(tmp_path, seed):
    """After a lookup only row 3 says "name differs" (the demo shows the warning once), whatever
    the seed the sandbox generates its customers from; the rows the import rejects name the
    customer their fixed meter finds."""
    store = Store.open(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        batch_id = import_file(write_demo_sheet(tmp_path / "demo.csv", seed), store, Limits()).batch_id
        rows = list(store.rows(batch_id))
        looked_up = [(r, lookup(r.meter, r.disco, r.vend_type or "PREPAID", seed)) for r in rows
                     if r.state == RowState.VALID]
        assert len(looked_up) == 43
        differ = [r.row_number for r, customer in looked_up if customer and names_differ(r.name, customer.name)]
        assert differ == [3] and "name differs" in rows[1].name
        fixed = {"4271892311": ("04271892311", "IKEJA"), "62010000101": ("62010000101", "EKO")}
        for r in rows:
            if r.state == RowState.INVALID:
                customer = lookup(*fixed.get(r.meter_raw, (r.meter_raw, r.disco or "")), "PREPAID", seed)
                assert customer and not names_differ(r.name, customer.name), r.name
    finally:
        store.close()
