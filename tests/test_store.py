"""The store: SQLite durability settings, unique orderIds, statistics derived from rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from buypower_tui.core.importing import import_file
from buypower_tui.core.models import Event, Recipient, RowState
from buypower_tui.core.rules import Limits


def sheet(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text("meter,disco,amount,phone\n" + "".join(r + "\n" for r in rows))
    return path


def test_sqlite_is_opened_with_wal_full_sync_busy_timeout_and_foreign_keys(store):
    with store.session() as s:
        conn = s.connection()
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2  # FULL
        assert pragma("busy_timeout") == 5000
        assert pragma("foreign_keys") == 1


def test_import_restores_full_sync_after_its_relaxed_bulk_write(store, tmp_path):
    import_file(sheet(tmp_path, ["04271892301,IKEJA,1000,08031234567"]), store, Limits())
    for _ in range(3):  # whichever pooled connection comes back
        with store.session() as s:
            assert s.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_order_id_is_unique_but_many_rows_have_none(store, tmp_path):
    report = import_file(sheet(tmp_path, ["04271892301,IKEJA,1000,08031234567"] * 3), store, Limits())
    rows = list(store.rows(report.batch_id))
    assert all(r.order_id is None for r in rows)
    with store.session() as s:
        a, b = s.get(Recipient, rows[0].id), s.get(Recipient, rows[1].id)
        a.order_id = b.order_id = "same-order"
        s.add_all([a, b])
        with pytest.raises(IntegrityError):
            s.commit()


def test_rows_keep_raw_and_normalised_values_and_the_sheet_row(store, tmp_path):
    report = import_file(sheet(tmp_path, ["", '0427 189 2301,ikedc,"₦1,500.5",+234 803 123 4567']),
                         store, Limits())
    (row,) = store.rows(report.batch_id)
    assert row.row_number == 3
    assert (row.meter_raw, row.meter) == ("0427 189 2301", "04271892301")
    assert (row.amount_raw, row.amount) == ("₦1,500.5", Decimal("1500.50"))
    assert (row.disco_raw, row.disco, row.phone, row.vend_type) == ("ikedc", "IKEJA", "08031234567", "PREPAID")
    assert row.state == RowState.VALID and row.errors is None


def test_statistics_are_computed_from_row_states(store, tmp_path):
    report = import_file(sheet(tmp_path, ["04271892301,IKEJA,1000,08031234567",
                                          "04271892301,IKEJA,2000.50,08031234567",
                                          "45143922321,ABUJA,99,08031234567"]), store, Limits())
    st = store.stats(report.batch_id)
    assert (st.rows, st.valid, st.invalid, st.duplicates) == (3, 2, 1, 2)
    assert st.total_valid == Decimal("3000.50")
    with store.session() as s:
        row = s.get(Recipient, list(store.rows(report.batch_id))[0].id)
        row.state = RowState.SUCCESS
        s.add(row)
        s.commit()
    st = store.stats(report.batch_id)
    assert st.by_state == {"SUCCESS": 1, "VALID": 1, "INVALID": 1}
    assert st.kobo_by_state["SUCCESS"] == 100000


def test_import_appends_a_batch_event_with_the_operator(store, tmp_path):
    report = import_file(sheet(tmp_path, ["04271892301,IKEJA,1000,08031234567"]), store, Limits())
    with store.session() as s:
        events = list(s.exec(__import__("sqlmodel").select(Event).where(Event.batch_id == report.batch_id)))
    assert [e.note.split(" ")[0] for e in events] == ["batch", "imported"]
    assert all("@" in e.operator for e in events)


def test_import_streams_in_chunks(store, tmp_path, monkeypatch):
    import buypower_tui.core.importing as importing

    monkeypatch.setattr(importing, "CHUNK_ROWS", 10)
    writes: list[int] = []
    original = store.insert_rows

    def counting_insert(cols, rows, **kw):
        writes.append(len(rows))
        original(cols, rows, **kw)

    monkeypatch.setattr(store, "insert_rows", counting_insert)
    report = import_file(sheet(tmp_path, [f"{i:011d},IKEJA,1000,08031234567" for i in range(35)]), store, Limits())
    assert report.rows == 35 and writes == [10, 10, 10, 5]
    assert [r.row_number for r in store.rows(report.batch_id, chunk=7)] == list(range(2, 37))


def test_delete_batch_removes_rows_and_events_but_refuses_once_an_order_exists(store, tmp_path):
    first = import_file(sheet(tmp_path, ["04271892301,IKEJA,1000,08031234567"]), store, Limits())
    second = import_file(sheet(tmp_path, ["04271892301,IKEJA,1000,08031234567"]), store, Limits())
    store.delete_batch(first.batch_id)
    assert [b.id for b in store.batches()] == [second.batch_id]
    assert list(store.rows(first.batch_id)) == []
    with store.session() as s:
        row = s.get(Recipient, next(store.rows(second.batch_id)).id)
        row.order_id = "order-1"
        s.add(row)
        s.commit()
    with pytest.raises(ValueError, match="orderId"):
        store.delete_batch(second.batch_id)
    assert [b.id for b in store.batches()] == [second.batch_id]


def test_every_time_comes_back_aware_in_utc(store):
    """One column type (UTCDateTime) instead of each reader patching SQLite's naive times."""
    from datetime import UTC, datetime, timedelta, timezone

    from buypower_tui.core.models import Batch

    lagos = datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    batch = store.create_batch("times", None, "sandbox")
    with store.session() as s:
        row = s.get(Batch, batch.id)
        row.imported_at = lagos
        s.add(row)
        s.commit()
    with store.session() as s:
        back = s.get(Batch, batch.id)
    assert back.imported_at == lagos and back.imported_at.tzinfo == UTC and back.created_at.tzinfo == UTC

def test_the_core_read_path_gives_aware_times_too(store, tmp_path):
    from datetime import UTC

    from buypower_tui.core import editing
    from buypower_tui.core.importing import import_file
    from buypower_tui.core.rules import Limits

    sheet = tmp_path / "one.csv"
    sheet.write_text("meter,disco,amount,phone\n04271892301,IKEJA,1000,08031234567\n")
    batch = import_file(sheet, store, Limits(), mode="sandbox").batch_id
    (row,) = editing.grid_rows(store, batch)
    assert row["updated_at"].tzinfo == UTC
