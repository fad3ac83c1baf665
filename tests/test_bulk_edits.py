"""Issue 13, fixing many rows: a change to many rows is one transaction and one undo step, and
an amount over the maximum splits into payable rows that add up to it exactly."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from buypower_tui.cli import build_parser
from buypower_tui.core import bulk, plan, rows
from buypower_tui.core.models import Recipient, utcnow
from buypower_tui.core.preflight import preflight
from buypower_tui.core.recovery import RecoveryReport
from buypower_tui.core.splitting import CannotSplit, split_kobo
from buypower_tui.core.store import Store
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


# -- found by the review of issue 13 ---------------------------------------------------------------

def test_a_split_accepts_the_duplicate_only_among_its_own_parts(services, tmp_path):
    """Two copies of one sheet line, each over the maximum: once split, the meter is not paid
    four times unasked; undo puts back the acceptance the operator gave."""
    path = tmp_path / "twice.csv"
    path.write_text("meter,disco,amount,phone\n04271892301,IKEJA,150000,08031234567\n"
                    "04271892301,IKEJA,150000,08031234567\n")
    batch = services.import_sheet(path).batch_id
    first, second = [r.id for r in services.rows(batch)]
    services.accept_duplicates(batch, [first])
    parts = services.split_row(first) + services.split_row(second)
    assert len(parts) == 4 and not any(p.duplicate_accepted for p in parts)
    assert "so the duplicate is not accepted" in rows.history(services.store, first)[-1].note
    services.undo(batch)
    services.undo(batch)
    assert [(r.amount_raw, r.duplicate_accepted) for r in services.rows(batch)] == [("150000", True),
                                                                                     ("150000", False)]


def test_undo_keeps_the_stamp_its_change_wrote_not_a_write_landing_after_it(services, batch, monkeypatch):
    ids = [r.id for r in services.rows(batch)]
    changed = services.edit_rows(batch, {ids[0]: {"amount": "700"}}) + services.split_row(ids[3])
    for r in changed:  # the stamp is what the store reads back (aware UTC), or undo would refuse
        assert services._stamps[r.id] == r.updated_at == services.row(r.id).updated_at \
            == services.grid_rows(batch, [r.id])[0]["updated_at"]
    services.undo(batch)
    services.undo(batch)
    other, real = Services(services.ctx), bulk.edit_rows

    def then_another_window(*args, **kwargs):
        done = real(*args, **kwargs)
        other.edit_row(ids[0], {"phone": "08030000000"})  # right after our commit
        return done

    monkeypatch.setattr(bulk, "edit_rows", then_another_window)
    services.edit_rows(batch, {ids[0]: {"amount": "800"}})
    monkeypatch.setattr(bulk, "edit_rows", real)
    with pytest.raises(StateConflict, match="changed since"):
        services.undo(batch)  # it would put back 700 and the old phone over the other window's edit
    assert (services.row(ids[0]).amount_raw, services.row(ids[0]).phone_raw) == ("800", "08030000000")


def problems(services, batch):
    return {r["id"]: (r["state"], r["errors"], r["warnings"]) for r in services.grid_rows(batch)}


def test_bulk_edits_and_splits_keep_what_the_sheet_stored_in_cells_they_do_not_set(services, tmp_path,
                                                                                    monkeypatch):
    book = openpyxl.Workbook()
    book.active.append(["Meter", "DISCO", "Amount", "Phone"])
    book.active.append([42718923011, "IKEJA", 5000, "08031234567"])  # stored as a number: a warning
    book.active.append([4271892302, "IKEJA", 5000, "08031234567"])  # lost its 0: an error with the fix
    book.active.append([45143922321, "ABUJA", 250000, "08034210294"])  # as a number, over the maximum
    book.save(tmp_path / "m.xlsx")
    batch = services.import_sheet(tmp_path / "m.xlsx").batch_id
    a, b, c = [r.id for r in services.rows(batch)]
    imported, fix = problems(services, batch), {b: {"meter": "04271892302"}}
    assert imported[b][0] == "INVALID" and services.proposed_fixes(batch) == fix
    services.edit_rows(batch, {a: {"amount": "6000"}, b: {"amount": "6000"}})
    parts = services.split_row(c)
    now = problems(services, batch)
    assert now[a] == imported[a] and now[b] == imported[b] and services.proposed_fixes(batch) == fix
    assert all(now[p.id] == ("VALID", None, imported[c][2]) and imported[c][2][0]["stored"] for p in parts)
    (fixed,) = services.accept_fixes(batch)  # the meter set: the problem of that cell goes with it
    assert (fixed.id, fixed.meter, fixed.state, fixed.errors) == (b, "04271892302", "VALID", None)
    for _ in range(3):  # the fix, the split, the bulk edit
        services.undo(batch)
    assert problems(services, batch) == imported and services.proposed_fixes(batch) == fix
    other, real = Services(services.ctx), services.edit_rows

    def typed_meanwhile(batch_id, changes, **kwargs):
        other.edit_row(b, {"meter": "62010000111", "disco": "EKO"})  # the right meter, in another window
        return real(batch_id, changes, **kwargs)

    monkeypatch.setattr(services, "edit_rows", typed_meanwhile)
    with pytest.raises(StateConflict, match="row 3 changed since"):
        services.accept_fixes(batch)  # read before that edit: never written over it
    assert services.row(b).meter_raw == "62010000111"


class Wallet:
    async def wallet_balance(self) -> Decimal:
        return Decimal(1_000_000)


def test_an_edit_landing_as_the_plan_is_approved_asks_again_naming_the_sheet_row(services, tmp_path,
                                                                                 monkeypatch):
    path = tmp_path / "dup.csv"
    path.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n"
                    "04271892301,IKEJA,1000,08031234567\n45143922321,ABUJA,5000,08034210294\n")
    batch = services.import_sheet(path).batch_id
    ids = [r.id for r in services.rows(batch)]
    with services.store.session() as s:  # as a lookup leaves them
        s.exec(update(Recipient).where(Recipient.batch_id == batch).values(state="VERIFIED"))
        s.commit()
    store, balance = services.store, Decimal(1_000_000)
    shown = plan.RunPlan(batch, RecoveryReport(), None, balance, preflight(store, batch, balance, 7, accepting=True),
                         accepting=True)
    real = plan.accept_duplicates

    def edited_meanwhile(store, p):  # after the plan was checked again, before anything is recorded
        Services(services.ctx).edit_rows(batch, {ids[1]: {"phone": "08030000000"}})
        return real(store, p)

    monkeypatch.setattr(plan, "accept_duplicates", edited_meanwhile)
    with pytest.raises(plan.PlanChanged, match="row 3: no longer ready to send"):
        asyncio.run(plan.commit_plan(store, Wallet(), shown, services.policy))
    with pytest.raises(StateConflict, match="row 3 is VALID.*nothing was approved"):  # the approval alike
        rows.approve(store, ids, every=True)
    assert not any(r.order_id for r in services.rows(batch))


def test_stores_opened_from_several_threads_at_once_all_open(tmp_path):
    start, failed = threading.Barrier(6), []

    def open_one(n: int) -> None:
        start.wait()
        try:
            Store.open(f"sqlite:///{tmp_path / f'throw-away-{n}.db'}").close()
        except Exception as exc:  # alembic's global context, taken by another thread
            failed.append(exc)

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed
