"""The health dashboard, a mode of its own: opening it pops no screen and stops no run.

Refreshed by one-shot thread workers re-armed by a timer (never a `while True`): the same
facts as `buypower-tui health`, plus the running client's breaker and call latencies.

Six panels in a grid that reflows with the terminal's width: three columns from 110 cells
(now, DISCOs, last run / latency, last errors / paid per hour), two below (now, DISCOs / last
run, latency / last errors / paid per hour). The body scrolls when the terminal is shorter
than the panels: 80x24 shows the status, now, the DISCOs, the last run and the latency first.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from buypower_tui.core.latency import LatencyHistory, latency_stats, span_text
from buypower_tui.core.rules import naira
from buypower_tui.core.times import local, offset, offset_now
from buypower_tui.core.values import percent
from buypower_tui.ui.widgets.health_charts import DiscoList, HourlyChart, LatencyChart
from buypower_tui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:  # annotations only: SQLAlchemy is not loaded before the first frame
    from buypower_tui.core.dashboard import LastRun, RowError
    from buypower_tui.core.health import Health

REFRESH_S = 5.0
WIDE = 110  # from this many cells, three columns of panels
clock = time.time  # when a health check's latency was measured (a test freezes it)


class HealthScreen(Screen):
    TITLE = "Health"
    HELP_TEXT = (f"The state of the store, the key, BuyPower and this machine, refreshed every {REFRESH_S:.0f} s "
                 "(r now). The breaker and latencies are those of the batch being paid, when one is; else the "
                 "latency of this dashboard's own checks (the last 240). Paid per hour: the last 24 clock "
                 "hours, local time, the current one last. Last run: where the rows it sent stand now. Last "
                 "errors: the rows that most recently failed or were parked for review. The same facts come "
                 "from `buypower-tui health --json` for monitoring. ↑/↓ and PgUp/PgDn scroll when the terminal "
                 "is small. This dashboard is a mode of its own: F3 or Esc goes back, and a run carries on "
                 "meanwhile.")
    BINDINGS = [
        Binding("r", "refresh", "Refresh now", id="health.refresh"),
        Binding("escape", "app.health", "Back", id="health.back"),
    ]
    COMPONENT_CLASSES = {"health--good", "health--bad", "health--warn", "health--muted", "health--label",
                         "health--healthy", "health--degraded", "health--down"}

    def __init__(self) -> None:
        super().__init__()
        self.latency = LatencyHistory()  # this dashboard's own checks, bounded
        self.health: Health | None = None

    def compose(self) -> ComposeResult:
        yield TopBar("Health")
        yield Static("Checking…", id="health-status", markup=False)
        with VerticalScroll(id="health-body"), Grid(id="health-grid"):
            yield Static("Checking…", id="health-facts", classes="panel", markup=False)
            yield DiscoList(id="health-discos", classes="panel")
            yield Static("No run has ended yet.", id="health-last-run", classes="panel", markup=False)
            with Vertical(id="health-latency", classes="panel"):
                yield Static(id="latency-stats", markup=False)
                yield LatencyChart(id="latency-chart")
                yield Static(id="latency-span", markup=False)
            yield Static("Checking…", id="health-errors", classes="panel", markup=False)
            with Vertical(id="health-hours", classes="panel"):
                yield Static("Checking…", id="hours-note", markup=False)
                yield HourlyChart(id="hours-chart")
        yield Footer()

    def on_mount(self) -> None:
        titles = {"#health-facts": "Now", "#health-discos": "DISCOs", "#health-last-run": "Last run",
                  "#health-latency": "BuyPower latency", "#health-hours": "Paid per hour, last 24 h",
                  "#health-errors": "Last errors"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.poll()

    def on_resize(self, event: Resize) -> None:
        narrow = event.size.width < WIDE
        self.set_class(narrow, "-narrow")
        for chart in self.query(HourlyChart):  # taller where the panels sit three abreast and leave the room
            chart.lines = 3 if narrow else 4
            chart.refresh(layout=True)

    def action_refresh(self) -> None:
        self.poll()

    @work(thread=True, exclusive=True, group="health", exit_on_error=False)
    def poll(self) -> Health:
        return self.app.services.health()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "health" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        if event.state == WorkerState.SUCCESS:
            h = event.worker.result
            if h.api_latency_ms is not None:
                self.latency.add(clock(), h.api_latency_ms)
            self.show(h)
        else:
            status = Text(" CHECK FAILED ", style=self.paint("health--down"))
            self.query_one("#health-status", Static).update(status + Text(f"  {event.worker.error}"))
        self.set_timer(REFRESH_S, self.poll_if_shown)  # one shot, re-armed: never two checks at once

    def poll_if_shown(self) -> None:
        """Left for another mode: stop asking BuyPower; coming back asks again."""
        if self.is_current:
            self.poll()
        else:
            self._paused = True

    def on_screen_resume(self) -> None:
        if getattr(self, "_paused", False):
            self._paused = False
            self.poll()

    # -- drawing -------------------------------------------------------------------------

    def paint(self, name: str) -> Style:
        """The Rich style of one of this screen's component classes (app.tcss: theme colours)."""
        return self.get_component_rich_style(name)

    def show(self, h: Health) -> None:
        self.health = h
        run = self.app.run_control if self.app.run_active() else None
        client = run.client if run is not None else None
        breaker = client.breaker.snapshot().state.value if client is not None else h.breaker
        if client is not None:
            samples = [(s.at, s.latency_ms) for s in list(client.samples)]
            what = ("run call", "run calls")
        else:
            samples, what = self.latency.samples(), ("check", "checks")
        status = Text.assemble((f" {h.status.upper()} ", self.paint(f"health--{h.status}")))
        if h.problems:
            status.append("  " + " · ".join(h.problems), style=self.paint("health--warn"))
        self.query_one("#health-status", Static).update(status)
        self.query_one("#health-facts", Static).update(self.facts(h, breaker, samples[-1][1] if samples else None))
        discos = self.query_one(DiscoList)
        if h.api_reachable:
            discos.show(h.discos_down, h.discos_up, "" if h.discos_down or h.discos_up else "BuyPower listed none.")
        else:
            discos.show((), (), "Unknown: BuyPower was not asked." if h.api_reachable is None
                        else "Unknown: BuyPower did not answer.")
        self.query_one("#health-discos").border_subtitle = (f"{len(h.discos_down)} down" if h.discos_down else
                                                            "all up" if h.discos_up else "")
        self.query_one("#health-last-run", Static).update(self.last_run(h.last_run) if h.last_run
                                                          else Text("No run has ended yet."))
        self.show_latency(samples, what)
        self.show_hours(h)
        self.query_one("#health-errors", Static).update(self.errors(h.recent_errors))

    def facts(self, h: Health, breaker: str, latency: float | None) -> Table:
        good, bad, warn = self.paint("health--good"), self.paint("health--bad"), self.paint("health--warn")
        t = Table.grid(padding=(0, 1))
        t.add_column(style=self.paint("health--label"), width=8, no_wrap=True)
        t.add_column()
        t.add_row("Store", Text("ok", style=good) if h.store_ok else Text("DOWN", style=bad))
        t.add_row("API key", Text(h.key_source, style="" if h.key_source != "none" else warn))
        reach = {True: Text("reachable", style=good), False: Text("UNREACHABLE", style=bad),
                 None: Text("not asked (no key)")}[h.api_reachable]
        if h.api_reachable and latency is not None:
            reach.append(f" · {latency:.0f} ms", style="")
        t.add_row("BuyPower", reach)
        t.add_row("Breaker", Text(breaker, style=good if breaker == "closed" else bad))
        t.add_row("Wallet", naira(h.wallet) if h.wallet is not None else "unknown")
        t.add_row("Rows", Text.assemble(f"{h.pending} pending · ",
                                        (f"{h.needs_review} to review", warn if h.needs_review else "")))
        rate = f" · {percent(h.success_rate_24h)} ok" if h.success_rate_24h is not None else ""
        t.add_row("Last 24h", f"{h.vends_24h} paid{rate}")
        disk = f"{h.free_disk_mb / 1000:,.1f} GB" if h.free_disk_mb >= 10_000 else f"{h.free_disk_mb:,.0f} MB"
        t.add_row("Machine", f"{disk} free · {h.memory_mb:.0f} MB RAM")
        return t

    def last_run(self, r: LastRun) -> Table:
        bad, warn = self.paint("health--bad"), self.paint("health--warn")
        t = Table.grid(padding=(0, 1))
        t.add_column(style=self.paint("health--label"), width=7, no_wrap=True)
        t.add_column()
        t.add_row("Ended", f"{local(r.ended_at):%Y-%m-%d %H:%M} {offset(r.ended_at)}")
        t.add_row("Batch", Text(f"{r.batch_id} · {r.batch_name}", overflow="ellipsis", no_wrap=True))
        not_sent = f" ({r.not_sent} put back, not sent)" if r.not_sent else ""
        t.add_row("Sent", f"{r.rows} rows{not_sent}")
        t.add_row("Paid", f"{r.paid} · {naira(r.paid_naira)}")
        t.add_row("Failed", Text(str(r.failed), style=bad if r.failed else ""))
        review = f" ({r.needs_review} need review)" if r.needs_review else ""
        t.add_row("Pending", Text(f"{r.pending}{review}", style=warn if r.pending else ""))
        unknown = "unknown"
        t.add_row("Wallet", Text.assemble(naira(r.balance_before) if r.balance_before is not None else unknown,
                                          (" before", self.paint("health--muted"))))
        t.add_row("", Text.assemble(naira(r.balance_after) if r.balance_after is not None else unknown,
                                    (" after", self.paint("health--muted"))))
        return t

    def show_latency(self, samples: list[tuple[float, float]], what: tuple[str, str]) -> None:
        stats = latency_stats(samples)
        chart = self.query_one(LatencyChart)
        span = self.query_one("#latency-span", Static)
        if stats is None:
            self.query_one("#latency-stats", Static).update(Text("No latency measured yet.",
                                                                 style=self.paint("health--muted")))
            chart.show(())
            span.update("")
            return
        self.query_one("#latency-stats", Static).update(Text.assemble(
            "min ", (f"{stats.low:.0f}", "bold"), " · median ", (f"{stats.median:.0f}", "bold"),
            " · p95 ", (f"{stats.p95:.0f}", "bold"), " ms"))
        chart.show([ms for _at, ms in samples])
        # The span, not the clock times it runs between: a clock on screen changes every snapshot.
        said = (f"{stats.count} {what[1]} over the last {span_text(stats.span_s)}" if stats.count > 1
                else f"1 {what[0]} so far")
        span.update(Text(said, style=self.paint("health--muted")))

    def show_hours(self, h: Health) -> None:
        panel = self.query_one("#health-hours")
        vends, paid = sum(x.vends for x in h.hours), sum((x.naira for x in h.hours), start=Decimal(0))
        zone = offset(h.hours[-1].start) if h.hours else offset_now()
        panel.border_title = f"Paid per hour, last 24 h, local time ({zone})"
        panel.border_subtitle = f"{vends} vends · {naira(paid)}" if vends else "nothing paid"
        self.query_one(HourlyChart).show(h.hours if vends else ())  # no empty axis: a line says so
        note = self.query_one("#hours-note", Static)
        note.display = not vends
        note.update("Nothing was paid in the last 24 hours." if h.hours else
                    "No figures: the store did not answer." if not h.store_ok else "No figures.")

    def errors(self, found: list[RowError]) -> Table | Text:
        if not found:
            return Text("No row failed or was parked for review.", style=self.paint("health--muted"))
        t = Table(box=None, show_header=True, header_style=self.paint("health--label"), pad_edge=False,
                  padding=(0, 1), expand=True)
        zone = offset(found[0].at)  # in the header; a time at another offset (summer time) keeps its own
        t.add_column(f"When ({zone})", no_wrap=True)
        t.add_column("Batch", no_wrap=True, justify="right")
        t.add_column("Row", no_wrap=True, justify="right")
        t.add_column("State", no_wrap=True)
        t.add_column("Why", no_wrap=True, overflow="ellipsis", ratio=1)
        bad, warn = self.paint("health--bad"), self.paint("health--warn")
        for e in found:
            when = f"{local(e.at):%b %d %H:%M}" + ("" if offset(e.at) == zone else f" {offset(e.at)}")
            t.add_row(when, "" if e.batch_id is None else str(e.batch_id),
                      "deleted" if e.row_number is None else str(e.row_number),
                      Text(e.state, style=bad if e.state == "FAILED" else warn), Text(e.message))
        return t
