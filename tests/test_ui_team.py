"""Team mode in the TUI: the batches screen shows the batches other operators are paying now
(the holders of their PostgreSQL advisory locks), refreshed while it is open; and an edit of
such a batch is refused, naming who pays it. The other operator is a session of its own on
the same server, holding the batch's lock as its run would."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from buypower_tui.core.money_lock import BATCH_KEY
from buypower_tui.services import StateConflict
from buypower_tui.ui.app import BuyPowerApp
from tests.engine_helpers import write_batch
from tests.ui_support import screen_text, services, settle, steady_screen, until  # noqa: F401 - autouse fixture

OTHER = "ada@ws9, pid 4242, since Dec 01 18:00 UTC"


async def test_the_batches_screen_shows_who_is_paying_a_batch_and_an_edit_of_it_is_refused(pg_url, tmp_path):
    svc = services("--db", pg_url, "--sandbox")
    for n in (1, 2):
        svc.import_sheet(write_batch(tmp_path / f"{n}.csv", 3, seed=n))
    other = create_engine(pg_url).connect()  # another workstation's run, as PgMoneyLock holds it
    other.execute(text("SELECT set_config('application_name', :n, false)"), {"n": f"buypower-tui: {OTHER}"})
    other.execute(text("SELECT pg_advisory_lock(:k, 1)"), {"k": BATCH_KEY})
    other.commit()
    app = BuyPowerApp(svc, recover=False)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            shown = screen_text(app)
            assert f"batch 1 is being paid by {OTHER}" in shown and "batch 2 is being" not in shown, shown
            assert "▶" in shown
            row = next(iter(svc.rows(1)))
            with pytest.raises(StateConflict, match=f"batch 1 is being paid or requeried by {OTHER}"):
                svc.edit_row(row.id, {"amount": "1500"})
            svc.edit_row(next(iter(svc.rows(2))).id, {"amount": "1500"})  # another batch: as ever
            other.invalidate()  # the other run ended (its session with it): the screen says so within seconds
            await until(pilot, lambda: "being paid" not in screen_text(app), timeout=10)
            assert "▶" not in screen_text(app)
    finally:
        other.close()
        svc.close()
