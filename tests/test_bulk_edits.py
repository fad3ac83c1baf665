"""Issue 13, fixing many rows: a change to many rows is one transaction and one undo step, and
an amount over the maximum splits into payable rows that add up to it exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from buypower_tui.cli import build_parser
from buypower_tui.core.models import Recipient, utcnow
from buypower_tui.core.splitting import CannotSplit, split_kobo
from buypower_tui.services import Context, Services, StateConflict

SHEET = ("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n45143922321,ABUJA,5000,08034210294\n"
         "62010000111,EKO,2000,08031234560\n71120000018,KANO,250000,07011223344\n")


@pytest.fixture
def services(tmp_path, isolated_home):
    s = Services(Context(build_parser().parse_args(["--db", f"sqlite:///{tmp_path / 'store.db'}"])))
    yield s
    s.close()


@pytest.fixture
def batch(services, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(SHEET)
    return services.import_sheet(path).batch_id


def snapshot(services, batch):
    return [(r.id, r.row_number, r.state, r.disco_raw, r.amount_raw, r.disco, r.amount_kobo, r.duplicate_accepted)
            for r in services.rows(batch)]


def test_one_row_with_an_order_id_refuses_the_whole_bulk_edit(services, batch):
    ids = [r.id for r in services.rows(batch)][:3]
    before = snapshot(services, batch)
    with services.store.session() as s:  # another process approved row 3 meanwhile
        s.exec(update(Recipient).where(Recipient.id == ids[1]).values(order_id="bp-1", state="APPROVED"))
        s.commit()
    with pytest.raises(StateConflict, match="orderId"):
        services.edit_rows(batch, {i: {"disco": "EKO", "amount": "700"} for i in ids})
    after = snapshot(services, batch)
    assert [a for a in after if a[0] != ids[1]] == [b for b in before if b[0] != ids[1]]
    assert not services.can_undo(batch)


def test_a_bulk_edit_is_checked_again_and_undone_in_one_step(services, batch):
    ids = [r.id for r in services.rows(batch)][:3]
    before = snapshot(services, batch)
    changed = services.edit_rows(batch, {i: {"disco": "eko", "amount": "50"} for i in ids})
    assert [r.disco for r in changed] == ["EKO"] * 3 and all(r.state == "INVALID" for r in changed)  # 50 < min
    assert services.edit_rows(batch, {ids[0]: {"disco": "eko"}}) == []  # already so: no step
    undone = services.undo(batch)
    assert undone.change.kind == "bulk" and undone.row_numbers == [2, 3, 4]
    assert snapshot(services, batch) == before
    assert not services.can_undo(batch)


def test_split_an_amount_over_the_maximum_and_undo_it(services, batch):
    row = next(r for r in services.rows(batch) if r.row_number == 5)
    assert row.state == "INVALID"  # ₦250,000 is over the ₦100,000 maximum
    parts = services.split_row(row.id)
    assert [p.amount for p in parts] == [Decimal(100000), Decimal(100000), Decimal(50000)]
    assert [p.row_number for p in parts] == [5, 6, 7] and {p.meter for p in parts} == {"71120000018"}
    assert all(p.state == "VALID" and p.duplicate_accepted for p in parts)
    undone = services.undo(batch)
    assert undone.change.kind == "split" and undone.row_numbers == [5]
    again = [r for r in services.rows(batch) if r.meter_raw == "71120000018"]
    assert [(r.id, r.amount_raw, r.state) for r in again] == [(row.id, "250000", "INVALID")]


def test_a_split_follows_a_part_brought_back_but_is_not_undone_over_a_lookup(services, batch):
    row = next(r for r in services.rows(batch) if r.row_number == 5)
    parts = services.split_row(row.id)
    services.delete_rows(batch, [parts[1].id])
    services.undo(batch)  # the delete: the part comes back under a new id
    assert len(services.undo(batch).changed) == 3  # the split follows it there
    parts = services.split_row(row.id, {"amount": "150000"})
    with services.store.session() as s:  # a lookup answered for the new part meanwhile
        s.exec(update(Recipient).where(Recipient.id == parts[1].id).values(state="VERIFIED", updated_at=utcnow()))
        s.commit()
    with pytest.raises(StateConflict, match="changed since"):
        services.undo(batch)
    assert [r.amount_raw for r in services.rows(batch) if r.meter_raw == "71120000018"] == ["100000", "50000"]


@settings(max_examples=60, deadline=None)
@given(total=st.integers(1, 10**9), low=st.integers(1, 10**6), high=st.integers(1, 10**7))
def test_split_parts_add_up_exactly_and_each_is_payable(total, low, high):
    try:
        parts = split_kobo(total, low, high)
    except CannotSplit:
        count = -(-total // high)
        assert total <= high or count > 20 or count * low > total  # only when no split fits
        return
    assert sum(parts) == total and all(low <= p <= high for p in parts) and len(parts) == -(-total // high)
