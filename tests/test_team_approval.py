"""Two operators on two machines approve batches that share a meter at the same moment: the
duplicate check and the approval it allows are one step for every other process (the
store's approval lock), so only one of them can pass. Against a real PostgreSQL server,
with two stores (two machines' connections) and the sandbox's wallet."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlmodel import select, update

from buypower_tui.core import plan, rows
from buypower_tui.core.client import BuyPowerClient
from buypower_tui.core.importing import import_file
from buypower_tui.core.models import Event, Recipient
from buypower_tui.core.preflight import preflight
from buypower_tui.core.recovery import RecoveryReport
from buypower_tui.core.rules import Limits
from buypower_tui.core.store import Store
from tests.engine_helpers import cli_sandbox

SHARED = "04271892301"  # on both sheets, the same amount


def _batch(store: Store, path, other_meter: str) -> int:
    path.write_text(f"meter,disco,amount,phone\n{SHARED},IKEJA,1000,08031234567\n"
                    f"{other_meter},ABUJA,5000,08034210294\n")
    batch = import_file(path, store, Limits(), mode="sandbox").batch_id
    with store.session() as s:  # as a lookup leaves them
        s.exec(update(Recipient).where(Recipient.batch_id == batch).values(state="VERIFIED"))
        s.commit()
    return batch


def test_two_operators_approving_batches_that_share_a_meter_cannot_both_pass_the_check(pg_url, tmp_path,
                                                                                       monkeypatch):
    machines = [Store.open(pg_url), Store.open(pg_url)]
    batches = [_batch(machines[0], tmp_path / "a.csv", "45143922321"),
               _batch(machines[1], tmp_path / "b.csv", "62050000005")]
    balance = Decimal(1_000_000)
    shown = [plan.RunPlan(b, RecoveryReport(), None, balance, preflight(store, b, balance, 7))
             for store, b in zip(machines, batches, strict=True)]
    assert all(len(p.preflight.send) == 2 for p in shown)  # each plan, alone, pays both of its rows
    real, together = rows.approve, threading.Barrier(2)

    def slow_approve(store, row_ids, **kw):  # the other operator's check has every chance to run now
        time.sleep(0.5)
        return real(store, row_ids, **kw)

    monkeypatch.setattr(rows, "approve", slow_approve)
    outcomes: dict[int, object] = {}
    with cli_sandbox(monkeypatch) as sandbox:
        def operator(n: int) -> None:
            async def go():
                async with BuyPowerClient(sandbox.url, SecretStr(sandbox.key), rate_limit=0) as client:
                    together.wait()
                    return await plan.commit_plan(machines[n], client, shown[n], plan.Policy())
            try:
                outcomes[n] = asyncio.run(go())
            except plan.PlanChanged as exc:
                outcomes[n] = exc

        threads = [threading.Thread(target=operator, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    refused = [o for o in outcomes.values() if isinstance(o, plan.PlanChanged)]
    assert len(outcomes) == 2 and len(refused) == 1, outcomes
    assert "the same meter and amount were paid, or are being paid, in another batch meanwhile" in str(refused[0])
    approved = [r for store, b in zip(machines, batches, strict=True) for r in store.rows(b) if r.order_id]
    assert [r.meter for r in approved].count(SHARED) == 1  # the shared meter is approved once, in one batch
    for store in machines:
        store.close()


def test_two_machines_moving_the_same_rows_at_once_each_move_lands_once(pg_url, tmp_path):
    """Every row transition is compare-and-set: two processes (here two stores, two machines'
    connections) marking the same approved rows SENDING at the same moment cannot both do it;
    the one that finds the row moved is told (StateConflict), and each row is sent once."""
    machines = [Store.open(pg_url), Store.open(pg_url)]
    more = "".join(f"4514392{n:04d}1,ABUJA,1000,08031234567\n" for n in range(60))
    (tmp_path / "b.csv").write_text("meter,disco,amount,phone\n" + more)
    batch = import_file(tmp_path / "b.csv", machines[0], Limits(), mode="sandbox").batch_id
    with machines[0].session() as s:
        s.exec(update(Recipient).where(Recipient.batch_id == batch).values(state="VERIFIED"))
        s.commit()
    ids = [r.id for r in machines[0].rows(batch)]
    rows.approve(machines[0], ids)
    together, moved = threading.Barrier(2), [0, 0]

    def machine(n: int) -> None:
        together.wait()
        for row_id in ids:
            try:
                rows.mark_sending(machines[n], row_id)
                moved[n] += 1
            except rows.StateConflict:
                pass

    threads = [threading.Thread(target=machine, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(moved) == len(ids), moved  # each row moved once, by one machine
    assert {r.post_count for r in machines[0].rows(batch)} == {1}
    for store in machines:
        store.close()


def test_a_batch_deleted_on_one_machine_while_another_approves_it_is_never_paid_and_deleted_both(pg_url, tmp_path):
    """The adversarial review's race: the delete checked "no row has an orderId", another
    machine approved (and paid) the rows, then the delete removed them with their tokens. Now
    the delete holds the rows from its check on: the approval waits, then finds them gone."""
    from sqlalchemy import create_engine, text

    machines = [Store.open(pg_url), Store.open(pg_url)]
    batch = _batch(machines[0], tmp_path / "a.csv", "45143922321")
    ids = [r.id for r in machines[0].rows(batch)]
    slow = create_engine(pg_url).connect()  # a slow delete: its events are held a moment
    slow.execute(text("SELECT id FROM event WHERE batch_id = :b FOR UPDATE"), {"b": batch})
    outcome: dict[str, object] = {}

    def delete() -> None:
        try:
            machines[0].delete_batch(batch)
            outcome["delete"] = "deleted"
        except ValueError as exc:
            outcome["delete"] = exc

    def approve() -> None:
        try:
            outcome["approve"] = rows.approve(machines[1], ids, every=True)
        except rows.StateConflict as exc:
            outcome["approve"] = exc

    deleting = threading.Thread(target=delete)
    deleting.start()
    time.sleep(0.5)  # the delete has checked, and waits for the events
    approving = threading.Thread(target=approve)
    approving.start()
    time.sleep(0.5)
    slow.rollback()
    slow.close()
    deleting.join(timeout=30)
    approving.join(timeout=30)
    assert outcome["delete"] == "deleted" and isinstance(outcome["approve"], rows.StateConflict), outcome
    assert machines[1].batch(batch) is None
    for store in machines:
        store.close()


def test_a_plan_gives_back_the_other_batches_its_recovery_took(pg_url, tmp_path, monkeypatch):
    """The second review: a run kept the lock of every batch its start-up recovery requeried,
    so nobody could requery or edit those batches until the run ended."""
    from sqlalchemy import create_engine, text

    from buypower_tui.core.money_lock import BATCH_KEY
    from tests.ui_support import services

    with cli_sandbox(monkeypatch) as sandbox:
        svc = services("--db", pg_url, "--sandbox", "--base-url", sandbox.url)
        first = _batch(svc.store, tmp_path / "a.csv", "45143922321")
        second = svc.import_sheet(tmp_path / "a.csv").batch_id  # the same sheet again: another batch
        row = next(iter(svc.rows(first)))
        with svc.store.session() as s:  # a row of the first left in flight by an earlier run
            s.exec(update(Recipient).where(Recipient.id == row.id).values(state="PENDING", order_id="o-1"))
            s.commit()
        other = create_engine(pg_url)

        def held() -> set[int]:
            with other.connect() as conn:
                return {b for (b,) in conn.execute(text(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = :k AND granted"),
                    {"k": BATCH_KEY})}

        with svc.money(second):  # as `run` holds it from the plan to the end of the run
            plan = svc.plan(second)
            assert plan.recovery.requeried  # the first batch's row was requeried on the way
            assert held() == {second}  # and its batch given back
        other.dispose()
        svc.close()


def test_the_wallets_allowance_for_other_batches_counts_only_rows_sent_around_the_run(pg_url, tmp_path):
    """The second review: an old row settled during the run (sent days ago: its money left then)
    widened the allowance, so an outside payment of as much would pass unseen."""
    from datetime import timedelta

    from buypower_tui.core.models import utcnow

    store = Store.open(pg_url)
    ours = _batch(store, tmp_path / "a.csv", "45143922321")
    theirs = _batch(store, tmp_path / "b.csv", "45143922322")
    now = utcnow()
    old, new = (r.id for r in store.rows(theirs))
    with store.session() as s:
        for row_id, sent in ((old, now - timedelta(days=3)), (new, now - timedelta(seconds=10))):
            s.exec(update(Recipient).where(Recipient.id == row_id).values(state="SUCCESS", sent_at=sent,
                                                                          updated_at=now))
        s.commit()
    paid, batches = rows.paid_between(store, now - timedelta(seconds=5), now + timedelta(seconds=5), but=ours)
    assert batches == [theirs] and paid == rows.get(store, new).amount  # the old one took its money days ago
    store.close()


def test_a_row_another_machine_wrote_since_this_one_read_it_is_moved_from_what_it_is_now(pg_url, tmp_path):
    """On PostgreSQL a transition is a read, then one compare-and-set statement on the row's
    version (a run reads many rows ahead of their SENDING): a write by anyone in between, even
    one that keeps the state, makes it read the row again rather than write from a stale copy."""
    machines = [Store.open(pg_url), Store.open(pg_url)]
    (tmp_path / "b.csv").write_text("meter,disco,amount,phone\n45143922321,ABUJA,1000,08031234567\n")
    batch = import_file(tmp_path / "b.csv", machines[0], Limits(), mode="sandbox").batch_id
    with machines[0].session() as s:
        s.exec(update(Recipient).where(Recipient.batch_id == batch).values(state="VERIFIED"))
        s.commit()
    [row_id] = [r.id for r in machines[0].rows(batch)]
    rows.approve(machines[0], [row_id])
    seen = rows.versions(machines[0], [row_id])[row_id]  # as a run reads it ahead
    assert seen.state == "APPROVED" and seen.provider_message is None
    # the other machine notes the row (its state stays APPROVED)
    rows.note_rows(machines[1], [row_id], rows.SENDABLE, note="left out", provider_message="left out: over budget")
    sending = rows.mark_sending(machines[0], row_id, known=seen)
    assert sending.state == "SENDING" and sending.post_count == 1
    assert sending.provider_message == "left out: over budget"  # what the row is now, not the stale copy
    # a stale copy of a row moved elsewhere meanwhile is refused, never written over
    rows.unsend(machines[1], row_id, "breaker open")
    with pytest.raises(rows.StateConflict, match="is APPROVED, not SENDING"):
        rows.transition(machines[0], row_id, ("SENDING",), "FAILED", known=sending)
    [row] = machines[0].rows(batch)
    assert (row.state, row.post_count) == ("APPROVED", 0)
    # and a copy from before it came back is no reason to refuse it: the row itself decides
    assert rows.mark_sending(machines[0], row_id, known=sending).state == "SENDING"
    rows.unsend(machines[0], row_id, "breaker open")
    with machines[0].engine.connect() as conn:
        moves = conn.execute(select(Event.old_state, Event.new_state).where(Event.recipient_id == row_id)
                             .order_by(Event.id)).all()
    assert [tuple(m) for m in moves] == [("VERIFIED", "APPROVED"), ("APPROVED", "APPROVED"),
                                         ("APPROVED", "SENDING"), ("SENDING", "APPROVED"),
                                         ("APPROVED", "SENDING"), ("SENDING", "APPROVED")]  # one event each
    for store in machines:
        store.close()


def test_a_row_written_again_and_again_meanwhile_is_moved_under_its_lock_not_given_up(pg_url, tmp_path):
    """The review's case (no path of the app writes a SENDING row so; a person with psql might):
    while others keep writing the row, the compare-and-set misses each time; after a few tries
    the transition takes the row's lock and waits its turn, as before, rather than give up an
    answer BuyPower gave."""
    from sqlalchemy import create_engine, text

    from buypower_tui.core.outcomes import Outcome, VendResult
    from buypower_tui.core.requery_policy import RequeryPolicy

    store = Store.open(pg_url)
    (tmp_path / "b.csv").write_text("meter,disco,amount,phone\n45143922321,ABUJA,1000,08031234567\n")
    batch = import_file(tmp_path / "b.csv", store, Limits(), mode="sandbox").batch_id
    with store.session() as s:
        s.exec(update(Recipient).where(Recipient.batch_id == batch).values(state="VERIFIED"))
        s.commit()
    [row_id] = [r.id for r in store.rows(batch)]
    rows.approve(store, [row_id])
    sending = rows.mark_sending(store, row_id)
    stop, others = threading.Event(), create_engine(pg_url, isolation_level="AUTOCOMMIT")

    def touch() -> None:
        with others.connect() as conn:
            while not stop.is_set():
                conn.execute(text("UPDATE recipient SET customer_address = customer_address WHERE id = :i"),
                             {"i": row_id})

    writers = [threading.Thread(target=touch) for _ in range(2)]
    for w in writers:
        w.start()
    try:
        for _ in range(60):
            row = rows.record_result(store, row_id, VendResult(outcome=Outcome.PENDING, order_id=sending.order_id,
                                                               message="pending"),
                                     requery=True, policy=RequeryPolicy(first_wait=1, max_wait=10, budget_s=3600),
                                     known=sending)
            assert row.state == "PENDING"
    finally:
        stop.set()
        for w in writers:
            w.join()
        others.dispose()
    assert store.stats(batch).by_state == {"PENDING": 1}
    store.close()
