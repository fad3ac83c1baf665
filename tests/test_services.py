"""The application layer's own promises (issue 12): what undo may touch, and the money lock
shared by one thread's nested blocks but refused to another thread."""

from __future__ import annotations

import threading

import pytest

from buypower_tui.cli import build_parser
from buypower_tui.core.money_lock import MoneyLockBusy
from buypower_tui.services import Context, Services, StateConflict

SHEET = "meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n45143922321,ABUJA,5000,08034210294\n"
OTHER = "meter,disco,amount,phone\n62010000111,EKO,2000,08031234560\n71120000018,KANO,1200,07011223344\n"


@pytest.fixture
def services(tmp_path, isolated_home):
    s = Services(Context(build_parser().parse_args(["--db", f"sqlite:///{tmp_path / 'store.db'}"])))
    yield s
    s.close()


def sheet(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def values(services: Services, row_id: int) -> tuple:
    r = services.row(row_id)
    return r.batch_id, r.row_number, r.meter, r.disco, r.amount


def test_a_deleted_batch_takes_its_undo_steps_with_it(services, tmp_path):
    """SQLite gives a deleted batch's ids to the next one: its steps must not undo there."""
    first = services.import_sheet(sheet(tmp_path, "a.csv", SHEET)).batch_id
    row_id = next(services.rows(first)).id
    services.edit_row(row_id, {"meter": "62010000999", "disco": "EKO", "amount": "900", "phone": "08031234567"})
    services.add_row(first, {"meter": "62010000111", "disco": "EKO", "amount": "1000", "phone": "08031234567"})
    services.delete_batch(first)
    again = services.import_sheet(sheet(tmp_path, "b.csv", OTHER)).batch_id
    before = [values(services, r.id) for r in services.rows(again)]
    assert services.undo(again) is None and not services.can_undo(again)
    assert [values(services, r.id) for r in services.rows(again)] == before


def test_an_undo_follows_rows_brought_back_and_never_edits_another_batchs_row(services, tmp_path):
    a = services.import_sheet(sheet(tmp_path, "a.csv", SHEET)).batch_id
    b = services.import_sheet(sheet(tmp_path, "b.csv", OTHER)).batch_id
    added = services.add_row(a, {"meter": "04271892301", "disco": "IKEJA", "amount": "3000", "phone": "08031234567"})
    services.edit_row(added.id, {"meter": "04271892301", "disco": "IKEJA", "amount": "9000", "phone": "08031234567"})
    services.delete_rows(a, [added.id])
    taken = services.add_row(b, {"meter": "62010000555", "disco": "EKO", "amount": "700", "phone": "08031234567"})
    assert taken.id == added.id  # the freed id went to the other batch
    theirs = values(services, taken.id)
    back = services.undo(a)  # the delete: the row comes back under a new id
    assert back.change.kind == "delete" and taken.id not in back.changed
    (restored,) = back.changed
    assert services.row(restored).amount == 9000
    assert services.undo(a).changed == {restored}  # the edit follows it there
    assert services.row(restored).amount == 3000 and values(services, taken.id) == theirs


def test_an_undo_whose_row_went_elsewhere_is_refused(services, tmp_path):
    a = services.import_sheet(sheet(tmp_path, "a.csv", SHEET)).batch_id
    b = services.import_sheet(sheet(tmp_path, "b.csv", OTHER)).batch_id
    added = services.add_row(a, {"meter": "04271892301", "disco": "IKEJA", "amount": "3000", "phone": "08031234567"})
    services.edit_row(added.id, {"meter": "04271892301", "disco": "IKEJA", "amount": "9000", "phone": "08031234567"})
    other = Services(services.ctx)  # another window on the same store: its delete is not in our steps
    other.delete_rows(a, [added.id])
    taken = other.add_row(b, {"meter": "62010000555", "disco": "EKO", "amount": "700", "phone": "08031234567"})
    assert taken.id == added.id
    theirs = values(services, taken.id)
    with pytest.raises(StateConflict, match="changed since this step"):
        services.undo(a)
    assert values(services, taken.id) == theirs


@pytest.mark.parametrize("step", ["edit", "add"])
def test_an_undo_never_rewrites_or_deletes_a_row_another_window_put_in_its_place(services, tmp_path, step):
    """Review of issue 12: in the same batch, at the same sheet row, with the same id (SQLite
    gives the freed highest id again), the other window's row is still not ours to undo."""
    a = services.import_sheet(sheet(tmp_path, "a.csv", SHEET)).batch_id
    if step == "edit":
        mine = max(services.rows(a), key=lambda r: r.id)
        services.edit_row(mine.id, {"meter": "62040000004", "disco": "EKO", "amount": "2000",
                                    "phone": "08031234567"})
    else:
        mine = services.add_row(a, {"meter": "62040000004", "disco": "EKO", "amount": "2000",
                                    "phone": "08031234567"})
    other = Services(services.ctx)
    other.delete_rows(a, [mine.id])
    carol = other.add_row(a, {"meter": "62030000003", "disco": "IBADAN", "amount": "3000", "phone": "08031234567"})
    assert (carol.id, carol.row_number) == (mine.id, mine.row_number)
    with pytest.raises(StateConflict, match="changed since this step"):
        services.undo(a)
    assert values(services, carol.id) == (a, mine.row_number, "62030000003", "IBADAN", 3000)


def test_an_undo_after_a_lookup_changed_the_row_is_refused_and_keeps_the_lookup(services, tmp_path):
    from sqlalchemy import update

    from buypower_tui.core.models import Recipient

    a = services.import_sheet(sheet(tmp_path, "a.csv", SHEET)).batch_id
    row = next(services.rows(a))
    services.edit_row(row.id, {"meter": "62040000004", "disco": "EKO", "amount": "2000", "phone": "08031234567"})
    with services.store.session() as s:  # as the lookup records what BuyPower said
        s.exec(update(Recipient).where(Recipient.id == row.id).values(state="VERIFIED", customer_name="ADA",
                                                                        updated_at=row.updated_at.now()))
        s.commit()
    with pytest.raises(StateConflict):
        services.undo(a)
    assert services.row(row.id).customer_name == "ADA"


def test_restoring_rows_whose_place_was_taken_says_so(services, tmp_path):
    a = services.import_sheet(sheet(tmp_path, "a.csv", SHEET)).batch_id
    last = max(services.rows(a), key=lambda r: r.row_number)
    services.delete_rows(a, [last.id])
    Services(services.ctx).add_row(a, {"meter": "62010000555", "disco": "EKO", "amount": "700",
                                      "phone": "08031234567"})  # another window: it takes that sheet row
    with pytest.raises(StateConflict, match=f"sheet rows {last.row_number} were taken by rows added since"):
        services.undo(a)
    assert sum(1 for _ in services.rows(a)) == 2  # nothing restored half-way


def test_the_money_lock_is_shared_by_nested_blocks_of_one_thread_only(services):
    refused: list[Exception] = []

    def other_thread() -> None:
        try:
            with services.money():
                pass
        except MoneyLockBusy as exc:
            refused.append(exc)

    with services.money() as outer, services.money() as inner:
        assert inner is outer
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(refused) == 1 and "this buypower-tui is already paying" in str(refused[0])
    with services.money():  # let go at the end of the outer block
        pass


def test_ctrl_c_at_the_prompt_is_said_as_ctrl_c_even_when_another_took_the_lock(services):
    """Review of issue 12: while the VEND prompt waits, the lock is let go; a Ctrl+C then must
    come out as the interruption (exit 130), not as 'another buypower-tui is paying'."""
    other = services.store.money_lock(services.paths.data_dir)
    with services.money() as lock:
        with pytest.raises(KeyboardInterrupt), lock.released():
            other.acquire()  # another process, while a person reads
            raise KeyboardInterrupt
        other.release()
        with pytest.raises(MoneyLockBusy), lock.released():
            other.acquire()  # the person typed VEND: the lock cannot be taken back
        other.release()
