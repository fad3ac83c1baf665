"""The health dashboard (F3; issue 16): its facts from a store seeded with fixed events and
times (core/dashboard.py), snapshots at 120x36 and 80x24, and a DISCO the sandbox reports
down shown first.

The clock is frozen where the dashboard reads it (core.dashboard's `now` through
store_facts, the screen's `clock` for latencies), the machine's own figures (disk, memory)
and BuyPower's answers are fixed, and the local zone is WAT (UTC+1), as a Nigerian operator's.
Update with `pytest tests/test_ui_dashboard.py --snapshot-update` after a deliberate change.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select
from textual.color import Color

from buypower_tui.core import dashboard, latency
from buypower_tui.core.health import Health, store_facts
from buypower_tui.core.models import Batch, Event, Recipient, RowState
from buypower_tui.core.run_log import NOTE
from buypower_tui.core.sandbox.fixtures import STATUS_KEYS
from buypower_tui.services import Services
from buypower_tui.ui.screens import health as health_screen
from buypower_tui.ui.widgets.health_charts import DiscoList, hourly_chart, latency_chart, short_ms, short_naira
from tests.ui_support import SIZE, demo_app, screen_text, settle, steady_screen, until  # noqa: F401 - autouse

S = RowState
NOW = datetime(2026, 11, 2, 9, 40, 12, tzinfo=UTC)  # 10:40 in Lagos
RUN_ENDED = NOW - timedelta(minutes=25)
# The demo batch's rows as its run left them (row number: state, BuyPower's words).
RUN = {**{n: (S.SUCCESS, "Successful transaction") for n in range(2, 14)},
       14: (S.PENDING, "Transaction is still in progress. Please requery in 2 seconds"),
       15: (S.FAILED, "This account requires maintenance. Customer is advised to visit their service provider."),
       16: (S.NEEDS_REVIEW, "Transaction is still in progress"),
       21: (S.FAILED, "[/x] Meter is blocked [b]by the disco[/b]")}  # markup in BuyPower's text must not crash
# An earlier batch paid through the night: (hours before NOW, rows, naira each).
EARLIER = [(20, 3, 5000), (19, 6, 2500), (14, 2, 12000), (9, 12, 1500), (8, 9, 3000), (3, 4, 20000), (2, 1, 750)]
SAMPLES = [(NOW.timestamp() - 600 + 5 * i, 40 + (i * 7) % 13 + (95 if i in (37, 90) else 0)) for i in range(120)]


@pytest.fixture
def wat(monkeypatch: pytest.MonkeyPatch):
    """Local time is West Africa Time (+01:00), with or without tzdata."""
    monkeypatch.setenv("TZ", "WAT-1")
    time.tzset()
    yield
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def seed(store, batch_id: int) -> None:
    """A run of the demo batch that ended 25 minutes ago, and an earlier batch paid overnight."""
    with store.session() as s:
        rows = {r.row_number: r for r in s.exec(select(Recipient).where(Recipient.batch_id == batch_id))}
        started = RUN_ENDED - timedelta(minutes=3)
        for n, (state, message) in RUN.items():
            row = rows[n]
            sent, done = started + timedelta(seconds=2 * n), started + timedelta(seconds=2 * n + 1)
            row.state, row.order_id, row.provider_message, row.updated_at = state, f"order-{n:04d}", message, done
            s.add(row)
            s.add(Event(recipient_id=row.id, batch_id=batch_id, at=sent, operator="ade", old_state=S.APPROVED,
                        new_state=S.SENDING))
            final = S.PENDING if state == S.NEEDS_REVIEW else state
            s.add(Event(recipient_id=row.id, batch_id=batch_id, at=done, operator="ade", old_state=S.SENDING,
                        new_state=final, provider_message=message, http_status=200))
        s.add(Event(batch_id=batch_id, at=RUN_ENDED, operator="ade", note=NOTE, details={"run": {
            "balance_before": "1000000.00", "balance_after": "953799.50", "paid": "46200.50", "succeeded": 12,
            "unsettled": "5000.00"}}))
        s.add(Event(recipient_id=rows[16].id, batch_id=batch_id, at=RUN_ENDED + timedelta(minutes=15), operator="ade",
                    old_state=S.PENDING, new_state=S.NEEDS_REVIEW, provider_message=RUN[16][1],
                    note="still pending 20 min after the first send (10 requeries): needs review"))  # requeried since
        earlier = Batch(name="Estate, Block C (October)", mode="sandbox", created_at=NOW - timedelta(days=1))
        s.add(earlier)
        s.flush()
        number = 1
        for hours_ago, count, amount in EARLIER:
            for i in range(count):
                number += 1
                at = NOW - timedelta(hours=hours_ago, minutes=7 * i)
                row = Recipient(batch_id=earlier.id, row_number=number, state=S.SUCCESS, meter=f"6201{number:07d}",
                                disco="ABUJA", amount_kobo=amount * 100, updated_at=at)
                s.add(row)
                s.flush()
                s.add(Event(recipient_id=row.id, batch_id=earlier.id, at=at, operator="ade", old_state=S.SENDING,
                            new_state=S.SUCCESS))
        s.commit()


def frozen_health(self: Services) -> Health:
    """BuyPower's answers and the machine's figures fixed; the store's facts read at NOW."""
    h = Health(store_ok=True, key_source="keyring", api_reachable=True, api_latency_ms=44.0, breaker="closed",
               discos_down=["JOS", "KANO"], discos_up=sorted(set(STATUS_KEYS) - {"JOS", "KANO"}),
               wallet=Decimal("953799.50"), free_disk_mb=83305.0, memory_mb=117.0)
    store_facts(self.store, h, now=NOW)
    if h.needs_review:
        h.degrade(f"{h.needs_review} rows need review")
    return h


def seeded_app(tmp_path, monkeypatch):
    app = demo_app(tmp_path, recover=False)  # the states are a picture, not a crash to recover
    seed(app.services.store, app.services.demo.batch_id)
    monkeypatch.setattr(Services, "health", frozen_health)
    monkeypatch.setattr(health_screen, "clock", lambda: NOW.timestamp())

    def history() -> latency.LatencyHistory:
        kept = latency.LatencyHistory()
        kept.extend(SAMPLES)
        return kept

    monkeypatch.setattr(health_screen, "LatencyHistory", history)
    return app


# -- the facts ---------------------------------------------------------------------------------------------------

def test_the_store_facts_for_the_dashboard(tmp_path, monkeypatch, wat):
    app = seeded_app(tmp_path, monkeypatch)
    h = frozen_health(app.services)
    assert len(h.hours) == 24 and local_hour(h.hours[0].start) == 11 and local_hour(h.hours[-1].start) == 10
    assert h.hours[-1].vends == 12 and h.hours[-1].naira == Decimal("46200.50")  # the run's 12 rows, this hour
    assert sum(x.vends for x in h.hours) == h.vends_24h == 12 + sum(count for _h, count, _n in EARLIER)
    assert sum(h.vends_by_hour) == h.vends_24h  # the key kept for `health --json` users says the same
    run = h.last_run
    assert (run.batch_id, run.ended_at, run.rows, run.paid, run.failed, run.pending, run.needs_review) == (
        app.services.demo.batch_id, RUN_ENDED, 16, 12, 2, 2, 1)
    assert run.paid_naira == Decimal("46200.50") and run.moved == Decimal("46200.50") and run.not_sent == 0
    assert [(e.row_number, e.state) for e in h.recent_errors] == [(16, S.NEEDS_REVIEW), (21, S.FAILED),
                                                                 (15, S.FAILED)]
    assert "needs review" in h.recent_errors[0].message and h.recent_errors[1].message.startswith("[/x]")
    app.services.close()


def local_hour(at: datetime) -> int:
    return at.astimezone().hour


def test_health_json_keeps_every_key_and_adds_the_dashboards(tmp_path, monkeypatch, wat):
    app = seeded_app(tmp_path, monkeypatch)
    data = json.loads(json.dumps(frozen_health(app.services).as_json()))
    assert set(Health().as_json()) >= {  # the keys of 0.1: never renamed or removed
        "status", "problems", "store_ok", "key_source", "api_reachable", "api_latency_ms", "breaker", "discos_up",
        "discos_down", "wallet", "pending", "needs_review", "success_rate_24h", "vends_24h", "vends_by_hour",
        "free_disk_mb", "memory_mb"}
    assert data["wallet"] == "953799.50" and len(data["vends_by_hour"]) == 24
    assert data["hours"][-1] == {"start": "2026-11-02T10:00:00+01:00", "vends": 12, "naira": "46200.50"}
    assert data["last_run"]["ended_at"] == "2026-11-02T10:15:12+01:00" and data["last_run"]["moved"] == "46200.50"
    assert data["last_run"]["balance_after"] == "953799.50" and data["recent_errors"][0]["state"] == "NEEDS_REVIEW"
    app.services.close()


def test_no_run_and_no_error_yet(tmp_path):
    app = demo_app(tmp_path, recover=False)
    h = Health()
    store_facts(app.services.store, h, now=NOW)
    assert h.last_run is None and h.recent_errors == [] and [x.vends for x in h.hours] == [0] * 24
    app.services.close()


def test_latency_stats_cover_the_history_kept():
    stats = latency.latency_stats([(100.0, 50.0), (105.0, 40.0), (110.0, 300.0), (115.0, 45.0)])
    assert (stats.count, stats.low, stats.median, stats.p95, stats.span_s) == (4, 40.0, 47.5, 300.0, 15.0)
    kept = latency.LatencyHistory(size=3)
    for i in range(10):
        kept.add(float(i), float(i))
    assert kept.samples() == [(7.0, 7.0), (8.0, 8.0), (9.0, 9.0)]  # bounded: the newest
    assert latency.latency_stats([]) is None
    assert [latency.span_text(s) for s in (0, 45, 600, 7200, 9000)] == ["0 s", "45 s", "10 min", "2 h",
                                                                          "2 h 30 min"]


def test_steady_latencies_read_as_a_level_not_a_block():
    """From zero: 48 ms steady is a band at its height with its scale, one slow call stands out."""
    steady = latency_chart([48.0] * 10, 16, 3).plain.splitlines()
    assert steady[0].startswith("48 ms┤") and steady[-1].startswith("    0┤")
    spike = latency_chart([48.0] * 9 + [480.0], 16, 3).plain.splitlines()
    assert spike[0] == "480ms┤         █" and set(spike[-1][6:15]) == {"▂"}
    assert [short_ms(v) for v in (7, 95, 480, 1234, 15000)] == ["7 ms", "95 ms", "480ms", "1.2 s", "15 s"]
    assert [short_naira(Decimal(v)) for v in ("950", "45000", "1250000")] == ["₦950", "₦45k", "₦1.2M"]


def test_the_hour_axis_names_every_hour_or_every_other(wat):
    hours = dashboard.by_hour([(NOW - timedelta(hours=2), 50000)], NOW)
    wide = hourly_chart(hours, 110, 2).plain.splitlines()
    assert wide[-1].split() == [f"{(11 + i) % 24:02d}" for i in range(24)]  # 11 … 23 00 … 10: local hours
    narrow = hourly_chart(hours, 60, 2).plain.splitlines()
    assert narrow[-1].split() == [f"{h:02d}" for h in (12, 14, 16, 18, 20, 22, 0, 2, 4, 6, 8, 10)]
    assert narrow[0].startswith("    1┤") and narrow[2].startswith(" ₦500┤")
    late, early = NOW + timedelta(minutes=30), dashboard.first_hour(NOW) - timedelta(seconds=1)
    counted = dashboard.by_hour([(late, 100), (early, 100)], NOW)  # another machine's clock ahead; too old
    assert counted[-1].vends == 1 and sum(h.vends for h in counted) == 1


# -- the screen --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x36", "80x24"])
def test_dashboard(snap_compare, tmp_path, monkeypatch, wat, size):
    app = seeded_app(tmp_path, monkeypatch)

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        await pilot.press("f3")
        await settle(pilot, 0.4, quiet=True)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
    app.services.close()


def test_dashboard_80x24_scrolled_to_the_last_errors(snap_compare, tmp_path, monkeypatch, wat):
    app = seeded_app(tmp_path, monkeypatch)

    async def run_before(pilot):
        await settle(pilot, 0.4, quiet=True)
        await pilot.press("f3")
        await settle(pilot, 0.4, quiet=True)
        pilot.app.screen.query_one("#health-body").scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    app.services.close()


async def test_a_disco_the_sandbox_reports_down_is_listed_first_in_the_error_colour(tmp_path):
    app = demo_app(tmp_path)
    app.services.demo.sandbox.update_config(down=["KANO"])  # /discos/status says KANO is down
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, quiet=True)
        await pilot.press("f3")
        await until(pilot, lambda: getattr(app.screen, "health", None) is not None)
        discos = app.screen.query_one(DiscoList)
        assert app.screen.health.discos_down == ["KANO"]
        assert discos.names[0] == "KANO" and len(discos.names) == len(STATUS_KEYS)
        first = discos.render()
        assert first.plain.startswith(f"✗ KANO  {min(STATUS_KEYS)}  ")
        down = discos.get_component_rich_style("disco-list--down")
        assert first.get_style_at_offset(app.console, 2) == down and down.bold
        error = Color.parse(app.current_theme.error)  # the theme's $error, not a fixed red (within rounding)
        assert all(abs(a - b) <= 2 for a, b in zip(down.color.triplet, error.rgb, strict=True))
        assert "✗ KANO" in screen_text(app) and "1 down" in screen_text(app)
    app.services.close()
