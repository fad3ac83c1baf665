"""The recipient editor's core: rows as the grid shows them, and the changes it makes."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from sqlmodel import select

from buypower_tui.core import editing, rows
from buypower_tui.core.export import export_invalid
from buypower_tui.core.importing import FileError, import_file
from buypower_tui.core.models import Event, RowState
from buypower_tui.core.rules import Limits

S = RowState
LIMITS = Limits()


@pytest.fixture
def batch(store, tmp_path):
    path = tmp_path / "b.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([
            ["meter", "disco", "amount", "phone", "name"],
            ["12345678910", "ABUJA", "5000", "08034210294", "[/x] Ade"],   # row 2
            ["62010000001", "EKO", "50", "08031234567", "Bola"],           # row 3: amount too small
            ["71120000018", "KANO", "1200", "07011223344", "Dup one"],     # row 4
            ["71120000018", "KANO", "1200", "07011223344", "Dup two"],     # row 5
        ])
    return import_file(path, store, LIMITS).batch_id


def by_number(store, batch_id):
    return {r["row_number"]: r for r in editing.grid_rows(store, batch_id)}


def test_status_shows_the_first_problem_warnings_and_accepted_duplicates(store, batch):
    g, dups = by_number(store, batch), store.duplicate_meters(batch)
    assert editing.row_status(g[2], dups) == ("ok", "valid")
    kind, text = editing.row_status(g[3], dups)
    assert kind == "invalid" and "below the minimum" in text
    assert editing.shown_value(g[3], "amount") == "50"  # what the sheet said, to fix it
    assert editing.shown_value(g[2], "amount") == "₦5,000.00"
    assert editing.row_status(g[4], dups)[0] == "warning"
    editing.accept_duplicates(store, [g[4]["id"]])
    kind, text = editing.row_status(by_number(store, batch)[4], dups)
    assert kind == "ok" and "duplicate accepted" in text


def test_editing_the_meter_of_an_accepted_duplicate_takes_the_acceptance_back(store, batch):
    g = by_number(store, batch)
    editing.accept_duplicates(store, [g[4]["id"], g[5]["id"]])
    rows.edit_row(store, g[4]["id"], {"name": "Dup one, renamed"}, LIMITS)  # same meter: still accepted
    assert by_number(store, batch)[4]["duplicate_accepted"]
    rows.edit_row(store, g[5]["id"], {"meter": "12345678910"}, LIMITS)  # now repeats row 2's meter
    after = by_number(store, batch)
    assert not after[5]["duplicate_accepted"]
    assert editing.row_status(after[5], store.duplicate_meters(batch))[0] == "warning"
    st = store.stats(batch)
    assert st.duplicates == 2  # rows 2 and 5 (row 4 is no longer a duplicate)


def test_stats_count_lookup_failures_as_invalid_and_total_only_payable_rows(store, batch):
    g = by_number(store, batch)
    rows.transition(store, g[2]["id"], (S.VALID,), S.LOOKUP_FAILED, provider_message="not found")
    st = store.stats(batch)
    assert (st.rows, st.valid, st.invalid) == (4, 2, 2)
    assert st.total_valid == Decimal("2400")


def test_add_delete_restore_keep_sheet_numbers_and_refuse_rows_with_an_order(store, batch):
    new = editing.add_row(store, batch, {"meter": "62010000001", "disco": "eko", "amount": "700",
                                         "phone": "08031234567"}, LIMITS)
    assert by_number(store, batch)[6]["id"] == new and by_number(store, batch)[6]["state"] == S.VALID
    g = by_number(store, batch)
    kept = editing.delete_rows(store, [g[2]["id"], g[3]["id"]])
    assert set(by_number(store, batch)) == {4, 5, 6}
    editing.restore_rows(store, kept, LIMITS)
    g = by_number(store, batch)
    assert g[2]["name"] == "[/x] Ade" and g[3]["state"] == S.INVALID
    rows.transition(store, g[2]["id"], (S.VALID,), S.SUCCESS, order_id="bp-1")
    with pytest.raises(rows.StateConflict, match="orderId"):
        editing.delete_rows(store, [g[2]["id"]])


def test_export_invalid_writes_what_the_sheet_said_and_why(store, batch, tmp_path):
    out = tmp_path / "fix.csv"
    assert export_invalid(store, batch, out) == 1
    (line,) = csv.DictReader(out.open(encoding="utf-8-sig"))  # with a BOM, for Excel
    assert line["row"] == "3" and line["amount"] == "50" and "below the minimum" in line["problems"]


def test_rename_needs_a_name(store, batch):
    editing.rename_batch(store, batch, "  March   estate ")
    assert store.batch(batch).name == "March estate"
    with pytest.raises(ValueError):
        editing.rename_batch(store, batch, "   ")


@pytest.mark.parametrize("content, message", [
    (b"meter,disco,amount\n\n", "no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "holds binary data"),
])
def test_files_that_hold_no_recipients_are_refused_and_leave_no_batch(store, tmp_path, content, message):
    path = tmp_path / "sheet.csv"
    path.write_bytes(content)
    with pytest.raises(FileError, match=message):
        import_file(path, store, LIMITS)
    assert store.batches() == []


def test_each_views_store_query_shows_exactly_the_rows_row_status_would(store, tmp_path):
    """Issue 12: the grid's filters and search are store queries (editing.view_ids); they must
    mean what the status column says. Every kind of row is here: invalid, lookup failed, a
    warning of its own, duplicates accepted or not, paid, a name found by search."""
    from sqlalchemy import update

    from buypower_tui.core.demo import write_demo_sheet
    from buypower_tui.core.models import Recipient

    batch_id = import_file(write_demo_sheet(tmp_path / "demo.csv"), store, LIMITS).batch_id
    by_state = {}
    for r in editing.grid_rows(store, batch_id):
        by_state.setdefault(r["state"], []).append(r["id"])
    valid = by_state[S.VALID]
    dups = store.duplicate_meters(batch_id)
    dup_ids = [r["id"] for r in editing.grid_rows(store, batch_id) if r["meter"] in dups]
    assert len(dup_ids) >= 2 and by_state.get(S.INVALID)
    editing.accept_duplicates(store, dup_ids[:1])  # one accepted, one not
    with store.session() as s:
        s.exec(update(Recipient).where(Recipient.id == valid[0]).values(
            state=S.LOOKUP_FAILED, provider_message="meter not found"))
        s.exec(update(Recipient).where(Recipient.id == valid[1]).values(
            state=S.SUCCESS, order_id="o-1", warnings=[{"field": "name", "message": "odd name"}]))
        s.exec(update(Recipient).where(Recipient.id == valid[2]).values(  # issue 13: a name BuyPower does not share
            state=S.VERIFIED, warnings=[{"field": "name", "message": "odd name"},
                                        {"field": "name", "message": "name differs: sheet Ada, BuyPower BOLA"}]))
        s.exec(update(Recipient).where(Recipient.id == valid[3]).values(customer_name="Zainab 100%_Bello"))
        s.exec(update(Recipient).where(Recipient.id == valid[4]).values(customer_name="ÉMILE ZOÉ, Straße 5"))
        s.exec(update(Recipient).where(Recipient.id == valid[5]).values(  # issue 14: closed, its warning moot
            state=S.CLOSED, provider_message="meter removed", warnings=[{"field": "name", "message": "odd name"}]))
        s.exec(update(Recipient).where(Recipient.id == dup_ids[0]).values(  # accepted: "ok", its warning or not
            warnings=[{"field": "name", "message": "odd name"}]))
        s.commit()
    grid, dups = editing.grid_rows(store, batch_id), store.duplicate_meters(batch_id)

    def kind(r):
        return editing.row_status(r, dups)[0]

    expected = {
        "all": [r["id"] for r in grid],
        "invalid": [r["id"] for r in grid if kind(r) == "invalid"],
        "warnings": [r["id"] for r in grid if kind(r) == "warning"],
        "duplicates": [r["id"] for r in grid if r["meter"] in dups],
        "name differs": [r["id"] for r in grid if editing.name_differs(r)],
        **{f"state:{s}": [r["id"] for r in grid if r["state"] == s] for s in RowState},
    }
    assert set(expected) == set(editing.FILTERS)
    for view, ids in expected.items():
        assert editing.view_ids(store, batch_id, view) == ids, view
    assert len(expected["warnings"]) >= 3 and len(expected["invalid"]) >= 2 and expected["name differs"] == [valid[2]]
    closed = next(r for r in grid if r["id"] == valid[5])
    assert editing.row_status(closed, dups) == ("done", "closed: meter removed")
    assert expected["state:CLOSED"] == [valid[5]]
    # search: any case, in what the sheet said or BuyPower's name; % and _ are plain characters
    assert editing.view_ids(store, batch_id, "all", "zainab 100%_b") == [valid[3]]
    assert editing.view_ids(store, batch_id, "all", "100%x") == []
    for needle in ("émile", "ÉMILE", "Émile zoé", "STRASSE"):  # folded as Python folds, not ASCII only
        assert editing.view_ids(store, batch_id, "all", needle) == [valid[4]], needle
    meter = grid[0]["meter_raw"]
    assert editing.view_ids(store, batch_id, "all", meter[2:8]) == [r["id"] for r in grid if meter[2:8] in
                                                                     (r["meter_raw"] or "")]


def test_a_deleted_draft_leaves_its_history_and_no_orphan_for_recovery(store, batch):
    from buypower_tui.core.recovery import needs_recovery

    row = next(iter(store.rows(batch)))
    rows.edit_row(store, row.id, {"name": "Ada"}, LIMITS)  # an event tied to the row
    editing.delete_rows(store, [row.id])
    assert not needs_recovery(store)  # "events belong to rows that no longer exist" was reported
    with store.session() as s:
        events = list(s.exec(select(Event).where(Event.batch_id == batch)))
    assert any(e.note == f"row {row.row_number} deleted by the operator" for e in events)
    assert any(e.note == "edited" and e.recipient_id is None for e in events)  # kept, untied from the row
