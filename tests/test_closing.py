"""Issue 14, "close what cannot be paid": a row closed with a note is final and takes no money;
a row whose order may still take money is never closed; reopening puts a row back as it was.
Each act is all or none for the rows given."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from buypower_tui.core import closing, editing, manual, rows
from buypower_tui.core.health import Health, store_facts
from buypower_tui.core.importing import import_file
from buypower_tui.core.models import Event, Recipient, RowState, utcnow
from buypower_tui.core.preflight import preflight
from buypower_tui.core.row_view import OPERATOR, row_status
from buypower_tui.core.rules import Limits
from tests.engine_helpers import cli, cli_sandbox, write_batch

S = RowState
MAINTENANCE = "This account requires maintenance. Customer is advised to visit their service provider."
# sheet row -> how a run and a lookup left it
SET = {
    2: dict(state=S.FAILED, order_id="o-2", provider_code="501", provider_message=MAINTENANCE),  # BuyPower said so
    3: dict(state=S.LOOKUP_FAILED, provider_message="meter not found"),
    4: dict(state=S.INVALID, errors=[{"field": "amount", "message": "amount below ₦100"}]),
    5: dict(state=S.FAILED, order_id="o-5", provider_code=OPERATOR,  # the operator's word, not BuyPower's
            provider_message="marked failed by OPERATOR: support says so", next_requery_at=utcnow()),
    6: dict(state=S.PENDING, order_id="o-6", next_requery_at=utcnow() + timedelta(minutes=2)),
    7: dict(state=S.NEEDS_REVIEW, order_id="o-7"),
    8: dict(state=S.SUCCESS, order_id="o-8", token="12345678901234567890"),
    9: dict(state=S.APPROVED, order_id="o-9"),
    10: dict(state=S.VERIFIED),
}


@pytest.fixture
def batch(store, tmp_path):
    """Rows 2..10 in the states above (row 11 stays VALID)."""
    batch_id = import_file(write_batch(tmp_path / "b.csv", 10), store, Limits()).batch_id
    with store.session() as s:
        for number, values in SET.items():
            s.exec(update(Recipient).where(Recipient.batch_id == batch_id, Recipient.row_number == number)
                   .values(**values))
        s.commit()
    return batch_id


def ids(store, batch_id, *numbers):
    by_number = {r.row_number: r.id for r in store.rows(batch_id)}
    return [by_number[n] for n in numbers]


def events(store, row_id):
    with store.session() as s:
        return list(s.exec(select(Event).where(Event.recipient_id == row_id).order_by(Event.id)))


def test_failed_lookup_failed_and_invalid_rows_close_with_a_note_and_reopen_as_they_were(store, batch):
    closable = ids(store, batch, 2, 3, 4)
    before = {i: rows.get(store, i) for i in closable}
    done = closing.close_rows(store, closable, "  meter under   maintenance ")
    assert [r.row_number for r in done] == [2, 3, 4] and {r.state for r in done} == {S.CLOSED}
    for row_id in closable:
        row = rows.get(store, row_id)
        assert row.state == S.CLOSED and row.provider_message == "meter under maintenance"
        assert row.order_id == before[row_id].order_id  # its order stays in its history
        last = events(store, row_id)[-1]
        assert (last.old_state, last.new_state) == (before[row_id].state, S.CLOSED)
        assert last.note == "closed by the operator: meter under maintenance" and "@" in last.operator
        assert last.details["reopen_to"] == before[row_id].state
    grid = {r["row_number"]: r for r in editing.grid_rows(store, batch)}
    assert row_status(grid[2], {}) == ("done", "closed: meter under maintenance")
    st = store.stats(batch)
    assert st.closed == 3 and st.invalid == 0 and st.by_state[S.FAILED] == 1 and not st.done  # row 5 only

    # never sent, retried or requeried; no run plans it
    assert not set(closable) & set(rows.ids_in(store, batch, rows.SENDABLE, operators_failed=True))
    assert not set(closable) & set(rows.due_requeries(store, batch, utcnow() + timedelta(days=1)))
    assert "is CLOSED, not FAILED" in manual.retry_problem(rows.get(store, closable[0]))
    assert not set(closable) & set(preflight(store, batch, None, 7).send)

    done = closing.reopen_rows(store, closable, "maintenance over")
    assert [r.state for r in done] == [S.FAILED, S.LOOKUP_FAILED, S.INVALID]
    for row_id in closable:
        row, was = rows.get(store, row_id), before[row_id]
        assert (row.state, row.provider_message, row.provider_code, row.errors) == \
            (was.state, was.provider_message, was.provider_code, was.errors)
        last = events(store, row_id)[-1]
        assert (last.old_state, last.new_state, last.note) == (S.CLOSED, was.state,
                                                                "reopened by the operator: maintenance over")
    assert manual.retry_problem(rows.get(store, closable[0])) is None  # BuyPower said it failed: retryable again
    health = Health()
    store_facts(store, health)  # the reopened FAILED row is no new failure in the success rate
    assert health.success_rate_24h is None


@pytest.mark.parametrize("number, reason", [
    (5, "was marked failed by OPERATOR, and BuyPower has not said that its order o-5 failed"),
    (6, "is PENDING: its order o-6 may still take money"),
    (7, "is NEEDS_REVIEW: its order o-7 may still take money"),
    (8, "is SUCCESS; only FAILED, LOOKUP_FAILED and INVALID rows are closed"),
    (9, "is APPROVED; only"),
    (10, "is VERIFIED; only"),
])
def test_a_row_that_may_take_money_or_is_paid_is_not_closed_and_nothing_else_is(store, batch, number, reason):
    good, bad = ids(store, batch, 2, number)
    states = {r.id: (r.state, r.provider_message) for r in store.rows(batch)}
    counts = {i: len(events(store, i)) for i in (good, bad)}
    with pytest.raises(closing.Refused) as refused:
        closing.close_rows(store, [good, bad], "will not be paid")
    (problem,) = refused.value.problems  # the closable row is not named: only the one refused
    assert problem.startswith(f"row {number} {reason}")
    assert "Nothing was closed" in str(refused.value)
    assert {r.id: (r.state, r.provider_message) for r in store.rows(batch)} == states  # all or none
    assert {i: len(events(store, i)) for i in (good, bad)} == counts


def test_a_note_is_required_only_closed_rows_reopen_and_a_closed_row_is_not_closed_twice(store, batch):
    (failed,) = ids(store, batch, 2)
    with pytest.raises(ValueError, match="a note is required"):
        closing.close_rows(store, [failed], "   ")
    with pytest.raises(closing.Refused, match="row 2 is FAILED, not CLOSED"):
        closing.reopen_rows(store, [failed], "why not")
    closing.close_rows(store, [failed], "tenant moved out")
    with pytest.raises(closing.Refused, match="row 2 is already CLOSED"):
        closing.close_rows(store, [failed], "again")
    with pytest.raises(ValueError, match="a note is required"):
        closing.reopen_rows(store, [failed], "")
    assert rows.get(store, failed).state == S.CLOSED


def test_a_batch_of_paid_and_closed_rows_is_done(store, tmp_path):
    batch = import_file(write_batch(tmp_path / "b.csv", 2), store, Limits()).batch_id
    paid, failed = (r.id for r in store.rows(batch))
    with store.session() as s:
        s.exec(update(Recipient).where(Recipient.id == paid).values(state=S.SUCCESS, order_id="a"))
        s.exec(update(Recipient).where(Recipient.id == failed).values(state=S.FAILED, order_id="b"))
        s.commit()
    assert not store.stats(batch).done
    closing.close_rows(store, [failed], "meter removed")
    assert store.stats(batch).done and store.stats(batch).closed == 1


# -- the CLI: `buypower-tui close`, and `run` on a batch that is done ----------------------------------

@pytest.fixture
def sandbox(monkeypatch):
    with cli_sandbox(monkeypatch, seed=31) as server:
        yield server


def test_close_and_reopen_at_the_cli_and_a_batch_of_paid_and_closed_rows_runs_to_exit_0(sandbox, capsys, tmp_path):
    sheet = tmp_path / "month.csv"
    sheet.write_text("meter,disco,amount,phone\n"
                     "12345678901,ABUJA,1000,08031234567\n"  # row 2: paid
                     "55500000007,ABUJA,1000,08031234567\n"  # row 3: 501, under maintenance: FAILED
                     "12345670000,ABUJA,1000,08031234567\n"  # row 4: not found: LOOKUP_FAILED
                     "12345678902,ABUJA,50,08031234567\n")  # row 5: below the minimum: INVALID
    assert cli(capsys, sandbox, "import", str(sheet))[0] == 1
    code, out, _ = cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 1 and "1 SUCCESS" in out and "1 FAILED" in out and "buypower-tui close 1 --rows" in out

    def states():  # batch 1 as `batches --json` lists it
        return json.loads(cli(capsys, sandbox, "batches", "--json")[1].splitlines()[0])

    before = states()
    for argv, says in ((("--rows", "2,3", "--note", "x"), "close: row 2 is SUCCESS; only FAILED"),
                       (("--rows", "3", "--note", "  "), "--note must say why"),
                       (("--rows", "3,99", "--note", "x"), "sheet row 99 is not in batch 1")):
        code, _, err = cli(capsys, sandbox, "close", "1", *argv)
        assert code == 2 and says in err and "nothing was changed" in err, err
    assert states() == before  # all or none: row 3 was not closed with them

    code, out, _ = cli(capsys, sandbox, "close", "1", "--rows", "3,4,5", "--note", "meter under maintenance")
    assert code == 0 and "row 3: closed (meter under maintenance)" in out and "batch 1 is done" in out
    after = states()
    assert after["by_state"] == {"SUCCESS": 1, "CLOSED": 3} and after["done"] is True
    assert (after["total_valid"], after["paid"]) == ("0.00", "1000.00")  # a field added; none renamed
    code, out, _ = cli(capsys, sandbox, "batches")  # says what was paid, not "₦0.00" as if it cost nothing
    header, line = out.splitlines()[:2]
    assert "to pay / paid" in header and "total (valid)" not in header
    assert "₦1,000.00 paid" in line and "₦0.00" not in line and "DONE" in line
    code, out, err = cli(capsys, sandbox, "run", "1", "--yes", "--wait-pending", "0")
    assert code == 0, out + err  # closed rows do not make the run fail
    assert "every row is paid or closed (3 closed)" in out

    code, out, err = cli(capsys, sandbox, "close", "1", "--rows", "3", "--reopen", "--note", "maintenance over")
    assert code == 0 and "row 3: reopened as FAILED" in out, err
    code, _, err = cli(capsys, sandbox, "close", "1", "--rows", "2", "--reopen", "--note", "x")
    assert code == 2 and "row 2 is SUCCESS, not CLOSED" in err
    assert states()["by_state"] == {"SUCCESS": 1, "CLOSED": 2, "FAILED": 1} and not states()["done"]


def test_a_closed_row_makes_no_twin_of_its_meter(store, tmp_path):
    sheet = tmp_path / "twins.csv"
    sheet.write_text("meter,disco,amount,phone\n45143922322,ABUJA,5000,08031234567\n"
                     "45143922322,ABUJA,abc,08031234567\n")  # the same meter typed twice, once broken
    batch_id = import_file(sheet, store, Limits()).batch_id
    assert store.duplicate_meters(batch_id) == {"45143922322": 2}
    closing.close_rows(store, ids(store, batch_id, 3), "typed twice")
    assert store.duplicate_meters(batch_id) == {}  # row 2 is not held back as "the same meter as row 3"
    assert editing.view_ids(store, batch_id, "duplicates") == []
